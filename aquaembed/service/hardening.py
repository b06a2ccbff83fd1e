"""Request hardening in front of the API and the dashboard (one ASGI middleware).

* ``Host`` allow-list: a DNS-rebinding page (an attacker's name resolving to
  127.0.0.1) sends its own name as ``Host`` and is refused with 400, so it cannot read
  the data. Default: the bound host, ``localhost``, ``127.0.0.1``, ``::1``; ``*``
  allows any.
* URLs longer than ``max_url`` bytes (path and query) get 414.
* Dash callback requests (``POST /_dash-update-component``) must be a JSON object
  naming a registered output with a list of inputs; anything else gets 400 JSON before
  Dash sees it (so no traceback is logged for a forged body).
* Every response carries ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Content-Security-Policy: frame-ancestors 'none'`` and ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aquaembed.service.errors import error_response

__all__ = ["DASH_CALLBACK", "HardeningMiddleware", "default_hosts"]

DASH_CALLBACK = "/_dash-update-component"
_MAX_CALLBACK_BODY = 8 * 2**20
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
]


def default_hosts(bound: str) -> list[str]:
    """The hosts allowed by default: the bound one and the loopback names."""
    hosts = ["localhost", "127.0.0.1", "::1"]
    if bound and bound not in ("0.0.0.0", "::") and bound not in hosts:
        hosts.insert(0, bound)
    return hosts


def _hostname(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8050
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HardeningMiddleware:
    """See the module docstring.

    Parameters
    ----------
    app : ASGI app
    allowed_hosts : iterable of str
        Host names (without port) accepted in the ``Host`` header; ``"*"`` accepts any.
    max_url : int
        Longest path plus query string accepted, in bytes.
    callback_outputs : callable, optional
        Returns the output ids of the registered Dash callbacks (checked lazily).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str],
        max_url: int = 8192,
        callback_outputs: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        self.app = app
        self.hosts = {h.lower().strip("[]") for h in allowed_hosts}
        self.max_url = max_url
        self.callback_outputs = callback_outputs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() not in {k for k, _ in _HEADERS}]
                message = {**message, "headers": headers + _HEADERS}
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        if scope.get("method") == "POST" and scope.get("path") == DASH_CALLBACK and self.callback_outputs is not None:
            body, more = b"", True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > _MAX_CALLBACK_BODY:
                    await error_response(413, "payload_too_large", "callback body too large")(scope, receive, send_with_headers)
                    return
            problem = self._callback_problem(body)
            if problem is not None:
                await error_response(400, "bad_request", f"dashboard callback: {problem}")(scope, receive, send_with_headers)
                return
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        if len(scope.get("raw_path") or scope.get("path", "").encode()) + len(scope.get("query_string", b"")) > self.max_url:
            return error_response(414, "uri_too_long", f"the URL is longer than {self.max_url} bytes")
        if "*" not in self.hosts:
            host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
            if _hostname(host) not in self.hosts:
                return error_response(
                    400, "bad_host", "Host header not allowed (set AQUAEMBED_ALLOWED_HOSTS to serve other names)"
                )
        return None

    def _callback_problem(self, body: bytes) -> str | None:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return "the body is not JSON"
        if not isinstance(doc, dict):
            return "the body must be a JSON object"
        output, inputs = doc.get("output"), doc.get("inputs", [])
        if not isinstance(output, str) or not isinstance(inputs, list) or not isinstance(doc.get("state", []), list):
            return "expected 'output' (a string) and 'inputs' (a list)"
        if any(not isinstance(i, (dict, list)) for i in inputs):
            return "each input must be an object (or a list of objects)"
        known = set(self.callback_outputs()) if self.callback_outputs is not None else {output}
        if output not in known:
            return f"no callback has the output {output[:80]!r}"
        return None
