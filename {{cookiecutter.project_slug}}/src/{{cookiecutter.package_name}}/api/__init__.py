"""The HTTP API and the approval page (FastAPI)."""
