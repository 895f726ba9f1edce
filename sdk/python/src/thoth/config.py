"""Resolved settings of one instrumentation.

Everything `instrument()` and friends accept is validated once, here, into an immutable `ThothConfig`, so
the per-call path never re-reads the environment or re-checks options.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import ThothConfigurationError

ENFORCEMENT_MODES = ("observe", "progressive", "step_up", "block")
RECEIPT_MODES = ("off", "warn", "enforce")

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_STEP_UP_TIMEOUT_SECONDS = 900.0
DEFAULT_STEP_UP_POLL_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True)
class ThothConfig:
    """Settings of one governed agent (or tool map).

    Build one with `ThothConfig.resolve(...)` (which applies environment defaults and validates), or
    directly when every field is known. `instrument(...)` builds it for you; it is exported for code that
    governs single callables with `thoth.wrap_tool(name, fn, config)`.
    """

    agent_id: str
    tenant_id: str
    api_url: str
    api_key: str
    approved_scope: tuple[str, ...] = ()
    user_id: str = "system"
    enforcement: str = "progressive"
    fail_open: bool = True
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    purpose: str | None = None
    data_classification: str | None = None
    environment: str | None = None
    step_up_timeout_seconds: float = DEFAULT_STEP_UP_TIMEOUT_SECONDS
    step_up_poll_interval_seconds: float = DEFAULT_STEP_UP_POLL_INTERVAL_SECONDS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    telemetry: bool = True
    #: Verify the receipt of every enforce answer (docs/receipts.md): ``off``, ``warn`` or ``enforce``.
    verify_receipts: str = "off"

    def __post_init__(self) -> None:
        if not self.agent_id:
            raise ThothConfigurationError("thoth: agent_id is required")
        if not self.tenant_id:
            raise ThothConfigurationError("thoth: tenant_id is required")
        if not self.api_url:
            raise ThothConfigurationError(
                "thoth: no API URL: pass api_url=... or set THOTH_API_URL (e.g. http://127.0.0.1:8080)"
            )
        if not self.api_url.startswith(("http://", "https://")):
            raise ThothConfigurationError(f"thoth: api_url must start with http:// or https:// (got {self.api_url!r})")
        if not self.api_key:
            raise ThothConfigurationError("thoth: no API key: pass api_key=... or set THOTH_API_KEY")
        if self.enforcement not in ENFORCEMENT_MODES:
            raise ThothConfigurationError(
                f"thoth: enforcement must be one of {', '.join(ENFORCEMENT_MODES)} (got {self.enforcement!r})"
            )
        for name in ("step_up_timeout_seconds", "step_up_poll_interval_seconds", "timeout_seconds"):
            if not getattr(self, name) > 0:
                raise ThothConfigurationError(f"thoth: {name} must be > 0")
        if self.verify_receipts not in RECEIPT_MODES:
            raise ThothConfigurationError(
                f"thoth: verify_receipts must be one of {', '.join(RECEIPT_MODES)} (got {self.verify_receipts!r})"
            )
        if self.verify_receipts != "off":
            from .receipts import CryptographyMissing, cryptography_available

            if not cryptography_available():
                raise ThothConfigurationError(str(CryptographyMissing()))

    @classmethod
    def resolve(
        cls,
        *,
        agent_id: str,
        approved_scope: Iterable[str] | None,
        tenant_id: str,
        api_url: str | None = None,
        api_key: str | None = None,
        user_id: str = "system",
        enforcement: str = "progressive",
        fail_open: bool = True,
        session_id: str | None = None,
        purpose: str | None = None,
        data_classification: str | None = None,
        environment: str | None = None,
        step_up_timeout_seconds: float = DEFAULT_STEP_UP_TIMEOUT_SECONDS,
        step_up_poll_interval_seconds: float = DEFAULT_STEP_UP_POLL_INTERVAL_SECONDS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        telemetry: bool = True,
        verify_receipts: str = "off",
    ) -> ThothConfig:
        """Applies the environment defaults (`THOTH_API_URL`, `THOTH_API_KEY`) and validates."""
        if isinstance(approved_scope, str):
            # A bare string would otherwise become a scope of single characters.
            approved_scope = [approved_scope]
        mode = (enforcement or "progressive").lower().replace("-", "_")
        return cls(
            agent_id=agent_id,
            tenant_id=tenant_id,
            api_url=(api_url or os.environ.get("THOTH_API_URL") or "").rstrip("/"),
            api_key=api_key or os.environ.get("THOTH_API_KEY") or "",
            approved_scope=tuple(str(s) for s in (approved_scope or ())),
            user_id=user_id or "system",
            enforcement=mode,
            fail_open=bool(fail_open),
            session_id=session_id or str(uuid.uuid4()),
            purpose=purpose,
            data_classification=data_classification,
            environment=environment,
            step_up_timeout_seconds=float(step_up_timeout_seconds),
            step_up_poll_interval_seconds=float(step_up_poll_interval_seconds),
            timeout_seconds=float(timeout_seconds),
            telemetry=bool(telemetry),
            verify_receipts=verify_receipts.lower() if isinstance(verify_receipts, str) else verify_receipts,
        )

    def __repr__(self) -> str:
        # Never print the key (configs end up in logs and tracebacks).
        return (
            f"ThothConfig(agent_id={self.agent_id!r}, tenant_id={self.tenant_id!r}, api_url={self.api_url!r}, "
            f"enforcement={self.enforcement!r}, fail_open={self.fail_open!r}, session_id={self.session_id!r}, "
            f"verify_receipts={self.verify_receipts!r})"
        )
