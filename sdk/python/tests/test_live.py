"""Every decision type against the real embedded server (policy in conftest.POLICY)."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any

import pytest
from conftest import ThothServer

import thoth
from thoth import ThothPolicyViolation, instrument, instrument_anthropic, instrument_openai

POLL = 0.2  # step-up poll interval for tests (the default is 5 s)


class Tool:
    def __init__(self, name: str, fn: Any) -> None:
        self.name = name
        self.fn = fn
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def run(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return self.fn(*args, **kwargs)


class Agent:
    def __init__(self, *tools: Tool) -> None:
        self.tools = list(tools)


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


class InvoiceLikeAgent:
    tools = [Tool("search_docs", lambda q: f"Found 3 docs matching: {q}"), Tool("submit_payment", echo)]


def governed(server: ThothServer, *names: str, **options: Any) -> Agent:
    """A fresh agent (own agent id and session, so session risk never leaks between tests)."""
    agent = Agent(*(Tool(name, echo) for name in names))
    options.setdefault("approved_scope", list(names))
    options.setdefault("step_up_poll_interval_seconds", POLL)
    return instrument(
        agent,
        agent_id=f"py-test-{uuid.uuid4().hex[:8]}",
        tenant_id="acme-corp",
        api_url=server.url,
        api_key=server.key,
        **options,
    )


def test_allow_runs_the_tool(thoth_server: ThothServer) -> None:
    agent = governed(thoth_server, "search_docs")
    assert agent.tools[0].run("quarterly report", limit=3) == {"args": ["quarterly report"], "kwargs": {"limit": 3}}


def test_out_of_scope_is_blocked_before_running(thoth_server: ThothServer) -> None:
    agent = governed(thoth_server, "search_docs", "submit_payment", approved_scope=["search_docs"])
    with pytest.raises(ThothPolicyViolation) as info:
        agent.tools[1].run("INV-001", 1500.00)
    error = info.value
    assert error.decision == "BLOCK"
    assert error.decision_reason_code == "policy_scope_violation"
    assert error.tool_name == "submit_payment"
    assert error.violation_id
    assert "submit_payment" in error.reason
    assert agent.tools[1].calls == []


def test_policy_rule_block(thoth_server: ThothServer) -> None:
    agent = governed(thoth_server, "submit_payment")
    assert agent.tools[0].run("INV-1", amount=50)["kwargs"] == {"amount": 50}
    with pytest.raises(ThothPolicyViolation) as info:
        agent.tools[0].run("INV-2", amount=20_000)
    assert info.value.decision_reason_code == "payment_limit"
    assert info.value.reason == "payments above 10,000 are blocked"


def test_modify_rewrites_keyword_arguments(thoth_server: ThothServer) -> None:
    agent = governed(thoth_server, "charge_card")
    result = agent.tools[0].run("INV-9", card_number="4111111111111111", amount=12)
    assert result == {"args": ["INV-9"], "kwargs": {"card_number": "[REDACTED]", "amount": 12}}


def test_modify_replaces_a_single_dict_argument(thoth_server: ThothServer) -> None:
    agent = governed(thoth_server, "update_record")
    result = agent.tools[0].run({"name": "Ada", "ssn": "123-45-6789"})
    assert result == {"args": [{"name": "Ada", "source": "thoth"}], "kwargs": {}}


def test_defer_raises_with_the_retry_delay(thoth_server: ThothServer) -> None:
    agent = governed(thoth_server, "export_records")
    with pytest.raises(ThothPolicyViolation) as info:
        agent.tools[0].run("all")
    assert info.value.decision == "DEFER"
    assert "retry in 45 s" in info.value.reason
    assert info.value.violation_id
    assert agent.tools[0].calls == []


def _resolve_when_pending(server: ThothServer, holder: dict[str, Any], decision: str) -> threading.Thread:
    """Approves/denies the first pending wire_transfer approval of the holder's agent, from another thread."""

    def worker() -> None:
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status, body = server.http("GET", "/acme-corp/thoth/approvals?status=pending", key=server.approver_key)
            for item in body["data"]:
                if item["agent_id"] == holder["agent_id"]:
                    holder["approval"] = item
                    server.resolve(item["id"], decision)
                    return
            time.sleep(0.1)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    return thread


