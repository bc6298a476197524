"""mailbeacon: email open and click tracking for a CRM."""

__version__ = "0.1.0"
