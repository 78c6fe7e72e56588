"""The HTTP API and the web page, over the very pipeline `predict` uses.

    GET  /            the web page (static files shipped in the package, no CDN, no build step)
    GET  /healthz     {"status": "ok", "model": ..., "auth": bool}
    GET  /v1/models   the loaded model and the models this hashtagger knows
    POST /v1/predict  multipart field `file` (repeatable); query top_k, threshold, prior_weight,
                      only (content|reach), group; answers exactly the CLI's `--format json` array

The model is loaded once; one lock around it queues concurrent requests (each request's photos are
scored as batches). Uploads stream into a private temporary folder, limited as they arrive (bytes,
files, a deadline for the whole body), and are removed after scoring. Before the lock is taken, the
photos' sizes are read from their headers: a request over the pixel budget is refused (413), so that
one request of huge images cannot hold the model for a minute.
"""

from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from hashtagger.models.base import Tagger
from hashtagger.predict.kinds import KINDS
from hashtagger.predict.output import grouped, prediction_record
from hashtagger.predict.predictions import Prediction
from hashtagger.serve.uploads import (
    NoFile,
    SlowUpload,
    TooLarge,
    UploadFolder,
    receive_uploads,
    request_pixels,
)

_log = logging.getLogger("hashtagger.serve")

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class ServeSettings:
    """Limits and access of one server."""

    api_key: str | None = None
    max_upload_bytes: int = 20_000_000
    max_files: int = 64
    batch_size: int = 32
    workers: int = 2
    max_megapixels: float = 256.0  # width x height summed over a request's photos, from their headers
    upload_timeout: float = 120.0  # seconds for the whole request body to arrive


@dataclass(frozen=True)
class Ask:
    """One request's query: the CLI's -k, -t, --prior-weight, --only and --group."""

    top_k: int = 10
    threshold: float | None = None
    prior_weight: float | None = None
    only: str | None = None
    group: bool = False


class ModelService:
    """The loaded model behind a lock: requests are queued, never raced."""

    def __init__(self, tagger: Tagger, settings: ServeSettings) -> None:
        self.tagger = tagger
        self.settings = settings
        self.lock = threading.Lock()

    def predict(self, folder: UploadFolder, ask: Ask) -> list[dict[str, object]]:
        """Score one request's uploads; records keyed by display label, temp paths never shown."""
        from hashtagger.predict.hashtags import predict_paths

        paths = [str(u.path) for u in folder.files]
        with self.lock:
            saved = self.tagger.prior_weight
            if ask.prior_weight is not None:
                self.tagger.set_prior_weight(ask.prior_weight)
            try:
                predictions = list(
                    predict_paths(
                        self.tagger,
                        paths,
                        top_k=ask.top_k,
                        threshold=ask.threshold,
                        batch_size=self.settings.batch_size,
                        workers=self.settings.workers,
                        only=ask.only,
                    )
                )
            finally:
                if ask.prior_weight is not None and saved is not None:
                    self.tagger.set_prior_weight(saved)
        records = []
        for upload, p in zip(folder.files, predictions, strict=True):
            error = None if p.error is None else p.error.replace(str(upload.path), upload.label)
            answer = Prediction(upload.label, p.hashtags, error)
            records.append(prediction_record(grouped(answer) if ask.group else answer))
        return records

    def supports_prior_weight(self) -> bool:
        return self.tagger.prior_weight is not None


def models_listing(tagger: Tagger) -> dict[str, Any]:
    """GET /v1/models: the loaded model and the registry (`hashtagger models --format json`'s entries)."""
    from hashtagger.models import list_models

    return {"loaded": tagger.describe(), "models": [entry.to_dict() for entry in list_models()]}


def static_file(name: str) -> bytes:
    return resources.files("hashtagger.serve").joinpath("static", name).read_bytes()


def _error(status: int, detail: str, **headers: str) -> JSONResponse:
    """An error answer: {"detail": ...} with the status (and headers, such as WWW-Authenticate)."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


def _authorised(request: Request, api_key: str | None) -> bool:
    """Whether the request carries 'Authorization: Bearer KEY' (always, when no key is set)."""
    if api_key is None:
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), api_key)


def _add_static_pages(app: FastAPI) -> None:
    """The web page's files, served from the package as they are (no build step)."""
    for route, (name, media) in STATIC.items():

        def page(name: str = name, media: str = media) -> Response:
            return Response(static_file(name), media_type=media, headers={"Cache-Control": "no-cache"})

        app.add_api_route(route, page, methods=["GET"], include_in_schema=False)


def create_app(tagger: Tagger, settings: ServeSettings | None = None) -> FastAPI:
    """The FastAPI application over one loaded, prepared tagger."""
    settings = settings or ServeSettings()
    service = ModelService(tagger, settings)
    app = FastAPI(title="hashtagger", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/v1/") and not _authorised(request, settings.api_key):
            return _error(
                401, "missing or wrong API key (Authorization: Bearer KEY)", **{"WWW-Authenticate": "Bearer"}
            )
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    _add_static_pages(app)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "model": Path(tagger.name).name, "auth": settings.api_key is not None}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return models_listing(tagger)

    @app.post("/v1/predict")
    async def predict(
        request: Request,
        top_k: int = Query(10, ge=1, le=1000),
        threshold: float | None = Query(None, allow_inf_nan=False),
        prior_weight: float | None = Query(None, ge=0.0, le=1.0, allow_inf_nan=False),
        only: str | None = Query(None, pattern="^(" + "|".join(KINDS) + ")$"),
        group: bool = Query(False),
    ) -> Any:
        if prior_weight is not None and not service.supports_prior_weight():
            return _error(422, "prior_weight applies to zero-shot models only")
        folder = await _receive(request, settings)
        if isinstance(folder, Response):
            return folder
        try:
            ask = Ask(top_k, threshold, prior_weight, only, group)
            return await run_in_threadpool(service.predict, folder, ask)
        finally:
            folder.close()

    return app


async def _receive(request: Request, settings: ServeSettings) -> UploadFolder | Response:
    """The request's photos in a private folder, or the error answer (413, 408, 422) for the client."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_upload_bytes:
        return _error(413, f"upload over the limit of {settings.max_upload_bytes / 1e6:g} MB")
    from python_multipart.exceptions import MultipartParseError

    try:
        folder = await receive_uploads(
            request.headers.get("content-type", ""),
            request.stream(),
            settings.max_upload_bytes,
            settings.max_files,
            settings.upload_timeout,
        )
    except TooLarge as e:
        return _error(413, str(e))
    except SlowUpload as e:
        return _error(408, str(e), Connection="close")
    except NoFile as e:
        return _error(422, str(e))
    except MultipartParseError as e:
        return _error(422, f"malformed multipart body ({e})")
    except ClientDisconnect:
        _log.info("a client went away during its upload")
        return Response(status_code=400)
    try:
        megapixels = await run_in_threadpool(request_pixels, folder) / 1e6
    except BaseException:
        folder.close()
        raise
    if megapixels > settings.max_megapixels:
        folder.close()
        return _error(
            413,
            f"the photos of this request hold {megapixels:,.0f} megapixels, over the limit of "
            f"{settings.max_megapixels:g} per request; send fewer or smaller photos at a time",
        )
    return folder
