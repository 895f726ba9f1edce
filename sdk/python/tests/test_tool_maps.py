"""How `instrument_anthropic` / `instrument_openai` call a tool: the input dict itself, or its fields by name.

The rule (decided once, from the signature, when the map is wrapped) is checked against a stub enforcer;
policies reading ``args.<field>`` and MODIFY rewriting the fields are checked against the real server
(policy in conftest.POLICY), for both calling styles and both entry points.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import Any, Optional, TypedDict

import pytest
from conftest import StubEnforcer, ThothServer

from thoth import ThothPolicyViolation, instrument_anthropic, instrument_openai


class SearchInput(TypedDict):
    query: str


def _stub_options(stub: StubEnforcer) -> dict[str, Any]:
    return dict(
        agent_id="py-tool-maps",
        approved_scope=["t"],
        tenant_id="acme-corp",
        api_url=stub.url,
        api_key="k",
        telemetry=False,
    )


def _unannotated(input):  # noqa: A002 - the documentation's name
    return ("whole", input)


def _dict_annotated(tool_input: dict) -> Any:
    return ("whole", tool_input)


def _mapping_annotated(tool_input: Mapping[str, Any]) -> Any:
    return ("whole", dict(tool_input))


def _typed_dict(tool_input: SearchInput) -> Any:
    return ("whole", tool_input)


def _optional_dict(tool_input: Optional[dict[str, Any]]) -> Any:  # noqa: UP045 - the spelling under test
    return ("whole", tool_input)


def _one_field_annotated(query: str) -> Any:
    return ("fields", {"query": query})


def _keyword_only(*, query):
    return ("fields", {"query": query})


def _fields(query, limit=10):
    return ("fields", {"query": query, "limit": limit})


def _var_keyword(**fields):
    return ("fields", fields)


class _CallableTool:
    def __call__(self, input):  # noqa: A002
        return ("whole", input)


WHOLE = [
    pytest.param(lambda input: ("whole", input), id="lambda input"),
    pytest.param(_unannotated, id="def f(input)"),
    pytest.param(_dict_annotated, id="def f(x: dict)"),
    pytest.param(_mapping_annotated, id="def f(x: Mapping[str, Any])"),
    pytest.param(_typed_dict, id="def f(x: TypedDict)"),
    pytest.param(_optional_dict, id="def f(x: Optional[dict])"),
    pytest.param(_CallableTool(), id="callable object"),
]
FIELDS = [
    pytest.param(_one_field_annotated, id="def f(query: str)"),
    pytest.param(_keyword_only, id="def f(*, query)"),
    pytest.param(_fields, id="def f(query, limit=10)"),
    pytest.param(_var_keyword, id="def f(**fields)"),
]


@pytest.mark.parametrize("fn", WHOLE)
@pytest.mark.parametrize("instrument", [instrument_anthropic, instrument_openai])
def test_one_positional_parameter_receives_the_input_dict(stub: StubEnforcer, instrument: Any, fn: Any) -> None:
    governed = instrument({"t": fn}, **_stub_options(stub))["t"]
    assert governed({"query": "q"}) == ("whole", {"query": "q"})
    if instrument is instrument_openai:
        assert governed('{"query": "json"}') == ("whole", {"query": "json"})
    # What Thoth is asked about is the fields by name, whatever the calling style.
    assert stub.enforce_requests()[0]["body"]["tool_args"] == {"args": [], "kwargs": {"query": "q"}}


@pytest.mark.parametrize("fn", FIELDS)
@pytest.mark.parametrize("instrument", [instrument_anthropic, instrument_openai])
def test_parameters_naming_the_fields_receive_keyword_arguments(stub: StubEnforcer, instrument: Any, fn: Any) -> None:
    governed = instrument({"t": fn}, **_stub_options(stub))["t"]
    expected = {"query": "q", "limit": 10} if fn is _fields else {"query": "q"}
    assert governed({"query": "q"}) == ("fields", expected)
    if instrument is instrument_openai:
        assert governed('{"query": "q"}') == ("fields", expected)
    assert stub.enforce_requests()[0]["body"]["tool_args"] == {"args": [], "kwargs": {"query": "q"}}


def test_the_style_is_decided_once_at_wrap_time(stub: StubEnforcer) -> None:
    # An input whose field happens to be called like the parameter still arrives as the whole dict.
    governed = instrument_anthropic({"t": lambda input: input}, **_stub_options(stub))["t"]
    assert governed({"input": 1}) == {"input": 1}
    assert governed({}) == {}
    assert governed() == {}


def test_async_tools_keep_their_style(stub: StubEnforcer) -> None:
    async def whole(input):  # noqa: A002
        await asyncio.sleep(0)
        return ("whole", input)

    async def fields(query: str) -> Any:
        await asyncio.sleep(0)
        return ("fields", query)

    governed = instrument_anthropic({"t": whole, "u": fields}, **_stub_options(stub))

    async def main() -> None:
        assert await governed["t"]({"query": "q"}) == ("whole", {"query": "q"})
        assert await governed["u"]({"query": "q"}) == ("fields", "q")

    asyncio.run(main())


def test_the_tool_gets_its_own_copy_of_the_input(stub: StubEnforcer) -> None:
    seen: list[dict[str, Any]] = []
    governed = instrument_anthropic({"t": lambda input: seen.append(input)}, **_stub_options(stub))["t"]
    block_input = {"query": "q"}
    governed(block_input)
    assert seen == [block_input] and seen[0] is not block_input


# -- against the real server ---------------------------------------------------------------------------------


def _live(server: ThothServer, instrument: Any, tool_fns: dict[str, Any]) -> dict[str, Any]:
    return instrument(
        tool_fns,
        agent_id=f"py-tool-maps-{uuid.uuid4().hex[:8]}",
        approved_scope=list(tool_fns),
        tenant_id="acme-corp",
        api_url=server.url,
        api_key=server.key,
    )


def _as_sent(instrument: Any, fields: dict[str, Any]) -> Any:
    """The input as each loop hands it over: Anthropic's block.input dict, OpenAI's arguments JSON string."""
    return json.dumps(fields) if instrument is instrument_openai else fields


BOTH = pytest.mark.parametrize("instrument", [instrument_anthropic, instrument_openai])


@BOTH
def test_policies_see_the_fields_of_a_whole_dict_tool(thoth_server: ThothServer, instrument: Any) -> None:
    received: list[dict[str, Any]] = []
    governed = _live(thoth_server, instrument, {"submit_payment": lambda input: received.append(input) or "paid"})
    assert governed["submit_payment"](_as_sent(instrument, {"invoice_id": "INV-1", "amount": 50})) == "paid"
    with pytest.raises(ThothPolicyViolation) as info:  # block-large-payment: args.amount > 10000
        governed["submit_payment"](_as_sent(instrument, {"invoice_id": "INV-2", "amount": 20_000}))
    assert info.value.decision_reason_code == "payment_limit"
    assert info.value.violation_id
    assert received == [{"invoice_id": "INV-1", "amount": 50}]


@BOTH
def test_policies_see_the_fields_of_a_keyword_tool(thoth_server: ThothServer, instrument: Any) -> None:
    def submit_payment(invoice_id: str, amount: float) -> str:
        return f"paid {amount} for {invoice_id}"

    governed = _live(thoth_server, instrument, {"submit_payment": submit_payment})
    paid = governed["submit_payment"](_as_sent(instrument, {"invoice_id": "INV-1", "amount": 50}))
    assert paid == "paid 50 for INV-1"
    with pytest.raises(ThothPolicyViolation) as info:
        governed["submit_payment"](_as_sent(instrument, {"invoice_id": "INV-2", "amount": 20_000}))
    assert info.value.decision_reason_code == "payment_limit"


@BOTH
def test_modify_rewrites_the_fields_of_the_dict(thoth_server: ThothServer, instrument: Any) -> None:
    governed = _live(thoth_server, instrument, {"charge_card": lambda input: input, "update_record": lambda r: r})
    # redact-card: redact [card_number]
    charged = governed["charge_card"](_as_sent(instrument, {"card_number": "4111111111111111", "amount": 12}))
    assert charged == {"card_number": "[REDACTED]", "amount": 12}
    # scrub-record: remove [ssn], set {source: thoth}
    stored = governed["update_record"](_as_sent(instrument, {"name": "Ada", "ssn": "123-45-6789"}))
    assert stored == {"name": "Ada", "source": "thoth"}


@BOTH
def test_modify_rewrites_the_keyword_arguments(thoth_server: ThothServer, instrument: Any) -> None:
    def charge_card(card_number: str, amount: int) -> str:
        return f"charged {amount} to {card_number}"

    def update_record(**record: Any) -> dict[str, Any]:
        return record

    governed = _live(thoth_server, instrument, {"charge_card": charge_card, "update_record": update_record})
    charged = governed["charge_card"](_as_sent(instrument, {"card_number": "4111111111111111", "amount": 12}))
    assert charged == "charged 12 to [REDACTED]"
    stored = governed["update_record"](_as_sent(instrument, {"name": "Ada", "ssn": "123-45-6789"}))
    assert stored == {"name": "Ada", "source": "thoth"}
