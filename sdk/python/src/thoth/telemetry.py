"""Behavioral events (TOOL_CALL_PRE / POST / BLOCK), sent in background batches.

Telemetry must never slow or break a tool: `emit()` only appends to a bounded in-memory queue; a daemon
thread batches events to ``POST /v1/events/batch`` (the Python dialect: a bare JSON array of snake_case
events), retrying with backoff. When the queue is full the oldest event is dropped and counted — fresh
events are the ones an investigator needs. Queues are flushed at interpreter exit (`atexit`) and on
`thoth.flush()`.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ._version import __version__
from .client import HttpClient, OutageLog, TransportError
from .config import ThothConfig

logger = logging.getLogger("thoth")

DEFAULT_MAX_QUEUE = 10_000
DEFAULT_BATCH_SIZE = 100
DEFAULT_LINGER_SECONDS = 0.25
DEFAULT_MAX_ATTEMPTS = 5
EXIT_FLUSH_SECONDS = 3.0


def utc_now_iso() -> str:
    """ISO-8601 UTC with milliseconds and a ``Z`` (what every SDK family sends)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_event(
    config: ThothConfig,
    *,
    event_type: str,
    tool_name: str,
    content: str | None,
    metadata: Mapping[str, Any],
    session_tool_calls: Sequence[str],
    violation_id: str | None = None,
) -> dict[str, Any]:
    """One event in the canonical snake_case shape of docs/protocol.md §Event fields."""
    event: dict[str, Any] = {
        "event_id": f"{config.tenant_id}:{uuid.uuid4()}",
        "tenant_id": config.tenant_id,
        "agent_id": config.agent_id,
        "session_id": config.session_id,
        "user_id": config.user_id,
        "source_type": "agent_tool_call",
        "event_type": event_type,
        "tool_name": tool_name,
        "content": content,
        "metadata": {
            "sdk_language": "python",
            "sdk_version": __version__,
            "environment": config.environment or "prod",
            **metadata,
        },
        "approved_scope": list(config.approved_scope),
        "enforcement_mode": config.enforcement,
        "session_tool_calls": list(session_tool_calls),
        "occurred_at": utc_now_iso(),
    }
    if violation_id:
        event["violation_id"] = violation_id
    if config.purpose:
        event["purpose"] = config.purpose
    if config.data_classification:
        event["data_classification"] = config.data_classification
    return event


