"""Process-level plumbing of the service: configuration, database setup, CLI, embedded Redis."""
