"""The node's web pages for analysts and security officers: server-rendered (Jinja2), with
htmx vendored under ``static/`` (no CDN, no build step); they work without JavaScript
wherever a plain form or link can do the job.

``create_app`` includes ``web_router(node)``; the pages live under ``/web/``.
"""

from gsoia.web.router import web_router

__all__ = ["web_router"]
