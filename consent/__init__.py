"""Consent: recipients' jurisdictions, tracking policies, consent records and pages, erasure."""
