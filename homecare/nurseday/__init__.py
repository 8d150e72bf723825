"""A nurse's day: the pure model (``model``) and its one loader from the database (``load``)."""
