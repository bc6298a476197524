"""The recording pipeline the worker runs: load context, classify, store, finalise, tell."""
