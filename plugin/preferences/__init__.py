"""Per-user tracking preferences and compose defaults."""
