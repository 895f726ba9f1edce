"""The documented tool-use loops, verbatim, with the real `anthropic` and `openai` clients.

`examples/anthropic_tool_use.py` is the product documentation's Anthropic example (README shows it as is);
`examples/openai_function_calling.py` is the same loop for OpenAI's function calling. Each runs unchanged:
the model client is pointed at a loopback stand-in of its API through the client's own environment
variable (``ANTHROPIC_BASE_URL`` / ``OPENAI_BASE_URL``), and governance runs against the embedded Thoth
server (``THOTH_API_URL`` / ``THOTH_API_KEY``). The out-of-scope runs use the same file with one more tool
added to ``tool_fns`` and to the tool declarations, nothing else changed.

The clients are test requirements (CI installs them, see README "Development"): when one is missing these
tests fail, they never skip.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import SDK_DIR, ThothServer
from model_apis import FakeChatCompletionsApi, FakeMessagesApi

import thoth
from thoth import ThothPolicyViolation

EXAMPLES = SDK_DIR / "examples"
ANTHROPIC_EXAMPLE = EXAMPLES / "anthropic_tool_use.py"
OPENAI_EXAMPLE = EXAMPLES / "openai_function_calling.py"
PIP_LINE = "python3 -m pip install 'anthropic==2.17.0' 'openai==3.60.0'"

SEARCH = ("search_docs", {"query": "quarterly report"})
PAYMENT = ("submit_payment", {"invoice_id": "INV-001", "amount": 1500})

# The out-of-scope variant: the documented file plus a second tool the agent is not approved for.
EXTRA_TOOL_FN = (
    '    "search_docs": lambda input: f"Results for: {input[\'query\']}",\n}',
    '    "search_docs": lambda input: f"Results for: {input[\'query\']}",\n'
    '    "submit_payment": lambda input: PAID.append(input) or f"Paid {input[\'amount\']}",\n}',
)
PAYMENT_SCHEMA = {
    "type": "object",
    "properties": {"invoice_id": {"type": "string"}, "amount": {"type": "number"}},
    "required": ["invoice_id", "amount"],
}
EXTRA_ANTHROPIC_TOOL = (
    "\nmessages = [",
    "\ntools.append({'name': 'submit_payment', 'description': 'Pay an invoice', "
    f"'input_schema': {PAYMENT_SCHEMA!r}}})\nmessages = [",
)
EXTRA_OPENAI_TOOL = (
    "\nmessages = [",
    "\ntools.append({'type': 'function', 'function': {'name': 'submit_payment', 'description': 'Pay an invoice', "
    f"'parameters': {PAYMENT_SCHEMA!r}}}}})\nmessages = [",
)


def _require_client(module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as error:
        pytest.fail(f"the `{module}` package is required by these tests ({error}); install: {PIP_LINE}")


@pytest.fixture
def loop_env(thoth_server: ThothServer, monkeypatch: pytest.MonkeyPatch) -> ThothServer:
    """The environment the documented examples read: Thoth's URL and key, and model API keys."""
    monkeypatch.setenv("THOTH_API_URL", thoth_server.url)
    monkeypatch.setenv("THOTH_API_KEY", thoth_server.key)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    for name in (
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_PROFILE",
        "ANTHROPIC_CUSTOM_HEADERS",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "OPENAI_ADMIN_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    return thoth_server


@pytest.fixture
def messages_api(loop_env: ThothServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeMessagesApi]]:
    _require_client("anthropic")
    started: list[FakeMessagesApi] = []

    def start(*tool_calls: tuple[str, dict[str, Any]]) -> FakeMessagesApi:
        api = FakeMessagesApi(tool_calls)
        started.append(api)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        return api

    yield start
    for api in started:
        api.close()


@pytest.fixture
def chat_api(loop_env: ThothServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeChatCompletionsApi]]:
    _require_client("openai")
    started: list[FakeChatCompletionsApi] = []

    def start(*tool_calls: tuple[str, dict[str, Any]]) -> FakeChatCompletionsApi:
        api = FakeChatCompletionsApi(tool_calls)
        started.append(api)
        monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
        return api

    yield start
    for api in started:
        api.close()


def run_example(path: Path, *replacements: tuple[str, str], **names: Any) -> dict[str, Any]:
    """Runs an example file as ``__main__`` (after exact, single-occurrence ``replacements``; none = verbatim)
    and returns its globals."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(path), **names}
    _exec(path, namespace, replacements)
    return namespace


def run_example_raising(
    path: Path, error_type: type[BaseException], *replacements: tuple[str, str], **names: Any
) -> tuple[dict[str, Any], BaseException]:
    """`run_example` for a run that must raise ``error_type``: its globals as far as it got, and the error."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(path), **names}
    with pytest.raises(error_type) as info:
        _exec(path, namespace, replacements)
    return namespace, info.value


