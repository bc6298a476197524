"""The tracking hot path, tokens, instrumentation and people-versus-machines classification."""