def _wire_transfer_resolved_by_a_person(
    thoth_server: ThothServer, decision: str
) -> tuple[Any, dict[str, Any], threading.Thread]:
    """An agent whose ``wire_transfer`` steps up, and a person who resolves its approval with ``decision``."""
    agent_id = f"py-stepup-{uuid.uuid4().hex[:8]}"
    agent = instrument(
        Agent(Tool("wire_transfer", echo)),
        agent_id=agent_id,
        approved_scope=["wire_transfer"],
        tenant_id="acme-corp",
        api_url=thoth_server.url,
        api_key=thoth_server.key,
        step_up_poll_interval_seconds=POLL,
    )
    holder: dict[str, Any] = {"agent_id": agent_id}
    return agent, holder, _resolve_when_pending(thoth_server, holder, decision)


def test_step_up_approved_runs_the_tool(thoth_server: ThothServer) -> None:
    agent, holder, thread = _wire_transfer_resolved_by_a_person(thoth_server, "approve")
    assert agent.tools[0].run("ACME", 250) == {"args": ["ACME", 250], "kwargs": {}}
    thread.join(5)
    assert holder["approval"]["tool_name"] == "wire_transfer"


def test_step_up_denied_raises(thoth_server: ThothServer) -> None:
    agent, holder, thread = _wire_transfer_resolved_by_a_person(thoth_server, "deny")
    with pytest.raises(ThothPolicyViolation) as info:
        agent.tools[0].run("ACME", 250)
    thread.join(5)
    assert info.value.decision == "STEP_UP"
    assert "denied" in info.value.reason
    assert info.value.violation_id == holder["approval"]["violation_id"]
    assert agent.tools[0].calls == []


def test_step_up_times_out_on_the_sdk_side(thoth_server: ThothServer) -> None:
    agent = governed(thoth_server, "wire_transfer", step_up_timeout_seconds=1)
    with pytest.raises(ThothPolicyViolation) as info:
        agent.tools[0].run("ACME", 250)
    assert info.value.decision == "STEP_UP"
    assert "timed out after 1 s" in info.value.reason
    assert agent.tools[0].calls == []
    # The person never answered: the approval is still pending on the server, under the same violation id.
    assert thoth_server.pending_approval(info.value.violation_id)["tool_name"] == "wire_transfer"


def test_step_up_expired_on_the_server_side(thoth_server: ThothServer) -> None:
    agent = governed(thoth_server, "quick_wire")  # the rule's hold expires after 1 s
    with pytest.raises(ThothPolicyViolation) as info:
        agent.tools[0].run("ACME", 250)
    assert info.value.decision == "STEP_UP"
    assert "expired" in info.value.reason
    assert agent.tools[0].calls == []


def test_wrong_key_blocks_even_when_fail_open(thoth_server: ThothServer) -> None:
    agent = Agent(Tool("search_docs", echo))
    instrument(
        agent,
        agent_id="py-wrong-key",
        approved_scope=["search_docs"],
        tenant_id="acme-corp",
        api_url=thoth_server.url,
        api_key="thoth_live_not_a_real_key_0000000000",
        fail_open=True,
        telemetry=False,
    )
    with pytest.raises(ThothPolicyViolation) as info:
        agent.tools[0].run("x")
    assert info.value.decision_reason_code == "enforcer_auth_failed"
    assert "401" in info.value.reason
    assert agent.tools[0].calls == []


def test_async_tools_are_governed(thoth_server: ThothServer) -> None:
    class AsyncTool:
        name = "search_docs"

        async def run(self, query: str) -> str:
            await asyncio.sleep(0)
            return f"async {query}"

    class AsyncAgent:
        tools = [AsyncTool(), AsyncTool()]

    AsyncAgent.tools[1].name = "submit_payment"
    agent = instrument(
        AsyncAgent(),
        agent_id="py-async",
        approved_scope=["search_docs"],
        tenant_id="acme-corp",
        api_url=thoth_server.url,
        api_key=thoth_server.key,
    )

    async def main() -> None:
        assert await agent.tools[0].run("q") == "async q"
        with pytest.raises(ThothPolicyViolation):
            await agent.tools[1].run("q")

    asyncio.run(main())