def _exec(path: Path, namespace: dict[str, Any], replacements: tuple[tuple[str, str], ...]) -> None:
    source = path.read_text()
    for old, new in replacements:
        assert source.count(old) == 1, f"{path.name} no longer contains {old!r} exactly once"
        source = source.replace(old, new)
    exec(compile(source, str(path), "exec"), namespace)


def session_of(governed_fns: Mapping[str, Any]) -> str:
    return next(iter(governed_fns.values())).__thoth_governor__.config.session_id


def trail(server: ThothServer, session_id: str, expected: Callable[[list[dict[str, Any]]], bool]) -> list[dict]:
    """The session's events (behavioral and decisions) once ``expected(events)`` holds."""
    assert thoth.flush(5.0)
    return server.wait_feed(expected, session_id=session_id, sort_by="occurred_at", sort_dir="asc", per_page="100")


def by_trace(events: list[dict[str, Any]], tool_name: str) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if event["tool_name"] == tool_name:
            groups.setdefault(event["enforcement_trace_id"], []).append(event)
    return groups


def has_types(tool_name: str, *types: str) -> Callable[[list[dict[str, Any]]], bool]:
    def check(events: list[dict[str, Any]]) -> bool:
        return set(types) <= {e["event_type"] for e in events if e["tool_name"] == tool_name}

    return check


def assert_allowed_call_in_trail(events: list[dict[str, Any]], output: str) -> None:
    """search_docs ran once: PRE, the ALLOW decision and POST, tied by one enforcement trace id."""
    (trace_id, call), *others = by_trace(events, "search_docs").items()
    assert not others, events
    assert trace_id
    assert sorted(e["event_type"] for e in call) == ["DECISION", "TOOL_CALL_POST", "TOOL_CALL_PRE"]
    decision = next(e for e in call if e["event_type"] == "DECISION")
    assert decision["decision"] == "ALLOW"
    assert decision["agent_id"] == "invoice-processor-v2"
    pre = next(e for e in call if e["event_type"] == "TOOL_CALL_PRE")
    pre_meta = json.loads(pre["record"]["metadata_json"])
    # The model's input reached Thoth as named fields (what policies read as args.query).
    assert pre_meta["tool_args"] == {"args": [], "kwargs": {"query": "quarterly report"}}
    post = next(e for e in call if e["event_type"] == "TOOL_CALL_POST")
    assert post["content"] == output
    assert json.loads(post["record"]["metadata_json"])["status"] == "ok"


def assert_blocked_call_in_trail(events: list[dict[str, Any]], violation: ThothPolicyViolation) -> None:
    (trace_id, call), *others = by_trace(events, "submit_payment").items()
    assert not others, events
    assert sorted(e["event_type"] for e in call) == ["DECISION", "TOOL_CALL_BLOCK", "TOOL_CALL_PRE"]
    decision = next(e for e in call if e["event_type"] == "DECISION")
    assert decision["decision"] == "BLOCK"
    assert decision["violation_id"] == violation.violation_id
    assert decision["reason_code"] == "policy_scope_violation"
    block = next(e for e in call if e["event_type"] == "TOOL_CALL_BLOCK")
    assert block["violation_id"] == violation.violation_id


# -- Anthropic --------------------------------------------------------------------------------------------


def test_the_documented_anthropic_loop_runs_verbatim(
    messages_api: Callable[..., FakeMessagesApi], loop_env: ThothServer, capsys: pytest.CaptureFixture[str]
) -> None:
    api = messages_api(SEARCH)
    namespace = run_example(ANTHROPIC_EXAMPLE)

    # The loop ended on end_turn after one round trip, and sent back the governed tool's output.
    assert namespace["response"].stop_reason == "end_turn"
    assert api.errors == []
    assert api.api_key == "sk-ant-test-not-a-real-key"
    assert api.requests[0]["headers"]["user-agent"].startswith("Anthropic/Python ")  # the real client
    assert len(api.requests) == 2
    first_call = api.requests[0]["body"]
    assert [tool["name"] for tool in first_call["tools"]] == ["search_docs"]
    tool_use = next(b for b in api.requests[1]["body"]["messages"][1]["content"] if b["type"] == "tool_use")
    assert tool_use["name"] == "search_docs" and tool_use["input"] == {"query": "quarterly report"}
    assert [(r["tool_use_id"], r["content"]) for r in api.tool_results] == [
        (tool_use["id"], "Results for: quarterly report")
    ]
    assert capsys.readouterr().out == "Results for: quarterly report\n"

    session_id = session_of(namespace["governed_fns"])
    events = trail(loop_env, session_id, has_types("search_docs", "TOOL_CALL_POST", "DECISION"))
    assert_allowed_call_in_trail(events, "Results for: quarterly report")


