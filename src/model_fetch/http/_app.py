"""The FastAPI application: a thin layer over :class:`~model_fetch.Downloader` and its jobs.

Routes parse, call the downloader, and render the contract's bodies; no business logic lives
here. Every error is ``{"detail": "..."}`` with the status code of its error class.
"""

from __future__ import annotations

import json
import os
import threading

# FastAPI reads these annotations at run time (the event routes' item and dependency types).
from collections.abc import AsyncIterator  # noqa: TC003
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from model_fetch import __version__
from model_fetch._jobs import DownloadJob  # noqa: TC001
from model_fetch._log import get_logger
from model_fetch._models import (
    DownloadOptions,
    DownloadRequest,
    ErrorDetail,
    Health,
    InstalledModel,
    JobCancelled,
    JobEntry,
    JobStarted,
    ModelListing,
    SourceListing,
)
from model_fetch._paths import NAME_PATTERN, VERSION_PATTERN
from model_fetch.exceptions import (
    InvalidRequest,
    ModelFetchError,
)
from model_fetch.http._console import console_routes
from model_fetch.http._events import all_job_events, job_events
from model_fetch.http._guard import Guard
from model_fetch.http._schemas import (
    CAPS,
    CacheInfoBody,
    CancelBody,
    CompletedBody,
    DownloadBody,
    ErrorBody,
    FailedBody,
    HealthBody,
    ModelInfoBody,
    ModelsBody,
    ProgressBody,
    RemovalBody,
    RemoveBody,
    SourcesBody,
    StartedBody,
)
from model_fetch.http._settings import ServerSettings

if TYPE_CHECKING:
    from model_fetch._downloader import Downloader

__all__ = ["create_app"]

log = get_logger(__name__)

#: The longest a POST may ask to wait for completion, in seconds.
MAX_WAIT: Final = 3600.0
WaitSeconds = Annotated[
    float,
    Query(ge=0, le=MAX_WAIT, description="Seconds to wait for completion before 'started'."),
]

ModelNameParam = Annotated[str, Path(max_length=200, pattern=NAME_PATTERN)]
VersionParam = Annotated[str, Query(min_length=1, max_length=200, pattern=VERSION_PATTERN)]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Bad request: invalid parameters, or a Host or Origin the server does not serve",
        401: "Missing or wrong bearer token (when the server has one)",
        404: "Not found",
        409: "Conflict",
        413: "Model too large for available storage, or a request body over 1 MiB",
        415: "The body must be application/json",
        500: "Internal server error, download or verification failure",
    }
    return {code: {"model": ErrorBody, "description": descriptions[code]} for code in codes}


def _error_response(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content=ErrorDetail(detail=detail).to_dict())


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(item) for item in error.get("loc", ()) if item != "body")
        message = str(error.get("msg", "invalid"))
        parts.append(f"{location}: {message}" if location else message)
    return "Invalid request: " + "; ".join(parts)


def _to_request(body: DownloadBody, settings: ServerSettings) -> DownloadRequest:
    options = body.options.model_dump(exclude_none=True) if body.options else {}
    if options.get("verify_ssl") is False and not settings.allow_insecure_tls:
        raise InvalidRequest(
            "options.verify_ssl=false is refused: this server was not started with "
            "--allow-insecure-tls",
        )
    metadata = body.metadata or {}
    # UTF-8 bytes of compact JSON, as a client sends it (not six escape bytes per character).
    size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())
    if size > CAPS["metadata_bytes"]:
        raise InvalidRequest(f"metadata is larger than {CAPS['metadata_bytes']} bytes")
    if body.download_url is not None:
        settings.url_policy.check(body.download_url)
    return DownloadRequest(
        model_name=body.model_name,
        version=body.version,
        download_url=body.download_url,
        source=body.source,
        checksum=body.checksum,
        force_download=body.force_download,
        if_exists="error",
        options=DownloadOptions.from_mapping(options),
        metadata=metadata,
    )


def _started(job: DownloadJob, progress_endpoint: str) -> JobStarted:
    """The contract's "Download Started" body of a job still running."""
    plan = job.plan
    return JobStarted(
        download_id=job.download_id,
        model_name=job.request.model_name,
        version=plan.version if plan is not None else job.request.version,
        estimated_size_bytes=job.estimated_size_bytes,
        estimated_duration_seconds=job.estimated_duration_seconds,
        download_url=job.download_url,
        progress_endpoint=progress_endpoint,
    )


