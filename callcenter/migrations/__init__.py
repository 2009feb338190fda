"""Alembic migrations of the whole schema (every package's models share one metadata)."""
