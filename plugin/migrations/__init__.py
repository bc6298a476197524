"""Tortoise native migrations (operations, not SQL: they run on SQLite and PostgreSQL)."""
