"""The domain layer: every business rule lives here, shared by the API and the workers.

Nothing in this package imports GraphQL. Functions take an `Actor` (who is calling, in which
domain) and plain values, and raise `BusinessError` for expected failures.
"""
