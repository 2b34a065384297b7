"""The database edge: the transaction, the audit append, the repositories."""
