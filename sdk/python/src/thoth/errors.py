"""Exceptions raised to the agent.

`ThothPolicyViolation` is the one exception an agent is expected to catch: the tool did not run because
Thoth (or, with ``fail_open=False``, Thoth's absence) said no. Its attributes mirror the TypeScript SDK's
``ThothPolicyViolation`` so the same handling code reads the same in both languages.
"""

from __future__ import annotations


class ThothPolicyViolation(Exception):
    """A governed tool call was not allowed to run.

    Raised on BLOCK, on DEFER (``reason`` says when to retry), on a STEP_UP that a person denied or that
    timed out, on 401/403 from the enforcer (always), and on any enforcer failure when ``fail_open=False``.

    Attributes:
        reason: human-readable explanation (printable to the end user or the model).
        violation_id: the id under which the decision sits in the audit trail (governance feed
            ``search=``); ``None`` when no server decision exists (enforcer unreachable, auth failure).
        tool_name: the tool that was stopped.
        decision: the server decision that stopped it: ``BLOCK``, ``DEFER`` or ``STEP_UP``.
        decision_reason_code: stable machine code, e.g. ``policy_scope_violation``; SDK-side failures use
            ``enforcer_unavailable`` and ``enforcer_auth_failed`` (and, with ``verify_receipts``,
            ``receipt_invalid`` and ``receipt_keys_unavailable``).
    """

    def __init__(
        self,
        reason: str,
        *,
        violation_id: str | None = None,
        tool_name: str = "",
        decision: str = "BLOCK",
        decision_reason_code: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.violation_id = violation_id
        self.tool_name = tool_name
        self.decision = decision
        self.decision_reason_code = decision_reason_code

    def __repr__(self) -> str:
        return (
            f"ThothPolicyViolation(reason={self.reason!r}, violation_id={self.violation_id!r}, "
            f"tool_name={self.tool_name!r}, decision={self.decision!r}, "
            f"decision_reason_code={self.decision_reason_code!r})"
        )


class ThothConfigurationError(ValueError):
    """Instrumentation was asked for with settings that cannot work (no URL, no key, unknown mode).

    Raised at ``instrument()`` time rather than at the first tool call, so a misconfigured agent fails
    in its start-up path instead of silently running ungoverned.
    """
