"""Observability: Prometheus metrics (``metrics``), their exposition and logs."""
