"""The REST API (extra ``http``): ``create_app(downloader)`` returns a FastAPI application.

Serve it with ``model-fetch serve`` (uvicorn, one worker process: jobs live in the server's
memory) or mount it in your own ASGI application.
"""

from model_fetch.http._app import create_app
from model_fetch.http._serve import serve
from model_fetch.http._settings import ServerSettings, is_loopback_host

__all__ = ["ServerSettings", "create_app", "is_loopback_host", "serve"]
