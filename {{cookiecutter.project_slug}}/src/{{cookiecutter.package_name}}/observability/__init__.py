"""Logs, traces, metrics, secret redaction and the health probe client."""
