"""Yours: the agent's tools (``tools/``), its system prompt and its policies.

This is where a service built from the template is extended. Everything else
in the package is the machinery that runs these durably on Temporal.
"""
