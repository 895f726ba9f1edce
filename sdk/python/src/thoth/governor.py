"""The per-call governance flow: PRE event → enforce → (step-up wait | modify | raise) → tool → POST event.

One `Governor` per instrumentation (one agent id, one session). It is the only place that decides whether
a tool runs, so the fail-open rules live here and nowhere else:

- enforcer unreachable, timed out, 429, 5xx or answering nonsense → the tool runs and one warning is logged
  per outage (``fail_open=True``, the default), or the call is blocked (``fail_open=False``);
- 401/403 → always blocked: a wrong or revoked key must not silently switch governance off;
- a STEP_UP never fails open: a call the server said needs a person never runs without one.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ._version import __version__
from .client import EnforcerAuthError, EnforcerClient, EnforcerUnavailable, HttpClient, TransportError
from .config import ThothConfig
from .decisions import Decision, ModifyNotApplicable, apply_modified_args, call_tool_args, defer_message
from .errors import ThothPolicyViolation
from .telemetry import EventSink, build_event, sink_for

logger = logging.getLogger("thoth")

_MAX_SESSION_CALLS = 1_000  # what we report as session_tool_calls (the server caps far above this)
_MAX_CONTENT_CHARS = 2_000

_enforcers: dict[tuple[str, str, float], EnforcerClient] = {}
_enforcers_lock = threading.Lock()


def _enforcer_for(config: ThothConfig) -> EnforcerClient:
    """Shared per (URL, key, timeout): agents on one server share connections and one outage log."""
    key = (config.api_url, config.api_key, config.timeout_seconds)
    with _enforcers_lock:
        client = _enforcers.get(key)
        if client is None:
            client = EnforcerClient(HttpClient(config.api_url, config.api_key, config.timeout_seconds))
            _enforcers[key] = client
        return client


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_CONTENT_CHARS else text[:_MAX_CONTENT_CHARS] + "…"


@dataclass
class CallContext:
    """What `before()` hands to the tool runner: the (possibly rewritten) arguments and telemetry context."""

    tool_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    trace_id: str
    started: float
    session_calls: list[str]
    decision: str
    metadata: dict[str, Any] = field(default_factory=dict)


class Governor:
    """Governs tool calls under one `ThothConfig`. Thread-safe; tools may run concurrently."""

    def __init__(self, config: ThothConfig) -> None:
        self.config = config
        self.enforcer = _enforcer_for(config)
        self.sink: EventSink | None = sink_for(config) if config.telemetry else None
        self._history: list[str] = []
        self._lock = threading.Lock()

    # -- wrapping -------------------------------------------------------------------------------------

    def wrap(self, tool_name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """A governed callable with ``fn``'s signature; async for coroutine functions."""
        if inspect.iscoroutinefunction(fn):

            async def governed_async(*args: Any, **kwargs: Any) -> Any:
                return await self.acall(tool_name, fn, args, kwargs)

            governed: Callable[..., Any] = governed_async
        else:

            def governed_sync(*args: Any, **kwargs: Any) -> Any:
                return self.call(tool_name, fn, args, kwargs)

            governed = governed_sync
        for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
            try:
                setattr(governed, attr, getattr(fn, attr))
            except (AttributeError, TypeError):
                pass
        governed.__wrapped__ = fn  # type: ignore[attr-defined]
        governed.__thoth_governor__ = self  # type: ignore[attr-defined]
        governed.__thoth_tool_name__ = tool_name  # type: ignore[attr-defined]
        return governed

    def call(self, tool_name: str, fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        ctx = self.before(tool_name, args, kwargs)
        try:
            result = fn(*ctx.args, **ctx.kwargs)
        except BaseException as error:
            self.after(ctx, error=error)
            raise
        self.after(ctx, result=result)
        return result

    async def acall(
        self,
        tool_name: str,
        fn: Callable[..., Awaitable[Any]],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> Any:
        # The enforce call (and a step-up wait) block; keep them off the event loop.
        ctx = await asyncio.to_thread(self.before, tool_name, args, kwargs)
        try:
            result = await fn(*ctx.args, **ctx.kwargs)
        except BaseException as error:
            self.after(ctx, error=error)
            raise
        self.after(ctx, result=result)
        return result

    # -- the flow -------------------------------------------------------------------------------------

    def before(self, tool_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> CallContext:
        """Decides the call. Returns the arguments to run with, or raises `ThothPolicyViolation`."""
        config = self.config
        started = time.perf_counter()
        trace_id = uuid.uuid4().hex
        sent = call_tool_args(args, kwargs)
        with self._lock:
            session_calls = self._history[-(_MAX_SESSION_CALLS - 1) :] + [tool_name]
        ctx = CallContext(tool_name, tuple(args), dict(kwargs), trace_id, started, session_calls, "ALLOW")
        self._emit(
            "TOOL_CALL_PRE",
            ctx,
            content=_truncate(f"{tool_name} {_compact_json(sent)}"),
            metadata={"event_phase": "pre", "tool_call": {"name": tool_name, "arguments": sent}, "tool_args": sent},
        )

        if config.enforcement == "observe":
            # Observe mode never asks the enforcer (like the TypeScript SDK); events carry the record.
            ctx.decision = "OBSERVE"
            return self._admit(ctx)

        request = self._enforce_request(tool_name, sent, session_calls, trace_id)
        try:
            decision = self.enforcer.enforce(request)
        except EnforcerAuthError as error:
            self._block(
                ctx,
                f"Thoth rejected the API key (HTTP {error.status}: {error.message}); tool calls are blocked",
                decision="BLOCK",
                code="enforcer_auth_failed",
            )
        except EnforcerUnavailable as error:
            if config.fail_open:
                self.enforcer.outage.failed(str(error), "tools run ungoverned until it is back (fail_open=True)")
                ctx.decision = "ALLOW"
                ctx.metadata.update({"fail_open": True, "enforcer_error": str(error)[:300]})
                return self._admit(ctx)
            self.enforcer.outage.failed(str(error), "tool calls are blocked (fail_open=False)")
            self._block(
                ctx,
                f"Thoth enforcer unavailable ({error}); blocked because fail_open=False",
                decision="BLOCK",
                code="enforcer_unavailable",
            )
        self.enforcer.outage.succeeded()
        if config.verify_receipts != "off":
            self._check_receipt(ctx, request, decision)
        ctx.decision = decision.decision
        ctx.metadata.update(
            {
                "authorization_decision": decision.decision,
                "decision_reason_code": decision.decision_reason_code,
                "violation_id": decision.violation_id,
                "risk_score": decision.risk_score,
            }
        )

        if decision.decision == "ALLOW":
            return self._admit(ctx)
        if decision.decision == "MODIFY":
            if decision.has_modified_tool_args:
                try:
                    ctx.args, ctx.kwargs = apply_modified_args(args, kwargs, sent, decision.modified_tool_args)
                except ModifyNotApplicable as error:
                    self._block(
                        ctx,
                        f"{decision.reason or 'arguments must be modified'} ({error})",
                        decision="MODIFY",
                        code=decision.decision_reason_code,
                        violation_id=decision.violation_id,
                    )
                ctx.metadata["modified"] = True
                ctx.metadata["modification_reason"] = decision.modification_reason or decision.reason
            return self._admit(ctx)
        if decision.decision == "DEFER":
            self._block(
                ctx,
                defer_message(decision),
                decision="DEFER",
                code=decision.decision_reason_code,
                violation_id=decision.violation_id,
            )
        if decision.decision == "STEP_UP":
            approval_reason = self._wait_for_approval(ctx, decision)
            ctx.metadata["step_up_approved"] = True
            ctx.metadata["step_up_reason"] = approval_reason
            ctx.decision = "ALLOW"
            return self._admit(ctx)
        self._block(
            ctx,
            decision.reason or "blocked by policy",
            decision="BLOCK",
            code=decision.decision_reason_code,
            violation_id=decision.violation_id,
        )

    def after(self, ctx: CallContext, *, result: Any = None, error: BaseException | None = None) -> None:
        """Records the outcome (TOOL_CALL_POST). Never raises."""
        try:
            metadata: dict[str, Any] = {"event_phase": "post", **ctx.metadata}
            if error is not None:
                metadata.update({"status": "error", "error_type": type(error).__name__})
                content = _truncate(f"{type(error).__name__}: {error}")
            else:
                metadata["status"] = "ok"
                metadata["result_type"] = type(result).__name__
                if isinstance(result, (str, bytes, bytearray)):
                    metadata["result_size_bytes"] = len(result.encode() if isinstance(result, str) else result)
                    content = _truncate(result if isinstance(result, str) else f"<{len(result)} bytes>")
                else:
                    content = f"<{type(result).__name__}>"
            self._emit("TOOL_CALL_POST", ctx, content=content, metadata=metadata)
        except Exception:
            logger.debug("Thoth: recording a tool result failed", exc_info=True)

    # -- helpers --------------------------------------------------------------------------------------

    def _enforce_request(
        self, tool_name: str, sent: Mapping[str, Any], session_calls: list[str], trace_id: str
    ) -> dict[str, Any]:
        config = self.config
        body: dict[str, Any] = {
            "agent_id": config.agent_id,
            "tenant_id": config.tenant_id,
            "tool_name": tool_name,
            "session_id": config.session_id,
            "user_id": config.user_id,
            "session_tool_calls": session_calls,
            "approved_scope": list(config.approved_scope),
            "enforcement_mode": config.enforcement,
            "environment": config.environment or "prod",
            "enforcement_trace_id": trace_id,
            "tool_args": sent,
            "request_id": str(uuid.uuid4()),
            "metadata": {"sdk_language": "python", "sdk_version": __version__},
        }
        if config.purpose:
            body["purpose"] = config.purpose
        if config.data_classification:
            body["data_classification"] = config.data_classification
        return body

    def _check_receipt(self, ctx: CallContext, request: Mapping[str, Any], decision: Decision) -> None:
        """``verify_receipts``: returns when the answer may be acted on, else blocks (raises).

        - The receipt does not verify (the answer is not what Thoth signed: altered on the way, an unknown key,
          no receipt): ``warn`` logs and acts on the answer; ``enforce`` blocks (``receipt_invalid``) whatever
          ``fail_open`` says. Fail-open is for outages; running the tool on an answer that fails verification
          would let whoever altered it switch governance off (a BLOCK turned into an ALLOW).
        - The keys cannot be fetched (an outage of ``GET /v1/keys/receipt``): ``enforce`` with
          ``fail_open=False`` blocks (``receipt_keys_unavailable``); otherwise the answer is acted on
          unverified (a BLOCK still blocks), with one warning per outage.
        """
        config = self.config
        check = self.enforcer.receipt_keys.check(request, decision.raw)
        outage = self.enforcer.receipt_keys_outage
        if check.status == "valid":
            outage.succeeded()
            return
        if check.status == "invalid":
            if config.verify_receipts == "warn":
                logger.warning(
                    "Thoth: the receipt of the %s answer for %s does not verify (%s); acting on the answer anyway "
                    "(verify_receipts='warn')",
                    decision.decision,
                    ctx.tool_name,
                    check.reason,
                )
                return
            ctx.metadata["receipt_invalid"] = check.reason
            self._block(
                ctx,
                f"Thoth's answer failed receipt verification: {check.reason} (verify_receipts='enforce')",
                decision="BLOCK",
                code="receipt_invalid",
            )
        if config.verify_receipts == "enforce" and not config.fail_open:
            outage.failed(str(check.reason), "tool calls are blocked (fail_open=False)")
            self._block(
                ctx,
                f"cannot verify Thoth's answer: the receipt keys are unavailable ({check.reason}); "
                "blocked because fail_open=False",
                decision="BLOCK",
                code="receipt_keys_unavailable",
            )
        outage.failed(str(check.reason), "answers are acted on unverified until it is back")

    def _admit(self, ctx: CallContext) -> CallContext:
        with self._lock:
            self._history.append(ctx.tool_name)
            if len(self._history) > _MAX_SESSION_CALLS:
                del self._history[: len(self._history) - _MAX_SESSION_CALLS]
        return ctx

    def _block(
        self,
        ctx: CallContext,
        reason: str,
        *,
        decision: str,
        code: str | None,
        violation_id: str | None = None,
    ) -> NoReturn:
        """Records TOOL_CALL_BLOCK and raises `ThothPolicyViolation`."""
        self._emit(
            "TOOL_CALL_BLOCK",
            ctx,
            content=_truncate(reason),
            metadata={
                "event_phase": "block",
                **ctx.metadata,
                "authorization_decision": decision,
                "decision_reason_code": code,
                "violation_id": violation_id,
            },
            violation_id=violation_id,
        )
        raise ThothPolicyViolation(
            reason,
            violation_id=violation_id,
            tool_name=ctx.tool_name,
            decision=decision,
            decision_reason_code=code,
        )

    def _wait_for_approval(self, ctx: CallContext, decision: Decision) -> str:
        """Polls the hold until a person resolves it or ``step_up_timeout_seconds`` pass.

        Returns the approval's reason, or raises. Transient poll failures are retried until the deadline
        (the hold lives on the server; a blip must not deny the call), but never turn into an approval.
        """
        config = self.config
        block_args = {
            "decision": "STEP_UP",
            "code": decision.decision_reason_code,
            "violation_id": decision.violation_id,
        }
        if not decision.hold_token:
            self._block(ctx, f"{decision.reason or 'approval required'} (no hold token to wait on)", **block_args)
        token = decision.hold_token or ""
        timeout = config.step_up_timeout_seconds
        deadline = time.monotonic() + timeout
        logger.info(
            "Thoth: %s needs approval (%s); waiting up to %s s [violation id %s]",
            ctx.tool_name,
            decision.reason,
            _seconds(timeout),
            decision.violation_id,
        )
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._block(
                    ctx,
                    f"step-up approval timed out after {_seconds(timeout)} s: {decision.reason or 'approval required'}",
                    **block_args,
                )
            time.sleep(min(config.step_up_poll_interval_seconds, remaining))
            try:
                result = self.enforcer.poll_hold(token)
            except TransportError as error:
                logger.debug("Thoth: hold poll failed (%s); retrying", error)
                continue
            if result.status in (401, 403):
                self._block(
                    ctx, f"Thoth rejected the API key while waiting for approval: {result.message()}", **block_args
                )
            if result.status == 404:
                self._block(ctx, "step-up hold is unknown to the server (expired or lost)", **block_args)
            if result.status != 200 or not isinstance(result.body, Mapping):
                continue
            body = result.body
            if body.get("resolved") is not True:
                continue
            outcome = str(body.get("resolution") or body.get("decision") or "").upper()
            server_reason = body.get("reason") if isinstance(body.get("reason"), str) else ""
            if outcome == "ALLOW":
                return server_reason or "approved"
            status = body.get("status")
            if status == "denied":
                message = f"step-up denied: {server_reason or 'an approver denied the call'}"
            else:
                message = f"step-up not approved: {server_reason or 'the approval was not granted'}"
            self._block(ctx, message, **block_args)

    def _emit(
        self,
        event_type: str,
        ctx: CallContext,
        *,
        content: str | None,
        metadata: Mapping[str, Any],
        violation_id: str | None = None,
    ) -> None:
        if self.sink is None:
            return
        try:
            meta = {k: v for k, v in metadata.items() if v is not None}
            meta["enforcement_trace_id"] = ctx.trace_id
            if event_type != "TOOL_CALL_PRE":
                meta["duration_ms"] = round((time.perf_counter() - ctx.started) * 1000, 3)
            self.sink.emit(
                build_event(
                    self.config,
                    event_type=event_type,
                    tool_name=ctx.tool_name,
                    content=content,
                    metadata=meta,
                    session_tool_calls=ctx.session_calls,
                    violation_id=violation_id,
                )
            )
        except Exception:  # telemetry never breaks a tool call
            logger.debug("Thoth: building an event failed", exc_info=True)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _compact_json(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)
