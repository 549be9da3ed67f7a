"""scd stage (see its issue)."""
