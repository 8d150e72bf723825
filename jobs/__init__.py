"""The scheduler process (``homecare jobs``): the job table, one module per job."""
