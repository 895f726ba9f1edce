"""HTTP to the Thoth API: a small keep-alive JSON client and the enforce / hold-poll calls.

Standard library only (`http.client`). One connection per thread and per client, reused across calls:
the enforce call sits on every tool call's critical path, and a fresh TCP handshake per call would cost
more than the server's decision.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ._version import __version__
from .decisions import Decision, parse_decision
from .receipts import ReceiptKeyring

logger = logging.getLogger("thoth")

USER_AGENT = f"thoth-sdk-python/{__version__}"

# Errors that mean "a kept-alive connection was closed by the server meanwhile": retried once on a fresh one.
_STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)


class TransportError(Exception):
    """The request got no HTTP answer (refused, reset, DNS, TLS, timeout)."""


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    text: str
    retry_after: str | None = None

    def message(self) -> str:
        """The server's human message (error bodies are ``{"error", "message"}``), else the raw text."""
        if isinstance(self.body, Mapping):
            for key in ("message", "error", "detail"):
                if isinstance(self.body.get(key), str) and self.body[key]:
                    return self.body[key]
        return self.text[:200] or f"HTTP {self.status}"


class _ClosingOnGC:
    """Connections live in thread-locals; when their thread ends (e.g. an executor worker) they are garbage
    collected without an explicit close. Close them then, instead of leaking the socket until the GC warns."""

    def __del__(self) -> None:
        try:
            self.close()  # type: ignore[attr-defined]
        except Exception:
            pass


class _HTTPConnection(_ClosingOnGC, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_ClosingOnGC, http.client.HTTPSConnection):
    pass


class HttpClient:
    """JSON over HTTP/1.1 with one persistent connection per thread. Thread-safe."""

    def __init__(self, base_url: str, api_key: str, timeout: float, extra_headers: Mapping[str, str] | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            # What the existing Python SDK sends; the server also accepts Authorization: Bearer.
            "x-api-key": api_key,
            **(extra_headers or {}),
        }
        self._local = threading.local()
        self._ssl_context = ssl.create_default_context() if self._https else None

    def _connection(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) != os.getpid():
            # Inherited through fork(): the socket is the parent's; never write to it from here.
            conn = self._local.conn = None
        if conn is not None:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            return conn, True
        if self._https:
            conn = _HTTPSConnection(self._host, self._port, timeout=timeout, context=self._ssl_context)
        else:
            conn = _HTTPConnection(self._host, self._port, timeout=timeout)
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn, False

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def request(self, method: str, path: str, body: Any = None, *, timeout: float | None = None) -> HttpResult:
        """Sends one request; raises `TransportError` when no HTTP answer arrived."""
        payload = None if body is None else json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        wait = self._timeout if timeout is None else timeout
        for attempt in (1, 2):
            conn, reused = self._connection(wait)
            try:
                conn.request(method, self._prefix + path, body=payload, headers=self._headers)
                response = conn.getresponse()
                raw = response.read()
                if response.will_close:
                    self._drop_connection()
            except _STALE_CONNECTION_ERRORS as error:
                self._drop_connection()
                if reused and attempt == 1:
                    continue
                raise TransportError(f"{type(error).__name__}: {error}") from error
            except (TimeoutError, OSError, http.client.HTTPException) as error:
                self._drop_connection()
                raise TransportError(f"{type(error).__name__}: {error}") from error
            text = raw.decode("utf-8", errors="replace")
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = None
            return HttpResult(response.status, parsed, text, response.getheader("Retry-After"))
        raise TransportError("unreachable")  # pragma: no cover - the loop always returns or raises

    def close(self) -> None:
        self._drop_connection()


class EnforcerUnavailable(Exception):
    """No usable decision: unreachable, timeout, 429, 5xx, another unexpected status or a malformed body.

    Subject to fail-open: the tool runs (with a warning) unless ``fail_open=False``.
    """


class EnforcerAuthError(Exception):
    """401/403: the key is wrong, expired or not allowed. Never fails open: a wrong key must not quietly
    switch governance off."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class OutageLog:
    """One warning per outage, not one per call: an agent making 100 calls/s during an outage would
    otherwise drown its own logs. A success after an outage logs the recovery once."""

    def __init__(self, what: str):
        self._what = what
        self._lock = threading.Lock()
        self._down = False
        self.failures = 0

    def failed(self, detail: str, consequence: str) -> None:
        with self._lock:
            self.failures += 1
            first = not self._down
            self._down = True
        if first:
            logger.warning("Thoth %s unavailable (%s); %s", self._what, detail, consequence)
        else:
            logger.debug("Thoth %s still unavailable (%s)", self._what, detail)

    def succeeded(self) -> None:
        if not self._down:
            return
        with self._lock:
            was_down, self._down = self._down, False
        if was_down:
            logger.info("Thoth %s reachable again", self._what)

    @property
    def down(self) -> bool:
        return self._down


class EnforcerClient:
    """`POST /v1/enforce` and `GET /v1/enforce/hold/{token}` with the SDK's error taxonomy."""

    def __init__(self, http: HttpClient):
        self.http = http
        self.outage = OutageLog("enforcer")
        # Receipt verification (verify_receipts): the public keys, fetched on first use, and their outages.
        self.receipt_keys = ReceiptKeyring(http)
        self.receipt_keys_outage = OutageLog("receipt key endpoint (GET /v1/keys/receipt)")

    def enforce(self, request: Mapping[str, Any]) -> Decision:
        try:
            result = self.http.request("POST", "/v1/enforce", request)
        except TransportError as error:
            raise EnforcerUnavailable(str(error)) from error
        if result.status in (401, 403):
            raise EnforcerAuthError(result.status, result.message())
        if result.status != 200:
            raise EnforcerUnavailable(f"HTTP {result.status}: {result.message()}")
        if not isinstance(result.body, Mapping):
            raise EnforcerUnavailable("enforcer answered 200 without a JSON object")
        return parse_decision(result.body)

    def poll_hold(self, token: str) -> HttpResult:
        """One poll; the caller interprets pending / resolved / 404. Raises `TransportError`."""
        return self.http.request("GET", f"/v1/enforce/hold/{quote(token, safe='')}")