class EventSink:
    """A bounded queue drained by one daemon thread into ``POST /v1/events/batch``.

    Counters (read them for monitoring): ``sent``, ``dropped_overflow`` (queue full, oldest dropped),
    ``dropped_failed`` (a batch given up after retries or rejected by the server), ``rejected`` (events the
    server refused individually).
    """

    def __init__(
        self,
        http: HttpClient,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        linger_seconds: float = DEFAULT_LINGER_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 10.0,
    ) -> None:
        self._http = http
        self._queue: deque[dict[str, Any]] = deque()
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._linger = linger_seconds
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._cond = threading.Condition()
        self._in_flight = 0
        self._flush_requested = 0
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._outage = OutageLog("event ingest")
        self.sent = 0
        self.dropped_overflow = 0
        self.dropped_failed = 0
        self.rejected = 0

    # -- producer side (the tool's thread): must stay O(1) and never raise ------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        try:
            with self._cond:
                if len(self._queue) >= self._max_queue:
                    self._queue.popleft()
                    self.dropped_overflow += 1
                    if self.dropped_overflow == 1 or self.dropped_overflow % 1000 == 0:
                        logger.warning(
                            "Thoth telemetry queue full (%d events); dropped %d oldest so far",
                            self._max_queue,
                            self.dropped_overflow,
                        )
                self._queue.append(event)
                self._ensure_worker()
                if len(self._queue) >= self._batch_size:
                    self._cond.notify_all()
        except Exception:  # telemetry never breaks a tool call
            logger.debug("Thoth telemetry emit failed", exc_info=True)

    def _after_fork_in_child(self) -> None:
        """fork() keeps the queue but not the worker thread, and may copy a lock mid-use: start clean."""
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = None
        self._in_flight = 0
        self._pid = os.getpid()

    def _ensure_worker(self) -> None:
        # Called with the lock held.
        if self._pid != os.getpid():
            self._thread = None
            self._in_flight = 0
            self._pid = os.getpid()
        if self._thread is not None and self._thread.is_alive():
            return
        thread = threading.Thread(target=self._run, name="thoth-telemetry", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: flush() drains synchronously instead
            return
        self._thread = thread

    # -- worker ---------------------------------------------------------------------------------------

    def _take_batch(self) -> list[dict[str, Any]]:
        """Waits for a batch (full, lingered, or flush requested); returns [] when closed and empty."""
        with self._cond:
            while not self._queue:
                if self._closed:
                    return []
                self._cond.wait()
            deadline = time.monotonic() + self._linger
            while len(self._queue) < self._batch_size and not self._flush_requested and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            count = min(self._batch_size, len(self._queue))
            batch = [self._queue.popleft() for _ in range(count)]
            self._in_flight += len(batch)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                return
            try:
                self._send_with_retries(batch)
            except Exception:  # a bug here must not kill the worker
                logger.debug("Thoth telemetry send failed", exc_info=True)
                self.dropped_failed += len(batch)
            finally:
                with self._cond:
                    self._in_flight -= len(batch)
                    self._cond.notify_all()

    def _send_with_retries(self, batch: list[dict[str, Any]]) -> None:
        delay = self._backoff
        for attempt in range(1, self._max_attempts + 1):
            outcome = self._send_once(batch)
            if outcome == "done":
                return
            if outcome == "give_up" or attempt == self._max_attempts:
                break
            # A separate event, not the queue's condition: new events must not cut the backoff short.
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self._max_backoff)
        self.dropped_failed += len(batch)

    def _send_once(self, batch: list[dict[str, Any]]) -> str:
        """One POST. Returns ``done``, ``retry`` (transient) or ``give_up`` (the server refused the batch)."""
        try:
            result = self._http.request("POST", "/v1/events/batch", batch)
        except TransportError as error:
            self._outage.failed(str(error), "events are queued and retried")
            return "retry"
        if 200 <= result.status < 300:
            self._outage.succeeded()
            self.sent += len(batch)
            body = result.body
            if isinstance(body, Mapping) and isinstance(body.get("rejected"), list) and body["rejected"]:
                self.rejected += len(body["rejected"])
                logger.warning("Thoth rejected %d telemetry event(s): %s", len(body["rejected"]), body["rejected"][:3])
            return "done"
        if result.status == 429 or result.status >= 500:
            self._outage.failed(f"HTTP {result.status}", "events are queued and retried")
            return "retry"
        self._outage.failed(f"HTTP {result.status}: {result.message()}", "this batch of events is dropped")
        return "give_up"

    # -- control --------------------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Blocks until every queued event was sent (or given up), at most ``timeout`` s. True if drained."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._ensure_worker()
            worker_alive = self._thread is not None and self._thread.is_alive()
            self._flush_requested += 1
            self._cond.notify_all()
        try:
            if not worker_alive:
                return self._drain_here(deadline)
            with self._cond:
                while self._queue or self._in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
        finally:
            with self._cond:
                self._flush_requested -= 1

    def _drain_here(self, deadline: float) -> bool:
        # No worker thread (interpreter shutdown, or a thread could not start): one attempt per batch.
        while time.monotonic() < deadline:
            with self._cond:
                if not self._queue:
                    return True
                batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            if self._send_once(batch) != "done":
                self.dropped_failed += len(batch)
        with self._cond:
            return not self._queue

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._stop.set()
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._in_flight


_sinks: dict[tuple[str, str], EventSink] = {}
_sinks_lock = threading.Lock()
_atexit_registered = False


def sink_for(config: ThothConfig) -> EventSink:
    """One sink per (API URL, key): agents sharing a server share one queue and one sender thread."""
    global _atexit_registered
    key = (config.api_url, config.api_key)
    with _sinks_lock:
        sink = _sinks.get(key)
        if sink is None:
            headers = {}
            ingest_token = os.environ.get("THOTH_EVENT_INGEST_TOKEN")
            if ingest_token:
                headers["X-Thoth-Event-Ingest-Token"] = ingest_token
            sink = EventSink(HttpClient(config.api_url, config.api_key, config.timeout_seconds, headers))
            _sinks[key] = sink
            if not _atexit_registered:
                atexit.register(_flush_at_exit)
                _atexit_registered = True
        return sink


def _reinit_after_fork() -> None:
    global _sinks_lock
    _sinks_lock = threading.Lock()
    for sink in _sinks.values():
        sink._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def flush(timeout: float = 5.0) -> bool:
    """Sends every queued event of every instrumented agent now; True when all were delivered in time."""
    with _sinks_lock:
        sinks = list(_sinks.values())
    deadline = time.monotonic() + timeout
    drained = True
    for sink in sinks:
        drained = sink.flush(max(0.0, deadline - time.monotonic())) and drained
    return drained


def _flush_at_exit() -> None:
    try:
        if not flush(EXIT_FLUSH_SECONDS):
            logger.warning("Thoth: some telemetry events could not be sent before exit")
    except Exception:
        pass
