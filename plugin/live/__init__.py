"""Live fan-out: tracking events and notifications published after commit, per user."""
