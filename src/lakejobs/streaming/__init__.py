"""streaming stage (see its issue)."""
