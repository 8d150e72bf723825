"""The supervisors' duty roster: who of an organization's supervisors is paged, when."""