def test_an_out_of_scope_tool_in_the_anthropic_loop_raises(
    messages_api: Callable[..., FakeMessagesApi], loop_env: ThothServer
) -> None:
    api = messages_api(SEARCH, PAYMENT)
    paid: list[Any] = []
    namespace, error = run_example_raising(
        ANTHROPIC_EXAMPLE, ThothPolicyViolation, EXTRA_TOOL_FN, EXTRA_ANTHROPIC_TOOL, PAID=paid
    )

    assert isinstance(error, ThothPolicyViolation)
    assert error.tool_name == "submit_payment"
    assert error.decision == "BLOCK" and error.decision_reason_code == "policy_scope_violation"
    assert re.fullmatch(r"[0-9A-Za-z_-]{8,}", error.violation_id or ""), error.violation_id
    assert paid == []  # the tool never ran
    assert len(api.requests) == 1  # the loop stopped at the refused call
    assert api.errors == []
    # search_docs, asked for first in the same response, did run.
    assert namespace["tool_results"][0]["content"] == "Results for: quarterly report"

    events = trail(
        loop_env,
        session_of(namespace["governed_fns"]),
        lambda items: (
            has_types("submit_payment", "TOOL_CALL_BLOCK", "DECISION")(items)
            and has_types("search_docs", "TOOL_CALL_POST", "DECISION")(items)
        ),
    )
    assert_blocked_call_in_trail(events, error)
    assert_allowed_call_in_trail(events, "Results for: quarterly report")


# -- OpenAI -----------------------------------------------------------------------------------------------


def test_the_openai_function_calling_loop_runs_verbatim(
    chat_api: Callable[..., FakeChatCompletionsApi], loop_env: ThothServer, capsys: pytest.CaptureFixture[str]
) -> None:
    api = chat_api(SEARCH)
    namespace = run_example(OPENAI_EXAMPLE)

    assert namespace["response"].choices[0].finish_reason == "stop"
    assert api.errors == []
    assert api.api_key == "sk-test-not-a-real-key"
    assert api.requests[0]["headers"]["user-agent"].startswith("OpenAI/Python ")  # the real client
    assert len(api.requests) == 2
    assistant = api.requests[1]["body"]["messages"][1]
    (call,) = assistant["tool_calls"]
    assert call["function"] == {"name": "search_docs", "arguments": '{"query": "quarterly report"}'}
    assert [(m["tool_call_id"], m["content"]) for m in api.tool_messages] == [
        (call["id"], "Results for: quarterly report")
    ]
    assert capsys.readouterr().out == "Results for: quarterly report\n"

    session_id = session_of(namespace["governed_fns"])
    events = trail(loop_env, session_id, has_types("search_docs", "TOOL_CALL_POST", "DECISION"))
    assert_allowed_call_in_trail(events, "Results for: quarterly report")


def test_an_out_of_scope_tool_in_the_openai_loop_raises(
    chat_api: Callable[..., FakeChatCompletionsApi], loop_env: ThothServer
) -> None:
    api = chat_api(SEARCH, PAYMENT)
    paid: list[Any] = []
    namespace, error = run_example_raising(
        OPENAI_EXAMPLE, ThothPolicyViolation, EXTRA_TOOL_FN, EXTRA_OPENAI_TOOL, PAID=paid
    )

    assert isinstance(error, ThothPolicyViolation)
    assert error.tool_name == "submit_payment"
    assert error.decision == "BLOCK" and error.decision_reason_code == "policy_scope_violation"
    assert re.fullmatch(r"[0-9A-Za-z_-]{8,}", error.violation_id or ""), error.violation_id
    assert paid == []
    assert len(api.requests) == 1
    assert api.errors == []
    assert namespace["messages"][-1] == {
        "role": "tool",
        "tool_call_id": namespace["message"].tool_calls[0].id,
        "content": "Results for: quarterly report",
    }

    events = trail(
        loop_env,
        session_of(namespace["governed_fns"]),
        lambda items: (
            has_types("submit_payment", "TOOL_CALL_BLOCK", "DECISION")(items)
            and has_types("search_docs", "TOOL_CALL_POST", "DECISION")(items)
        ),
    )
    assert_blocked_call_in_trail(events, error)
    assert_allowed_call_in_trail(events, "Results for: quarterly report")


# -- the README shows these files as they are ---------------------------------------------------------------


@pytest.mark.parametrize("example", [ANTHROPIC_EXAMPLE, OPENAI_EXAMPLE], ids=lambda p: p.name)
def test_readme_shows_the_example_as_is(example: Path) -> None:
    readme = (SDK_DIR / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert example.read_text() in blocks, f"README.md must show {example.name} verbatim in a ```python block"
