"""Wiring the service together: Temporal client, plugin, codec, workers, health, lifecycle.

Also the client-side operations on runs (start, status, approvals) that the
CLI, the HTTP API and the dev tools share.
"""