def create_app(downloader: Downloader, settings: ServerSettings | None = None) -> FastAPI:
    """Build the REST API over a downloader.

    Args:
        downloader: The downloader whose store and jobs the API serves.
        settings: Security settings (token, allowed hosts, URL policy); defaults are safe:
            no token (bind to loopback), only loopback Host headers, public URLs only.

    Returns:
        The FastAPI application. Jobs live in this process's memory: serve it with one worker.
    """
    settings = settings or ServerSettings()
    app = FastAPI(
        title="model_fetch",
        version=__version__,
        description=(
            "Download, verify and install models; list, inspect and remove them. "
            "Implements the model-download contract."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.state.downloader = downloader
    app.state.settings = settings
    # Set when the server shuts down: event streams end instead of holding the shutdown up.
    app.state.closing = closing = threading.Event()
    app.add_middleware(Guard, settings=settings)
    if settings.cors_origins:
        # Outside the guard, so preflight requests (which carry no token) get their answer.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(ModelFetchError, _failed)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(console_routes())
    app.include_router(_download_routes(downloader, settings))
    app.include_router(_event_routes(downloader, closing))
    app.include_router(_model_routes(downloader))
    _refine_openapi(app, settings)
    return app


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    return _error_response(400, _validation_message(exc))


async def _failed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelFetchError)  # noqa: S101 - registered for this type only
    detail = str(exc)
    if exc.status_code >= 500:  # noqa: PLR2004 - server-side failures only
        detail = _without_local_paths(detail, request.app.state.downloader.store.root)
    return _error_response(exc.status_code, detail)


def _without_local_paths(text: str, root: object) -> str:
    """A 500's message with the store's local directory left out (``<store>`` instead)."""
    root = str(root)
    if "://" in root:
        return text  # an object store's URL is no local path
    for path in sorted({os.path.realpath(root), os.path.abspath(root)}, key=len, reverse=True):
        text = text.replace(path, "<store>")
    return text


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("Unexpected error in the REST API", exc_info=exc)
    return _error_response(500, "Internal server error")


def _download_routes(downloader: Downloader, settings: ServerSettings) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/model-download",
        summary="Download and install a model",
        response_model=None,
        responses={
            200: {
                "description": "Download completed (synchronously) or started",
                "model": CompletedBody | StartedBody,
            },
            **_errors(400, 401, 404, 409, 413, 415, 500),
        },
    )
    def model_download(
        body: DownloadBody,
        wait: WaitSeconds = settings.default_wait,
    ) -> JSONResponse:
        request = _to_request(body, settings)
        job = downloader.submit_request(request, url_policy=settings.url_policy)
        job.wait(wait)
        if job.status == "completed":
            return JSONResponse(job.result().to_dict())
        error = job.error
        if job.done and error is not None:
            raise error
        endpoint = router.url_path_for("download_progress", download_id=job.download_id)
        return JSONResponse(_started(job, str(endpoint)).to_dict())

    @router.get(
        "/model-download/{download_id}/progress",
        summary="Progress of a download",
        response_model=None,
        responses={
            200: {
                "description": "In progress, completed, or failed (cancelled: failed + cancelled)",
                "model": ProgressBody | CompletedBody | FailedBody,
            },
            **_errors(400, 401, 404),
        },
    )
    def download_progress(download_id: str) -> JSONResponse:
        job = downloader.jobs.get(download_id)
        if job is None:
            return _error_response(404, f"Download '{download_id}' not found")
        return JSONResponse(job.to_dict())

    @router.delete(
        "/model-download/{download_id}",
        summary="Cancel a running download",
        response_model=CancelBody,
        responses=_errors(400, 401, 404, 409),
    )
    def cancel_download(download_id: str) -> JSONResponse:
        job = downloader.jobs.get(download_id)
        if job is None:
            return _error_response(404, f"Download '{download_id}' not found")
        if not job.cancel():
            return _error_response(409, f"Download '{download_id}' already finished ({job.status})")
        return JSONResponse(JobCancelled(download_id=download_id).to_dict())

    return router


def _known_job(request: Request, download_id: str) -> DownloadJob:
    """The job of a path's ``download_id``; 404 before any event is streamed."""
    job: DownloadJob | None = request.app.state.downloader.jobs.get(download_id)
    if job is None:
        raise HTTPException(404, f"Download '{download_id}' not found")
    return job