def test_anthropic_and_openai_tool_maps(thoth_server: ThothServer) -> None:
    def get_weather(location: str, unit: str = "c") -> str:
        return f"18{unit} in {location}"

    def charge_card(card_number: str, amount: int) -> str:
        return f"charged {amount} to {card_number}"

    options = dict(
        approved_scope=["get_weather", "charge_card"],
        tenant_id="acme-corp",
        api_url=thoth_server.url,
        api_key=thoth_server.key,
    )
    anthropic_tools = instrument_anthropic(
        {"get_weather": get_weather, "charge_card": charge_card}, agent_id="py-anthropic", **options
    )
    assert anthropic_tools["get_weather"]({"location": "Paris"}) == "18c in Paris"
    assert anthropic_tools["charge_card"]({"card_number": "4111", "amount": 3}) == "charged 3 to [REDACTED]"

    openai_tools = instrument_openai([get_weather, charge_card], agent_id="py-openai", **options)
    assert openai_tools["get_weather"](json.dumps({"location": "Oslo", "unit": "f"})) == "18f in Oslo"
    with pytest.raises(ThothPolicyViolation):
        instrument_openai([get_weather], agent_id="py-openai-2", **{**options, "approved_scope": ["x"]})["get_weather"](
            '{"location": "Rome"}'
        )


def test_events_arrive_pre_then_post(thoth_server: ThothServer) -> None:
    session_id = f"py-session-{uuid.uuid4().hex}"
    agent = instrument(
        InvoiceLikeAgent(),
        agent_id=f"py-events-{uuid.uuid4().hex[:8]}",
        approved_scope=["search_docs"],
        tenant_id="acme-corp",
        api_url=thoth_server.url,
        api_key=thoth_server.key,
        session_id=session_id,
    )
    agent.tools[0].run("quarterly report")
    with pytest.raises(ThothPolicyViolation) as info:
        agent.tools[1].run("INV-001", 1500.00)
    assert thoth.flush(5.0)

    def complete(data: list[dict[str, Any]]) -> bool:
        types = [item["event_type"] for item in data]
        return {"TOOL_CALL_PRE", "TOOL_CALL_POST", "TOOL_CALL_BLOCK"} <= set(types) and types.count(
            "TOOL_CALL_PRE"
        ) == 2

    # In arrival order (the agent's evidence chain): PRE and POST of a fast call can share a millisecond.
    data = thoth_server.wait_feed(
        complete, session_id=session_id, sort_by="chain_index", sort_dir="asc", per_page="100"
    )
    behavioral = [item for item in data if item["event_type"].startswith("TOOL_CALL_")]
    search = [item for item in behavioral if item["tool_name"] == "search_docs"]
    assert [item["event_type"] for item in search] == ["TOOL_CALL_PRE", "TOOL_CALL_POST"]
    pre_meta = json.loads(search[0]["record"]["metadata_json"])
    post_meta = json.loads(search[1]["record"]["metadata_json"])
    assert pre_meta["sdk_language"] == "python" and pre_meta["event_phase"] == "pre"
    assert post_meta["event_phase"] == "post" and post_meta["duration_ms"] >= 0
    assert pre_meta["enforcement_trace_id"] == post_meta["enforcement_trace_id"]
    assert search[0]["event_id"].startswith("acme-corp:")
    assert search[1]["content"] == "Found 3 docs matching: quarterly report"
    blocked = [item for item in behavioral if item["tool_name"] == "submit_payment"]
    assert [item["event_type"] for item in blocked] == ["TOOL_CALL_PRE", "TOOL_CALL_BLOCK"]
    assert blocked[1]["violation_id"] == info.value.violation_id
