"""Dramatiq broker, middleware and actors: recording, notifications, sending, purge."""
