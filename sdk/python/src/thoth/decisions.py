"""Pure wire logic: the shapes the SDK sends and how it reads what comes back. No I/O here.

Kept free of HTTP and threads so the rules that decide whether a tool runs (unknown decision → BLOCK,
docs/protocol.md §MODIFY apply rules) are testable in isolation and easy to audit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DECISIONS = ("ALLOW", "BLOCK", "STEP_UP", "MODIFY", "DEFER")

_MAX_DEPTH = 32


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-encodable copy of ``value``: containers are copied, anything exotic becomes its ``str``.

    Tool arguments are arbitrary Python objects; the enforcer only needs something it can read. This never
    raises, so an odd argument can never turn into a governance failure.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if _depth >= _MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v, _depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    try:
        return str(value)
    except Exception:  # a broken __str__ must not break the call
        return f"<{type(value).__name__}>"


def call_tool_args(args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The `tool_args` the SDK sends: ``{"args": [...], "kwargs": {...}}`` (docs/protocol.md §Tool argument shapes).

    One shape for every call keeps the MODIFY answer unambiguous: the server rewrites in the shape it
    received, so the answer maps straight back onto positionals and keywords. ``kwargs`` is left out when
    there are none: the server then treats a lone dict argument as the place for names a MODIFY ``set``
    adds (``tool({"a": 1})`` gets ``{"a": 1, "added": …}``, not a surprise keyword argument).
    """
    sent: dict[str, Any] = {"args": to_jsonable(list(args))}
    if kwargs:
        sent["kwargs"] = to_jsonable(dict(kwargs))
    return sent


@dataclass(frozen=True)
class Decision:
    """One `/v1/enforce` answer, normalized. ``raw`` keeps the whole body for telemetry and debugging."""

    decision: str
    reason: str = ""
    decision_reason_code: str | None = None
    violation_id: str | None = None
    enforcement_trace_id: str | None = None
    hold_token: str | None = None
    step_up_timeout_seconds: float | None = None
    modified_tool_args: Any = None
    has_modified_tool_args: bool = False
    modification_reason: str | None = None
    defer_reason: str | None = None
    defer_timeout_seconds: float | None = None
    risk_score: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def parse_decision(body: Any) -> Decision:
    """Reads an enforce answer. Anything that is not one of the five decisions is a BLOCK (docs/protocol.md).

    The authoritative field is ``decision``; ``authorization_decision`` is read only when ``decision`` is
    missing, since older servers sent only one of them.
    """
    if not isinstance(body, Mapping):
        return Decision(decision="BLOCK", reason="malformed enforcer answer", decision_reason_code="invalid_decision")
    value = body.get("decision", body.get("authorization_decision"))
    decision = value.upper() if isinstance(value, str) else ""
    reason = _text(body.get("reason")) or ""
    code = _text(body.get("decision_reason_code"))
    if decision not in DECISIONS:
        reason = reason or f"unknown decision {value!r} from the enforcer"
        decision = "BLOCK"
        code = code or "invalid_decision"
    return Decision(
        decision=decision,
        reason=reason,
        decision_reason_code=code,
        violation_id=_text(body.get("violation_id")),
        enforcement_trace_id=_text(body.get("enforcement_trace_id")),
        hold_token=_text(body.get("hold_token")),
        step_up_timeout_seconds=_number(body.get("step_up_timeout_seconds")),
        modified_tool_args=body.get("modified_tool_args"),
        has_modified_tool_args="modified_tool_args" in body and body.get("modified_tool_args") is not None,
        modification_reason=_text(body.get("modification_reason")),
        defer_reason=_text(body.get("defer_reason")),
        defer_timeout_seconds=_number(body.get("defer_timeout_seconds")),
        risk_score=_number(body.get("risk_score")),
        raw=body,
    )