def _event_routes(downloader: Downloader, closing: threading.Event) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/model-download/events",
        summary="Every download's progress, live (Server-Sent Events; stays open)",
        description=(
            "`progress` events carry the progress endpoint's body with its `download_id`, when "
            "it changes and at least once a second; each download then ends with one `completed` "
            "or `failed` event (its final body, tagged with `download_id`). Downloads that had "
            "finished before the stream opened are not replayed."
        ),
        response_class=EventSourceResponse,
        responses=_errors(400, 401),
    )
    async def all_download_events() -> AsyncIterator[ServerSentEvent]:
        async for event in all_job_events(downloader.jobs, closing):
            yield event

    @router.get(
        "/model-download/{download_id}/events",
        summary="One download's progress, live (Server-Sent Events)",
        description=(
            "`progress` events carry the progress endpoint's body, when it changes and at least "
            "once a second; the final body follows as one `completed` or `failed` event, and "
            "the stream closes."
        ),
        response_class=EventSourceResponse,
        responses=_errors(400, 401, 404),
    )
    async def download_events(
        job: Annotated[DownloadJob, Depends(_known_job)],
    ) -> AsyncIterator[ServerSentEvent]:
        async for event in job_events(job, closing):
            yield event

    return router


def _model_routes(downloader: Downloader) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/models",
        summary="Installed models, downloads in flight and recent failures",
        response_model=ModelsBody,
        responses=_errors(400, 401),
    )
    def models() -> JSONResponse:
        return JSONResponse(ModelListing(models=tuple(_model_entries(downloader))).to_dict())

    @router.get(
        "/model-info/{model_name:path}",
        summary="One installed model",
        response_model=ModelInfoBody,
        responses=_errors(400, 401, 404),
    )
    def model_info(
        model_name: ModelNameParam,
        version: VersionParam | None = None,
    ) -> JSONResponse:
        return JSONResponse(downloader.info(model_name, version).to_dict())

    @router.delete(
        "/model-remove/{model_name:path}",
        summary="Remove installed versions",
        response_model=RemovalBody,
        responses=_errors(400, 401, 404, 409, 413, 415),
    )
    def model_remove(
        model_name: ModelNameParam,
        version: VersionParam = "all",
        force: Annotated[bool, Query()] = False,
        body: Annotated[RemoveBody | None, Body()] = None,
    ) -> JSONResponse:
        forced = force or (body is not None and body.force)
        return JSONResponse(downloader.remove(model_name, version, force=forced).to_dict())

    @router.get(
        "/cache-info",
        summary="Store size and contents",
        response_model=CacheInfoBody,
        responses=_errors(400, 401),
    )
    def cache_info() -> JSONResponse:
        return JSONResponse(downloader.cache_info().to_dict())

    @router.get(
        "/sources",
        summary="Source names a download may name (built-ins and plugins)",
        response_model=SourcesBody,
        responses=_errors(400, 401),
    )
    def sources() -> JSONResponse:
        listing = SourceListing(sources=tuple(downloader.source_names()), default="default")
        return JSONResponse(listing.to_dict())

    @router.get("/health", summary="Liveness", response_model=HealthBody, responses=_errors(400))
    def health() -> JSONResponse:
        return JSONResponse(Health(version=__version__).to_dict())

    return router


def _model_entries(downloader: Downloader) -> list[InstalledModel | JobEntry]:
    """Installed versions, then downloads in flight (loading) and recent failures (failed)."""
    return [
        entry if isinstance(entry, InstalledModel) else entry.listing_entry()
        for entry in downloader.models_and_jobs()
    ]


def _refine_openapi(app: FastAPI, settings: ServerSettings) -> None:
    """Make /openapi.json say exactly what this server does.

    Validation errors answer 400, so FastAPI's default 422 is removed; and a server without
    ``--allow-insecure-tls`` documents ``verify_ssl`` as always true.
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        if not settings.allow_insecure_tls:
            options = schema.get("components", {}).get("schemas", {}).get("OptionsBody", {})
            verify = options.get("properties", {}).get("verify_ssl")
            if verify is not None:
                verify["const"] = True
                verify["description"] = "Always true: this server refuses unverified TLS."
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.get("responses", {})
                responses.pop("422", None)
        _document_events(schema)
        schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
        schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_events(schema: dict[str, Any]) -> None:
    """Say what the event streams' ``data`` holds: the progress endpoint's bodies, as JSON."""
    bodies = {"oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in _EVENT_BODIES]}
    for path in ("/model-download/events", "/model-download/{download_id}/events"):
        responses = schema["paths"][path]["get"]["responses"]
        for code, response in responses.items():
            if code != "200":  # errors are JSON, answered before any event
                response["content"] = {"application/json": response["content"].popitem()[1]}
        content = responses["200"]["content"]
        item = content["text/event-stream"]["itemSchema"]
        item["properties"]["event"]["enum"] = ["progress", "completed", "failed"]
        item["properties"]["data"] = {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": bodies,
        }


_EVENT_BODIES: Final = ("ProgressBody", "CompletedBody", "FailedBody")
