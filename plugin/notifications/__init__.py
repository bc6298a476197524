"""The notification bell."""
