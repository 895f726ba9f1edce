"""Thoth SDK for Python: runtime governance for AI agents' tool calls.

    from thoth import instrument, ThothPolicyViolation
    agent = instrument(agent, agent_id="invoice-processor-v2", approved_scope=["search_docs"],
                       tenant_id="acme-corp")   # THOTH_API_URL / THOTH_API_KEY from the environment

Standard library only (opt-in receipt verification needs `cryptography`). See README.md for options, fail-open
semantics and telemetry.
"""

from ._version import __version__
from .config import ThothConfig
from .errors import ThothConfigurationError, ThothPolicyViolation
from .instrument import instrument, instrument_anthropic, instrument_openai, instrument_with_config, wrap_tool
from .receipts import ReceiptVerification, verify_receipt
from .telemetry import flush

__all__ = [
    "ReceiptVerification",
    "ThothConfig",
    "ThothConfigurationError",
    "ThothPolicyViolation",
    "__version__",
    "flush",
    "instrument",
    "instrument_anthropic",
    "instrument_openai",
    "instrument_with_config",
    "verify_receipt",
    "wrap_tool",
]