def defer_message(decision: Decision) -> str:
    """DEFER's exception text: the server's reason plus when to retry (the agent's only actionable fact)."""
    base = decision.defer_reason or decision.reason or "the call was deferred"
    if decision.defer_timeout_seconds is not None:
        seconds = decision.defer_timeout_seconds
        shown = int(seconds) if float(seconds).is_integer() else seconds
        return f"{base} (deferred: retry in {shown} s)"
    return f"{base} (deferred: retry later)"


class ModifyNotApplicable(ValueError):
    """A MODIFY answer that cannot be mapped onto the call. The call must not run with the original args."""


def _keep_originals(modified: Sequence[Any], sent: Sequence[Any], original: Sequence[Any]) -> list[Any]:
    # Values the server left untouched come back as their JSON form; hand the tool its real objects.
    out = []
    for index, value in enumerate(modified):
        if index < len(sent) and index < len(original) and value == sent[index]:
            out.append(original[index])
        else:
            out.append(value)
    return out


def _keep_original_kwargs(
    modified: Mapping[str, Any], sent: Mapping[str, Any], original: Mapping[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in modified.items():
        if key in sent and key in original and value == sent[key]:
            out[key] = original[key]
        else:
            out[key] = value
    return out


def _is_call_shape(value: Mapping[str, Any]) -> bool:
    if not isinstance(value.get("args"), list):
        return False
    return all(key == "args" or (key == "kwargs" and isinstance(value.get("kwargs"), Mapping)) for key in value)


def _indexed_positionals(value: Mapping[str, Any]) -> list[Any] | None:
    if not value or not all(isinstance(k, str) and k.startswith("arg") and k[3:].isdigit() for k in value):
        return None
    indices = sorted(int(k[3:]) for k in value)
    if indices != list(range(len(indices))):
        return None
    return [value[f"arg{i}"] for i in indices]


def apply_modified_args(
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    sent: Mapping[str, Any],
    modified: Any,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Maps a MODIFY's ``modified_tool_args`` back onto the call (docs/protocol.md §MODIFY apply rules).

    - ``{"args": [...], "kwargs": {...}}``: ``args`` replaces the positionals, ``kwargs`` the keywords
      (a missing ``kwargs`` leaves the keywords as they were);
    - ``{"arg0": ..., "arg1": ...}``: replaces the positionals;
    - ``{"input": x}`` for a call with one positional: replaces that positional;
    - any other dict: replaces a single dict argument whole, or becomes the keywords of a keyword-only call;
    - a list: the positionals; a scalar: the single positional.

    Raises `ModifyNotApplicable` when none fits, because running the original arguments would defeat the
    rewrite (e.g. an unredacted card number).
    """
    args = tuple(args)
    kwargs = dict(kwargs)
    sent_args: list[Any] = list(sent.get("args") or [])
    sent_kwargs: Mapping[str, Any] = sent.get("kwargs") or {}
    if isinstance(modified, Mapping):
        if _is_call_shape(modified):
            new_args = _keep_originals(modified["args"], sent_args, args)
            new_kwargs = kwargs
            if isinstance(modified.get("kwargs"), Mapping):
                new_kwargs = _keep_original_kwargs(modified["kwargs"], sent_kwargs, kwargs)
            return tuple(new_args), new_kwargs
        indexed = _indexed_positionals(modified)
        if indexed is not None:
            return tuple(_keep_originals(indexed, sent_args, args)), kwargs
        if set(modified) == {"input"} and len(args) == 1:
            return (modified["input"],), kwargs
        if len(args) == 1 and isinstance(args[0], Mapping) and not kwargs:
            return (dict(modified),), kwargs
        if not args:
            return (), _keep_original_kwargs(modified, sent_kwargs, kwargs)
        raise ModifyNotApplicable(f"cannot apply modified_tool_args with keys {sorted(modified)} to this call")
    if isinstance(modified, list):
        return tuple(_keep_originals(modified, sent_args, args)), kwargs
    if len(args) == 1:
        return (modified,), kwargs
    raise ModifyNotApplicable("cannot apply a scalar modified_tool_args to a call without exactly one positional")
