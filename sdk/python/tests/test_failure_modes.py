"""Fail-open / fail-closed and the wire details, against an unreachable port and a scripted stub."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from conftest import StubEnforcer, free_port

from thoth import ThothConfigurationError, ThothPolicyViolation, instrument
from thoth import telemetry as telemetry_module


class Tool:
    def __init__(self, name: str) -> None:
        self.name = name
        self.runs = 0

    def run(self, *args: Any, **kwargs: Any) -> str:
        self.runs += 1
        return f"{self.name} ran"


class Agent:
    def __init__(self, *names: str) -> None:
        self.tools = [Tool(name) for name in names]


def _agent(url: str, **options: Any) -> Agent:
    options.setdefault("approved_scope", ["search_docs"])
    return instrument(
        Agent("search_docs"),
        agent_id="py-failure",
        tenant_id="acme-corp",
        api_url=url,
        api_key="thoth_test_key",
        **options,
    )


def _drop_sink(url: str) -> None:
    """Forget the queue of a dead URL so the exit flush does not wait on it."""
    sink = telemetry_module._sinks.pop((url, "thoth_test_key"), None)
    if sink is not None:
        sink.close(timeout=0)


def enforcer_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "thoth" and r.levelno == logging.WARNING and "enforcer" in r.message]


def test_unreachable_fails_open_with_one_warning_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    agent = _agent(url)
    with caplog.at_level(logging.WARNING, logger="thoth"):
        started = time.perf_counter()
        assert agent.tools[0].run("q") == "search_docs ran"
        assert agent.tools[0].run("q") == "search_docs ran"
        assert agent.tools[0].run("q") == "search_docs ran"
        assert time.perf_counter() - started < 2  # refused connections, telemetry off the critical path
    warnings = enforcer_warnings(caplog)
    assert len(warnings) == 1, [r.message for r in warnings]
    assert "fail_open=True" in warnings[0].message
    assert agent.tools[0].runs == 3
    _drop_sink(url)


def test_unreachable_with_fail_open_false_blocks() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    agent = _agent(url, fail_open=False)
    with pytest.raises(ThothPolicyViolation) as info:
        agent.tools[0].run("q")
    assert info.value.decision == "BLOCK"
    assert info.value.decision_reason_code == "enforcer_unavailable"
    assert info.value.violation_id is None
    assert agent.tools[0].runs == 0
    _drop_sink(url)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_overload_and_server_errors_fail_open(stub: StubEnforcer, status: int) -> None:
    stub.respond = lambda method, path, body: (status, {"error": "busy", "message": "try later"})
    agent = _agent(stub.url, telemetry=False)
    assert agent.tools[0].run("q") == "search_docs ran"
    with pytest.raises(ThothPolicyViolation):
        _agent(stub.url, telemetry=False, fail_open=False).tools[0].run("q")


def test_slow_enforcer_times_out_and_fails_open(stub: StubEnforcer) -> None:
    stub.delay = 1.0
    agent = _agent(stub.url, telemetry=False, timeout_seconds=0.3)
    started = time.perf_counter()
    assert agent.tools[0].run("q") == "search_docs ran"
    assert time.perf_counter() - started < 0.9


def test_403_blocks_even_when_fail_open(stub: StubEnforcer) -> None:
    stub.respond = lambda method, path, body: (403, {"error": "forbidden", "message": "key lacks execute"})
    agent = _agent(stub.url, telemetry=False)
    with pytest.raises(ThothPolicyViolation) as info:
        agent.tools[0].run("q")
    assert "key lacks execute" in info.value.reason
    assert agent.tools[0].runs == 0


def test_unknown_decision_blocks(stub: StubEnforcer) -> None:
    stub.respond = lambda method, path, body: (200, {"decision": "MAYBE", "reason": "?"})
    agent = _agent(stub.url, telemetry=False)
    with pytest.raises(ThothPolicyViolation):
        agent.tools[0].run("q")


def test_enforce_request_wire_shape(stub: StubEnforcer) -> None:
    agent = _agent(
        stub.url, telemetry=False, user_id="u-1", purpose="billing", session_id="s-42", enforcement="step_up"
    )
    agent.tools[0].run("q", 3, limit=5)
    agent.tools[0].run("again")
    first, second = (r for r in stub.enforce_requests())
    assert first["headers"].get("x-api-key") == "thoth_test_key"
    body = first["body"]
    assert body["tool_args"] == {"args": ["q", 3], "kwargs": {"limit": 5}}
    assert body["agent_id"] == "py-failure" and body["tenant_id"] == "acme-corp" and body["tool_name"] == "search_docs"
    assert body["session_id"] == "s-42" and body["user_id"] == "u-1" and body["purpose"] == "billing"
    assert body["enforcement_mode"] == "step_up" and body["approved_scope"] == ["search_docs"]
    assert body["session_tool_calls"] == ["search_docs"]
    assert second["body"]["session_tool_calls"] == ["search_docs", "search_docs"]
    assert body["enforcement_trace_id"] != second["body"]["enforcement_trace_id"]


def test_observe_mode_never_calls_enforce(stub: StubEnforcer) -> None:
    agent = _agent(stub.url, enforcement="observe")
    assert agent.tools[0].run("q") == "search_docs ran"
    assert stub.enforce_requests() == []


def test_events_are_a_bare_array_of_snake_case_events(stub: StubEnforcer) -> None:
    import thoth

    agent = _agent(stub.url)
    agent.tools[0].run("q")
    assert thoth.flush(5.0)
    events = [e for r in stub.requests if r["path"] == "/v1/events/batch" for e in r["body"]]
    assert [e["event_type"] for e in events if e["agent_id"] == "py-failure"][-2:] == [
        "TOOL_CALL_PRE",
        "TOOL_CALL_POST",
    ]
    event = events[-1]
    assert event["event_id"].startswith("acme-corp:")
    assert event["source_type"] == "agent_tool_call" and event["metadata"]["sdk_language"] == "python"
    assert event["occurred_at"].endswith("Z")
    for key in (
        "tenant_id",
        "agent_id",
        "session_id",
        "user_id",
        "tool_name",
        "content",
        "approved_scope",
        "enforcement_mode",
        "session_tool_calls",
    ):
        assert key in event


def test_telemetry_queue_drops_oldest_and_counts() -> None:
    from thoth.client import HttpClient

    sink = telemetry_module.EventSink(
        HttpClient(f"http://127.0.0.1:{free_port()}", "k", 0.2), max_queue=3, max_attempts=1, linger_seconds=5
    )
    for i in range(5):
        sink.emit({"n": i})
    assert sink.dropped_overflow >= 2
    sink.close(timeout=0)


def test_missing_url_or_key_fails_at_instrument_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THOTH_API_URL", raising=False)
    monkeypatch.delenv("THOTH_API_KEY", raising=False)
    with pytest.raises(ThothConfigurationError, match="THOTH_API_URL"):
        instrument(Agent("x"), agent_id="a", approved_scope=[], tenant_id="t")
    with pytest.raises(ThothConfigurationError, match="THOTH_API_KEY"):
        instrument(Agent("x"), agent_id="a", approved_scope=[], tenant_id="t", api_url="http://127.0.0.1:1")
    monkeypatch.setenv("THOTH_API_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("THOTH_API_KEY", "k")
    with pytest.raises(ThothConfigurationError, match="enforcement"):
        instrument(Agent("x"), agent_id="a", approved_scope=[], tenant_id="t", enforcement="strict")
    assert instrument(Agent("x"), agent_id="a", approved_scope=[], tenant_id="t", telemetry=False)
