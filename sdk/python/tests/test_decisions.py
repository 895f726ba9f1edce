"""Pure wire rules: decision parsing and the MODIFY apply rules of docs/protocol.md."""

from __future__ import annotations

import pytest

from thoth.decisions import (
    ModifyNotApplicable,
    apply_modified_args,
    call_tool_args,
    defer_message,
    parse_decision,
    to_jsonable,
)


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


def test_tool_args_are_always_args_and_kwargs() -> None:
    assert call_tool_args(("a", 1.5), {"x": (1, 2)}) == {"args": ["a", 1.5], "kwargs": {"x": [1, 2]}}
    assert call_tool_args((), {}) == {"args": []}


def test_to_jsonable_never_raises() -> None:
    assert to_jsonable({1: Opaque(), "f": float("nan"), "b": b"hi"}) == {"1": "opaque!", "f": "nan", "b": "hi"}


@pytest.mark.parametrize("value", ["WHATEVER", None, 7, "allow_with_warning"])
def test_unknown_decisions_are_blocks(value: object) -> None:
    decision = parse_decision({"decision": value, "reason": "r"})
    assert decision.decision == "BLOCK"


def test_lower_case_and_authorization_decision_fallback() -> None:
    assert parse_decision({"decision": "allow"}).decision == "ALLOW"
    assert parse_decision({"authorization_decision": "MODIFY"}).decision == "MODIFY"
    assert parse_decision(["not", "an", "object"]).decision == "BLOCK"


def test_defer_message_mentions_the_retry_delay() -> None:
    message = defer_message(parse_decision({"decision": "DEFER", "defer_reason": "later", "defer_timeout_seconds": 45}))
    assert message == "later (deferred: retry in 45 s)"


def test_modify_call_shape_replaces_positionals_and_keywords_and_keeps_untouched_objects() -> None:
    original = Opaque()
    args, kwargs = (original, "4111"), {"amount": 5}
    sent = call_tool_args(args, kwargs)
    new_args, new_kwargs = apply_modified_args(
        args, kwargs, sent, {"args": ["opaque!", "[REDACTED]"], "kwargs": {"amount": 5, "currency": "EUR"}}
    )
    assert new_args[0] is original  # unchanged values keep their real Python object
    assert new_args[1] == "[REDACTED]"
    assert new_kwargs == {"amount": 5, "currency": "EUR"}


def test_modify_call_shape_without_kwargs_keeps_keywords() -> None:
    args, kwargs = ("a",), {"k": 1}
    assert apply_modified_args(args, kwargs, call_tool_args(args, kwargs), {"args": ["b"]}) == (("b",), {"k": 1})


def test_modify_single_dict_argument_is_replaced_whole() -> None:
    args = ({"ssn": "123", "name": "x"},)
    assert apply_modified_args(args, {}, call_tool_args(args, {}), {"name": "x"}) == (({"name": "x"},), {})


def test_modify_arg0_and_input_replace_the_single_positional() -> None:
    args = ("secret",)
    sent = call_tool_args(args, {})
    assert apply_modified_args(args, {}, sent, {"arg0": "[REDACTED]"}) == (("[REDACTED]",), {})
    assert apply_modified_args(args, {}, sent, {"input": "[REDACTED]"}) == (("[REDACTED]",), {})
    assert apply_modified_args(args, {}, sent, "plain") == (("plain",), {})


def test_modify_dict_for_keyword_only_call_becomes_keywords() -> None:
    kwargs = {"q": "x", "card_number": "4111"}
    sent = call_tool_args((), kwargs)
    assert apply_modified_args((), kwargs, sent, {"q": "x", "card_number": "[REDACTED]"}) == (
        (),
        {"q": "x", "card_number": "[REDACTED]"},
    )


def test_modify_that_cannot_be_applied_refuses() -> None:
    args = ("a", "b")
    with pytest.raises(ModifyNotApplicable):
        apply_modified_args(args, {}, call_tool_args(args, {}), {"unrelated": 1})
