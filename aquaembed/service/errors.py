"""Errors of the service and the exception handlers that turn them into JSON.

Every error response has one shape, :class:`aquaembed.service.schemas.ErrorBody`::

    {"error": "not_found", "message": "unknown dataset 'x'; known: demo",
     "parameter": null, "details": null}

Mapping
-------
=====================================  ======  =====================
exception                              status  ``error``
=====================================  ======  =====================
request validation (FastAPI)           422     ``invalid_parameter``
:class:`~aquaembed.errors.ParameterError`, ``InputError``
                                       422     ``invalid_parameter``
:class:`~aquaembed.errors.NotFoundError`
                                       404     ``not_found``
:class:`~aquaembed.errors.ConflictError`
                                       409     ``conflict`` (a stale artefact)
:class:`~aquaembed.errors.StoreError`  500     ``store_error`` (generic message, details logged)
other :class:`~aquaembed.errors.AquaembedError`
                                       400     ``bad_request``
HTTP errors (unknown route, 405, 304)  as is   ``not_found``, ``method_not_allowed``, ...
anything else                          500     ``internal_error`` (generic message, logged)
=====================================  ======  =====================

No response ever carries a traceback; unexpected exceptions are logged server-side
with theirs.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aquaembed.errors import AquaembedError, ConflictError, InputError, NotFoundError, ParameterError, StoreError

__all__ = [
    "ApiParameterError",
    "CatchAllMiddleware",
    "error_response",
    "install_error_handlers",
]

logger = logging.getLogger("aquaembed.service")

_LEADING_NAME = re.compile(r"^([A-Za-z_][\w.]*)(?::| must | should )")
_HTTP_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiParameterError(ParameterError):
    """A request parameter the service itself refused (it knows the parameter's name).

    Parameters
    ----------
    parameter : str
        The query or path parameter, as the client spelled it (``limit``, ``meta.scene``).
    message : str
        What was expected and what was received.
    """

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.reason = message


def error_response(
    status: int,
    error: str,
    message: str,
    *,
    parameter: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response in the service's one error shape.

    Parameters
    ----------
    status : int
        HTTP status code.
    error : str
        Machine-readable error kind (``not_found``, ``invalid_parameter``, ...).
    message : str
        One human-readable line.
    parameter : str, optional
        The offending request parameter, when there is one.
    details : list of dict, optional
        Per-field validation problems (``loc``, ``msg``, ``type``).
    headers : dict, optional
        Extra response headers.
    """
    body = {"error": error, "message": " ".join(message.split()), "parameter": parameter, "details": details}
    return JSONResponse(status_code=status, content=body, headers=headers)


def _parameter_of(exc: ParameterError) -> str | None:
    if isinstance(exc, ApiParameterError) or exc.parameter:
        return exc.parameter
    m = _LEADING_NAME.match(str(exc))
    return m.group(1) if m else None


def _loc_name(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """The parameter name of a validation error location like ``("query", "conf")``."""
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if parts and parts[0] in ("query", "path", "header", "cookie", "body"):
        parts = parts[1:]
    return parts[0] if parts else None


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def _validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    details: list[dict[str, Any]] = []
    for err in exc.errors():
        item: dict[str, Any] = {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        if "input" in err and item["type"] != "missing":
            item["input"] = _short(err["input"])
        details.append(item)
    first: dict[str, Any] = details[0] if details else {"loc": [], "msg": "invalid request"}
    name = _loc_name(first["loc"])
    message = f"{name}: {first['msg']}" if name else first["msg"]
    if "input" in first:
        message += f" (got {first['input']})"
    return error_response(422, "invalid_parameter", message, parameter=name, details=details)


async def _aquaembed_handler(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, NotFoundError):
        return error_response(404, "not_found", str(exc), parameter=exc.parameter)
    if isinstance(exc, (ParameterError, InputError)):
        param = _parameter_of(exc) if isinstance(exc, ParameterError) else None
        # the same ``details`` shape as a validation error (one item), so clients read one layout
        where = ["query", param] if isinstance(exc, ApiParameterError) else ([param] if param else [])
        details = [{"loc": where, "msg": str(exc), "type": "value_error"}]
        return error_response(422, "invalid_parameter", str(exc), parameter=param, details=details)
    if isinstance(exc, ConflictError):
        return error_response(409, "conflict", str(exc))
    if isinstance(exc, StoreError):
        logger.error("store error on %s %s: %s", request.method, request.url.path, exc)
        return error_response(500, "store_error", "the dataset store could not be read; see the server log")
    return error_response(400, "bad_request", str(exc))


async def _http_handler(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    if status == 304:
        return Response(status_code=304, headers=getattr(exc, "headers", None))
    kind = _HTTP_NAMES.get(status, "http_error")
    detail = getattr(exc, "detail", None)
    detail = detail if isinstance(detail, str) else "request failed"
    if status == 404 and detail == "Not Found":
        detail = f"no such endpoint: {request.url.path}"
    return error_response(status, kind, detail, headers=getattr(exc, "headers", None))


class CatchAllMiddleware:
    """ASGI middleware: an unexpected exception becomes a generic JSON 500, logged once.

    Starlette's own last-resort handler answers too but then re-raises; this one
    answers and stops there, so the server logs the traceback exactly once (here) and
    the client sees no detail of it. An exception raised after the response started
    (mid-stream) cannot be answered and is re-raised.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if started:
                raise
            logger.error("unhandled error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            response = error_response(500, "internal_error", "internal server error; the server log has the details")
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Register the service's exception handlers and its catch-all middleware on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation_handler)  # type: ignore[arg-type]
    app.add_exception_handler(AquaembedError, _aquaembed_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_middleware(CatchAllMiddleware)
