"""HTTP: the REST API of docs/interfaces.md (FastAPI), errors as RFC 9457 problem+json."""

from gsoia.api.app import create_app

__all__ = ["create_app"]
