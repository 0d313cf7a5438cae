"""The FastAPI app: predictions, explanations, labels, health, metrics, docs and the web page.

Endpoints
---------
``POST /v1/predict``  ``{"texts": [...]}`` -> per text: labels above the per-label thresholds
                      (a single-label model: the most probable one), the probabilities of
                      the model's own labels and, for a schema with an ``ekman`` grouping
                      (GoEmotions), the Ekman group and its probabilities.
                      Optional fields: ``long_text`` (truncate, sentences, windows),
                      ``aggregate`` (max, mean), ``window`` (words); ``top_k`` and ``view``
                      (``labels`` or one of the schema's groupings; GoEmotions: ekman,
                      sentiment): with either, the answer also holds ``top`` (and, with a
                      ``sentiment`` grouping, ``sentiment`` and ``sentiment_probabilities``),
                      and ``labels`` and ``probabilities`` are in the view. A request without
                      them gets the answer of earlier versions, to the byte.
``POST /v1/explain``  ``{"text": ..., "top_k": 5}`` -> tokens with their weights (attention for
                      the reference network, leave-one-token-out drops otherwise), top labels.
``GET /v1/labels``    the model's label schema (labels, groupings, single_label, the views),
                      the thresholds and the limits.
``GET /healthz``      liveness (the model is loaded before the app exists).
``GET /metrics``      Prometheus text format: requests by method/path/status, latency histogram.
``GET /docs``         Swagger UI, ``GET /redoc`` ReDoc: assets served locally (fastapi-offline).
``GET /``             the web page (``static/``), with a same-origin Content-Security-Policy.

Every error is JSON ``{"error": <status name>, "detail": <message>}``: 400 for a body that is not
UTF-8 JSON (or a request the HTTP parser refuses, when served through
:func:`~emobalance.serve.protocol.http_protocol`), 408 for a body that stalls, 413 over the
body, text-count or text-length limits, 422 for wrong types or an empty list, 404/405 as
usual. The default body limit follows from the text limits (:func:`body_limit`): any request
within ``max_texts`` and ``max_chars`` fits, even with every character ``\\u``-escaped. Every
answer carries ``X-Content-Type-Options: nosniff``; the page and the docs a
Content-Security-Policy. The layers around the app are in :mod:`.middleware`. The model (any
kind :func:`~emobalance.models.registry.load_model` knows) loads once, in :func:`create_app`;
inference runs in FastAPI's thread pool (sync endpoints) under a lock, so the event loop stays
free and torch's intra-op threads are not oversubscribed by concurrent requests.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from pydantic import (
    BaseModel,
    Field,
    StrictInt,
    StrictStr,
    ValidationInfo,
    create_model,
    field_validator,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..data.readers import lone_surrogate
from ..errors import ConfigError, EmobalanceError, ModelError
from ..labels import GOEMOTIONS, LabelSchema, schema_of
from ..log import get_logger
from ..metrics import predict_labels
from ..models.base import EmotionModel
from ..models.long_text import MAX_WINDOW_WORDS
from ..models.registry import load_model
from ..models.views import view_scores
from .middleware import LATENCY_BUCKETS, BodyGuard, Head, Headers, Metrics, error_response

log = get_logger(__name__)

DEFAULT_MAX_TEXTS = 64
DEFAULT_MAX_CHARS = 5_000
# The most JSON bytes one character can take: an astral character (an emoji) that json.dumps
# writes as two \\u escapes of a surrogate pair, "\\ud83d\\ude00" (raw UTF-8 is at most 4).
JSON_BYTES_PER_CHAR = 12
# Per text: its two quotes, the comma and room for a pretty-printer's newline and indent.
JSON_BYTES_PER_TEXT = 64
# The object around the list ({"texts": [...]} and its option fields, or "text" + "top_k"),
# whitespace included.
JSON_BYTES_FIXED = 4096
DEFAULT_BODY_IDLE_TIMEOUT_S = 60.0  # nginx's client_body_timeout


def body_limit(max_texts: int, max_chars: int) -> int:
    """The body size that any request within the text limits fits, even fully escaped.

    ``max_texts * (12 * max_chars + 64) + 4096``: 3,848,192 bytes for 64 texts of 5,000
    characters.
    """
    return max_texts * (JSON_BYTES_PER_CHAR * max_chars + JSON_BYTES_PER_TEXT) + JSON_BYTES_FIXED


DEFAULT_MAX_BODY_BYTES = body_limit(DEFAULT_MAX_TEXTS, DEFAULT_MAX_CHARS)

STATIC_DIR = Path(__file__).parent / "static"
_DOCS_ASSETS = "/docs-assets"
_PATHS = frozenset(
    {"/", "/healthz", "/metrics", "/v1/predict", "/v1/explain", "/v1/labels", "/docs",
     "/redoc", "/openapi.json"}
)  # fmt: skip
_PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# /docs and /redoc: their inline <script>/<style> are allowed by hash (computed per answer,
# the HTML holds the root path); ReDoc's styled-components insert <style> elements at run time,
# which no hash can name, so /redoc needs 'unsafe-inline' for styles (not for scripts), and
# its search runs in a Worker made from a blob: URL.
_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "script-src 'self' {script}; style-src 'self' {style}; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# FastAPI's detail when json.loads fails with RecursionError or ValueError (an integer of over
# 4,300 digits): a 400 that deserves a message saying what is wrong.
_FASTAPI_PARSE_ERROR = "There was an error parsing the body"
_INLINE = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL) for tag in ("script", "style")}


# --------------------------------------------------------------------------- schemas
def _no_lone_surrogates(text: str, field: str) -> str:
    # JSON may carry "\ud800" escapes that decode to unpaired surrogates: they are not
    # Unicode text and cannot be encoded in the UTF-8 answer, so refuse them up front (422).
    i = lone_surrogate(text)  # the readers' check, at C speed on every request's texts
    if i is not None:
        raise ValueError(f"{field}: unpaired surrogate U+{ord(text[i]):04X} at character {i}")
    return text


class PredictRequest(BaseModel):
    """Texts to classify (at most ``max_texts``, each at most ``max_chars`` characters)."""

    texts: list[StrictStr] = Field(
        ..., min_length=1, examples=[["thank you so much!", "this is awful"]]
    )
    long_text: Literal["truncate", "sentences", "windows"] | None = Field(
        None,
        description="truncate (default: the model reads what fits), or score each sentence / "
        "window of words of a long text and aggregate them.",
    )
    aggregate: Literal["max", "mean"] | None = Field(
        None, description="With sentences / windows: max (default) or mean of the pieces."
    )
    window: StrictInt | None = Field(
        None, ge=2, le=MAX_WINDOW_WORDS, description="With windows: words per window."
    )
    # create_app narrows top_k and view to the served model's schema (_request_models)
    top_k: StrictInt | None = Field(
        None, ge=1, description="How many of the view's labels `top` lists."
    )
    view: StrictStr | None = Field(
        None,
        description="labels (the model's own) or one of its schema's groupings (GoEmotions: "
        "ekman, 6 groups + neutral; sentiment, 4 groups): `labels`, `probabilities` and `top` "
        "are given in it.",
    )

    @field_validator("texts")
    @classmethod
    def _valid_unicode(cls, texts: list[str]) -> list[str]:
        for k, t in enumerate(texts):
            _no_lone_surrogates(t, f"texts[{k}]")
        return texts

    # (long_text is declared before them, so info.data holds it)
    @field_validator("aggregate")
    @classmethod
    def _aggregate_needs_pieces(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("long_text") in (None, "truncate"):
            raise ValueError("needs long_text sentences or windows")
        return value

    @field_validator("window")
    @classmethod
    def _window_needs_windows(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("long_text") != "windows":
            raise ValueError("needs long_text windows")
        return value

    def scoring_options(self) -> dict[str, Any]:
        """The long-text options given, for ``predict_proba``."""
        given = {"long_text": self.long_text, "aggregate": self.aggregate, "window": self.window}
        return {k: v for k, v in given.items() if v is not None}


class LabelProbability(BaseModel):
    """A label and its probability."""

    label: str
    probability: float


class Prediction(BaseModel):
    """The prediction for one text."""

    labels: list[str] = Field(
        description="Labels whose probability reaches its threshold (a group: one of its "
        "labels does)."
    )
    probabilities: dict[str, float] = Field(
        description="All the model's labels in its order, or the view's groups (max of members)."
    )
    ekman: str | None = Field(
        None,
        description="With an ekman grouping (GoEmotions): the Ekman group with the highest "
        "probability (max of members).",
    )
    ekman_probabilities: dict[str, float] | None = None
    top: list[LabelProbability] | None = Field(
        None, description="With top_k or view: the most probable of the view, first first."
    )
    sentiment: str | None = Field(
        None,
        description="With top_k or view and a sentiment grouping: the sentiment group with "
        "the highest probability.",
    )
    sentiment_probabilities: dict[str, float] | None = None


class PredictResponse(BaseModel):
    """One prediction per input text, in input order."""

    predictions: list[Prediction]


class ExplainRequest(BaseModel):
    """One text to explain."""

    text: StrictStr = Field(..., examples=["I can't believe you did this for me, thank you"])
    # strict: true, "5" or 5.0 are wrong types (422), not silently coerced to an int
    top_k: StrictInt = Field(5, ge=1, description="How many top labels to return.")

    @field_validator("text")
    @classmethod
    def _valid_unicode(cls, text: str) -> str:
        return _no_lone_surrogates(text, "text")


class ExplainResponse(BaseModel):
    """Tokens with their weights (sum 1, or all zeros when no token matters)."""

    tokens: list[str]
    attention: list[float] = Field(
        description="Per token: attention weight (reference network, ONNX) or normalised "
        "probability drop when the token is left out (other models)."
    )
    method: str = Field(description="attention or leave_one_token_out.")
    labels: list[str]
    top: list[LabelProbability]
    probabilities: dict[str, float]
    ekman: str | None = None


class ErrorResponse(BaseModel):
    """The body of every error answer."""

    error: str = Field(examples=["payload_too_large"])
    detail: str = Field(examples=["65 texts; the limit is 64 per request"])


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Body is not UTF-8 JSON"},
    413: {"model": ErrorResponse, "description": "Body, text count or text length over limit"},
    422: {"model": ErrorResponse, "description": "Wrong types or empty list"},
}


# ------------------------------------------------------------------------ helpers
def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    """A short message from pydantic's errors, without echoing the (possibly huge) input."""
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        e = next(e for e in errors if e.get("type") == "json_invalid")
        reason = (e.get("ctx") or {}).get("error", "invalid JSON")
        pos = e["loc"][-1] if e.get("loc") else "?"
        return 400, f"request body is not valid JSON: {reason} at position {pos}"
    parts = []
    for e in errors[:5]:
        if tuple(e.get("loc", ())) == ("body",):
            parts.append("request body must be a JSON object (content-type: application/json)")
            continue
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return 422, "; ".join(parts) + more


