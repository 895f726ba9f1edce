"""How `instrument` wraps `agent.tools`: class-level shared tools, instance lists, callables, re-instrumenting."""

from __future__ import annotations

from typing import Any

from conftest import StubEnforcer

from thoth import instrument


def search_docs(query: str) -> str:
    return f"Found 3 docs matching: {query}"


class InvoiceAgent:
    class Tool:
        def __init__(self, name: str, fn: Any) -> None:
            self.name = name
            self.fn = fn

        def run(self, *args: Any, **kwargs: Any) -> Any:
            return self.fn(*args, **kwargs)

    tools = [Tool("search_docs", search_docs)]


def _instrument(agent: Any, stub: StubEnforcer, agent_id: str = "py-wrap") -> Any:
    return instrument(
        agent,
        agent_id=agent_id,
        approved_scope=["search_docs"],
        tenant_id="acme-corp",
        api_url=stub.url,
        api_key="k",
        telemetry=False,
    )


def test_class_attribute_tools_are_governed_per_instance(stub: StubEnforcer) -> None:
    shared_tool = InvoiceAgent.tools[0]
    governed, other = InvoiceAgent(), InvoiceAgent()
    assert _instrument(governed, stub) is governed

    assert governed.tools[0].run("q") == "Found 3 docs matching: q"
    assert len(stub.enforce_requests()) == 1
    # The class, its Tool objects and other instances are untouched.
    assert InvoiceAgent.tools[0] is shared_tool and "run" not in vars(shared_tool)
    assert other.tools[0] is shared_tool
    other.tools[0].run("q")
    assert len(stub.enforce_requests()) == 1
    # The governed copy still looks like the tool.
    assert governed.tools[0].name == "search_docs" and isinstance(governed.tools[0], InvoiceAgent.Tool)


def test_instrumenting_twice_never_stacks_wrappers(stub: StubEnforcer) -> None:
    agent = InvoiceAgent()
    _instrument(agent, stub, "first")
    _instrument(agent, stub, "second")
    agent.tools[0].run("q")
    requests = stub.enforce_requests()
    assert len(requests) == 1
    assert requests[0]["body"]["agent_id"] == "second"  # the latest settings win


def test_two_agents_sharing_class_tools_keep_their_own_ids(stub: StubEnforcer) -> None:
    a, b = _instrument(InvoiceAgent(), stub, "agent-a"), _instrument(InvoiceAgent(), stub, "agent-b")
    a.tools[0].run("q")
    b.tools[0].run("q")
    assert [r["body"]["agent_id"] for r in stub.enforce_requests()] == ["agent-a", "agent-b"]


def test_instance_lists_are_updated_in_place_and_callables_are_governed(stub: StubEnforcer) -> None:
    class Agent:
        def __init__(self) -> None:
            self.tools = [search_docs, InvoiceAgent.Tool("search_docs", search_docs)]

    agent = Agent()
    same_list = agent.tools
    _instrument(agent, stub)
    assert agent.tools is same_list
    assert same_list[0]("a") == "Found 3 docs matching: a"
    assert same_list[0].__name__ == "search_docs"
    assert same_list[1].run("b") == "Found 3 docs matching: b"
    assert [r["body"]["tool_name"] for r in stub.enforce_requests()] == ["search_docs", "search_docs"]


def test_dict_of_tools(stub: StubEnforcer) -> None:
    class Agent:
        tools = {"search_docs": search_docs}

    agent = _instrument(Agent(), stub)
    assert agent.tools["search_docs"]("x") == "Found 3 docs matching: x"
    assert Agent.tools["search_docs"] is search_docs
    assert len(stub.enforce_requests()) == 1
