"""Background jobs on arq: export of the response history, reset cleanup, and the reconciler."""
