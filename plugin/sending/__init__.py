"""Sending tracked mail: drafts, instrumentation per copy, SMTP delivery."""