def _round(values: np.ndarray) -> list[float]:
    # 6 decimals keep the JSON short without hiding any difference a client could act on
    return np.round(values.astype(np.float64), 6).tolist()


def _path_label(path: str) -> str:
    """A bounded set of path labels for the metrics (no per-URL cardinality blow-up)."""
    if path in _PATHS:
        return path
    if path.startswith("/static/"):
        return "/static"
    if path.startswith(_DOCS_ASSETS + "/"):
        return _DOCS_ASSETS
    return "other"


def _check_positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _docs_assets_dir() -> Path | None:
    try:
        return Path(str(resources.files("fastapi_offline") / "static"))
    except ModuleNotFoundError:
        return None


class _DocsPage(NamedTuple):
    """A documentation page that fastapi renders, linking the assets served locally."""

    path: str
    render: Callable[..., HTMLResponse]
    title: str
    assets: dict[str, str]  # the renderer's argument -> file under _DOCS_ASSETS
    options: dict[str, Any]
    runtime_styles: bool = False  # the script inserts <style> elements: 'unsafe-inline'


# route name -> page
_DOCS_PAGES = {
    "swagger": _DocsPage(
        "/docs",
        get_swagger_ui_html,
        "Swagger UI",
        {
            "swagger_js_url": "swagger-ui-bundle.js",
            "swagger_css_url": "swagger-ui.css",
            "swagger_favicon_url": "favicon.png",
        },
        # the default validator badge is an image from validator.swagger.io
        {"oauth2_redirect_url": None, "swagger_ui_parameters": {"validatorUrl": None}},
    ),
    "redoc": _DocsPage(
        "/redoc",
        get_redoc_html,
        "ReDoc",
        {"redoc_js_url": "redoc.standalone.js", "redoc_favicon_url": "favicon.png"},
        {"with_google_fonts": False},
        runtime_styles=True,
    ),
}


