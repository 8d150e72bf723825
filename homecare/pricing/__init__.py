"""Published fees: the travel fee table, quotes and the cancellation policy."""
