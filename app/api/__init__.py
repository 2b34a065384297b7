"""The HTTP API (FastAPI): ``/health`` and ``/api/v1``."""