def _hash_sources(html: str, tag: str) -> str:
    """CSP ``'sha256-...'`` sources of the inline ``<tag>`` blocks (no attributes) of ``html``."""
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE[tag].findall(html)
    )


def _docs_csp(html: str, runtime_styles: bool) -> str:
    # a hash next to 'unsafe-inline' would make browsers ignore 'unsafe-inline'
    style = "'unsafe-inline'" if runtime_styles else _hash_sources(html, "style")
    return _DOCS_CSP.format(script=_hash_sources(html, "script"), style=style)


def _docs_route(app: FastAPI, page: _DocsPage) -> Callable[[Request], HTMLResponse]:
    """The endpoint of ``page``; its links start with the request's root path (behind a proxy)."""

    def route(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        assets = {arg: f"{root}{_DOCS_ASSETS}/{name}" for arg, name in page.assets.items()}
        response = page.render(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"emobalance - {page.title}",
            **assets,
            **page.options,
        )
        html = bytes(response.body).decode()
        response.headers["content-security-policy"] = _docs_csp(html, page.runtime_styles)
        return response

    return route


# ------------------------------------------------------------------ label schema
def views_of(schema: LabelSchema) -> tuple[str, ...]:
    """The views a model of ``schema`` answers in: ``labels`` and each of its groupings."""
    return tuple(dict.fromkeys(("labels", *schema.groupings)))


def _request_models(schema: LabelSchema) -> tuple[type[PredictRequest], type[ExplainRequest]]:
    """The request bodies for a model of ``schema``: ``top_k`` at most its label count and
    ``view`` one of :func:`views_of` (anything else is a 422 that lists them)."""

    def narrowed(field: str, annotation: Any, **bounds: Any) -> tuple[Any, Any]:
        info = base_fields[field]
        return annotation, Field(info.default, description=info.description, **bounds)

    base_fields = PredictRequest.model_fields
    predict = create_model(
        "PredictRequest",
        __base__=PredictRequest,
        __doc__=PredictRequest.__doc__,
        top_k=narrowed("top_k", StrictInt | None, ge=1, le=len(schema)),
        view=narrowed("view", Literal[views_of(schema)] | None),  # type: ignore[valid-type]
    )
    base_fields = ExplainRequest.model_fields
    explain = create_model(
        "ExplainRequest",
        __base__=ExplainRequest,
        __doc__=ExplainRequest.__doc__,
        top_k=narrowed("top_k", StrictInt, ge=1, le=len(schema)),
    )
    return predict, explain


def _best_group(
    schema: LabelSchema, grouping: str, groups: np.ndarray | None, i: int
) -> dict[str, Any]:
    """``{grouping: best group, grouping_probabilities: {...}}`` of row ``i``, or nothing for
    a schema without that grouping (the field is then left out of the answer)."""
    if groups is None:
        return {}
    names = schema.group_names(grouping)
    return {
        grouping: names[int(np.argmax(groups[i]))],
        f"{grouping}_probabilities": dict(zip(names, _round(groups[i]), strict=True)),
    }


def _collapsed(schema: LabelSchema, proba: np.ndarray, grouping: str) -> np.ndarray | None:
    """The group probabilities (max of members) of ``grouping``, None if the schema lacks it."""
    if grouping not in schema.groupings:
        return None
    return schema.collapse_probabilities(proba, grouping)


# ---------------------------------------------------------------------------- app
def create_app(
    model_or_dir: EmotionModel | str | os.PathLike[str],
    *,
    max_texts: int = DEFAULT_MAX_TEXTS,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_body_bytes: int | None = None,
    body_idle_timeout_s: float = DEFAULT_BODY_IDLE_TIMEOUT_S,
    model_name: str | None = None,
) -> FastAPI:
    """Build the serving app around one model, loaded (and warmed up) here, once.

    Parameters
    ----------
    model_or_dir : EmotionModel or path
        A fitted model, or a saved one of any kind: a reference or distilled model folder,
        a transformer folder, a TF-IDF folder, or a ``.onnx`` file of ``emobalance export``.
    max_texts : int
        Most texts in one ``/v1/predict`` request; more get 413.
    max_chars : int
        Most characters in one text (predict and explain); longer gets 413.
    max_body_bytes : int, optional
        Most bytes in one request body; more get 413 before any parsing. Default:
        :func:`body_limit` of ``max_texts`` and ``max_chars``, so that every request within
        them fits even with each character written as ``\\u`` escapes (a smaller value is
        allowed, with a warning).
    body_idle_timeout_s : float
        A request body that sends no bytes for this long gets 408 and the connection closes.
    model_name : str, optional
        The name ``/healthz`` reports (default: the folder's name, or ``in-memory``).

    Returns
    -------
    FastAPI
        The app; ``app.state.classifier`` holds the model, ``app.state.schema`` its label
        schema (``schema_of(model)``: its ``labels_``, GoEmotions' for a model without one),
        which names the labels of every answer and the views (``labels`` and its groupings).

    Raises
    ------
    ModelError
        The model is missing, of no known kind, or its files are invalid; or the object
        lacks ``predict_proba``, ``explain`` or ``thresholds_``, or has thresholds for another
        number of labels than its schema.
    ConfigError
        A limit is not a positive integer, or the timeout not a positive number.
    """
    for name, value in (("max_texts", max_texts), ("max_chars", max_chars)):
        _check_positive_int(name, value)
    fits = body_limit(max_texts, max_chars)
    if max_body_bytes is None:
        max_body_bytes = fits
    _check_positive_int("max_body_bytes", max_body_bytes)
    if (
        not isinstance(body_idle_timeout_s, int | float)
        or isinstance(body_idle_timeout_s, bool)
        or not 0 < body_idle_timeout_s < float("inf")
    ):
        raise ConfigError(
            f"body_idle_timeout_s must be a positive number, got {body_idle_timeout_s!r}"
        )
    if max_body_bytes < fits:
        log.warning(
            "max_body_bytes %s is under %s: requests within max_texts and max_chars "
            "may get 413 when their JSON escapes characters",
            f"{max_body_bytes:,}",
            f"{fits:,}",
        )
    if isinstance(model_or_dir, str | os.PathLike):
        clf, model_name = load_model(model_or_dir), Path(model_or_dir).name
    else:
        clf, model_name = model_or_dir, model_name or "in-memory"
    for attr in ("predict_proba", "explain", "thresholds_"):
        if not hasattr(clf, attr):
            raise ModelError(f"{type(clf).__name__} cannot be served: it has no {attr}")
    thresholds = np.asarray(clf.thresholds_, dtype=np.float32)
    schema = schema_of(clf)
    names = schema.names
    if thresholds.shape != (len(schema),):
        raise ModelError(
            f"{type(clf).__name__} cannot be served: {thresholds.size} thresholds for "
            f"{schema.describe()}"
        )
    predict_body, explain_body = _request_models(schema)
    lock = threading.Lock()
    with lock:  # the first call initialises torch kernels: pay it now, not on a request
        clf.predict_proba(["warm up"])
        clf.explain("warm up")

    app = FastAPI(
        title="emobalance",
        version=__version__,
        description="Multi-label emotion classification (28 GoEmotions labels, Ekman groups)."
        if schema.same_labels(GOEMOTIONS)
        else f"Emotion classification ({len(schema)} labels of {schema.name}).",
        docs_url=None,  # replaced below by pages whose assets are served from here, not a CDN
        redoc_url=None,
    )
    app.state.classifier = clf
    app.state.schema = schema  # the labels the answers speak
    app.state.limits = {
        "max_texts": max_texts, "max_chars": max_chars, "max_body_bytes": max_body_bytes
    }  # fmt: skip
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # process_resident_memory_bytes & co. on Linux
    texts_total = Counter(
        "emobalance_texts", "Texts classified, by endpoint.", ["endpoint"], registry=registry
    )
    inference = Histogram(
        "emobalance_inference_duration_seconds",
        "Model time per request (lock held), by endpoint.",
        ["endpoint"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    # added last = outermost: Metrics sees every answer (413s, 408s), Headers marks them all
    app.add_middleware(BodyGuard, max_bytes=max_body_bytes, idle_timeout_s=body_idle_timeout_s)
    app.add_middleware(Head)
    app.add_middleware(Headers)
    app.add_middleware(Metrics, registry=registry, path_label=_path_label)

    # --------------------------------------------------------------- errors
    @app.exception_handler(RequestValidationError)
    async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, detail = _validation_message(exc)
        return error_response(status, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        detail = str(exc.detail)
        if detail == _FASTAPI_PARSE_ERROR:  # json.loads raised other than JSONDecodeError
            detail = "request body is not valid JSON: nested too deeply or a number too long"
        return error_response(exc.status_code, detail, headers=exc.headers)

    @app.exception_handler(EmobalanceError)
    async def _on_emobalance(request: Request, exc: EmobalanceError) -> JSONResponse:
        return error_response(422, " ".join(str(exc).split()))

    @app.exception_handler(Exception)
    async def _on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal server error")

    def check_text(text: str, where: str) -> None:
        if len(text) > max_chars:
            raise StarletteHTTPException(
                413, f"{where} has {len(text):,} characters; the limit is {max_chars:,}"
            )

    # ------------------------------------------------------------ endpoints
    def predict(req: PredictRequest) -> PredictResponse:
        """Labels above the per-label thresholds, all the model's probabilities and, for
        GoEmotions, the Ekman group (and, with ``top_k`` or ``view``, the top labels and the
        sentiment group)."""
        texts = req.texts
        if len(texts) > max_texts:
            raise StarletteHTTPException(
                413, f"{len(texts):,} texts; the limit is {max_texts:,} per request"
            )
        for i, text in enumerate(texts):
            check_text(text, f"texts[{i}]")
        options = req.scoring_options()
        t0 = time.perf_counter()
        with lock:
            proba = clf.predict_proba(texts, **options) if options else clf.predict_proba(texts)
        inference.labels("predict").observe(time.perf_counter() - t0)
        texts_total.labels("predict").inc(len(texts))
        ekman = _collapsed(schema, proba, "ekman")
        if req.top_k is not None or req.view is not None:
            return _in_view(proba, ekman, req.top_k, req.view or "labels")
        above = predict_labels(proba, thresholds, schema.single_label)
        return PredictResponse(
            predictions=[
                Prediction(
                    labels=[names[j] for j in np.flatnonzero(above[i])],
                    probabilities=dict(zip(names, _round(proba[i]), strict=True)),
                    **_best_group(schema, "ekman", ekman, i),
                )
                for i in range(len(texts))
            ]
        )

    def _in_view(
        proba: np.ndarray, ekman: np.ndarray | None, top_k: int | None, view: str
    ) -> PredictResponse:
        """The answer to a request with ``top_k`` or ``view``: labels, probabilities and top
        in the view, plus the ekman and sentiment groupings the schema has."""
        view_names, scores, view_on = view_scores(proba, thresholds, view, schema)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
        sentiment = _collapsed(schema, proba, "sentiment")
        out = []
        for i in range(len(proba)):
            top = zip([view_names[j] for j in order[i]], _round(scores[i, order[i]]), strict=True)
            best = _best_group(schema, "ekman", ekman, i)
            best.update(_best_group(schema, "sentiment", sentiment, i))
            out.append(
                Prediction(
                    labels=[view_names[j] for j in np.flatnonzero(view_on[i])],
                    probabilities=dict(zip(view_names, _round(scores[i]), strict=True)),
                    top=[LabelProbability(label=n, probability=p) for n, p in top],
                    **best,
                )
            )
        return PredictResponse(predictions=out)

    def explain(req: ExplainRequest) -> ExplainResponse:
        """Tokens with their weights, the predicted and top labels (and, for GoEmotions, the
        Ekman group)."""
        check_text(req.text, "text")
        t0 = time.perf_counter()
        with lock:
            ex = clf.explain(req.text, top_k=req.top_k)
        inference.labels("explain").observe(time.perf_counter() - t0)
        texts_total.labels("explain").inc()
        return ExplainResponse(
            tokens=ex["tokens"],
            attention=ex["attention"],
            method=ex.get("method", "attention"),
            labels=ex["labels"],
            top=ex["top"],
            probabilities=ex["probabilities"],
            ekman=ex.get("ekman"),
        )

    # the bodies narrowed to the schema (the annotations are strings FastAPI would resolve
    # in this module's globals, where the per-app classes are not)
    for path, endpoint, body in (
        ("/v1/predict", predict, predict_body),
        ("/v1/explain", explain, explain_body),
    ):
        endpoint.__annotations__["req"] = body
        app.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            responses=_ERRORS,
            tags=["model"],
            response_model_exclude_none=True,
        )

    @app.get("/v1/labels", tags=["model"])
    def labels() -> dict[str, Any]:
        """The model's labels in id order (with GoEmotions' Ekman grouping), the per-label
        thresholds, the limits, and the schema: name, groupings, single_label, views."""
        out: dict[str, Any] = {"labels": list(names)}
        if "ekman" in schema.groupings:
            out["ekman"] = {g: list(m) for g, m in schema.groupings["ekman"].items()}
        out["thresholds"] = dict(zip(names, _round(thresholds), strict=True))
        out["limits"] = app.state.limits
        out["schema"] = schema.name
        out["groupings"] = {
            g: {k: list(m) for k, m in groups.items()} for g, groups in schema.groupings.items()
        }
        out["single_label"] = schema.single_label
        out["views"] = list(views_of(schema))
        return out

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, Any]:
        """Liveness: the model is loaded (it is before the app accepts requests)."""
        return {"status": "ok", "model": model_name, "version": __version__}

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text exposition format."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------ page and docs
    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html", headers={"content-security-policy": _PAGE_CSP}
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    assets = _docs_assets_dir()
    if assets is None:
        log.warning("fastapi-offline is not installed: /docs and /redoc are off")
    else:
        app.mount(_DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")
        for name, page in _DOCS_PAGES.items():
            app.add_api_route(
                page.path,
                _docs_route(app, page),
                methods=["GET"],
                name=name,
                include_in_schema=False,
            )

    return app
