"""The review queue over HTTP: a JSON API (Bearer tokens) and server-rendered pages (cookie).

``create_app`` builds the FastAPI application; ``services.review.service`` serves it.
"""

from __future__ import annotations

from services.review.web.app import create_app

__all__ = ["create_app"]
