"""identity stage (see its issue)."""
