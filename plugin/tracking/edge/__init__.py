"""The public tracking endpoints and what they need: tokens, signing, the hand-off to the queue."""
