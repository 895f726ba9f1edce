"""Public entry points: `instrument(agent, ...)`, `instrument_anthropic`, `instrument_openai`, `wrap_tool`.

How `instrument` treats ``agent.tools`` (deliberately per instance):

- Every tool is replaced by a *governed copy* (``copy.copy`` of the tool with its ``run`` shadowed by the
  governed wrapper); plain callables in ``tools`` are replaced by governed functions. The original tool
  objects are never mutated.
- When ``tools`` is the agent's own attribute (set in ``__init__``), the container is updated in place, so
  other references to that list see the governed tools.
- When ``tools`` is a class attribute shared by every instance (the quickstart's ``InvoiceAgent``), the
  instance gets its own governed container; the class and other instances stay untouched, so two agents
  instrumented with different ids (or one not instrumented at all) never govern each other's calls.
- Instrumenting again re-wraps the original tools with the new settings; wrappers never stack.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import types
import typing
from collections.abc import Callable, Iterable, Mapping, MutableMapping, MutableSequence
from typing import Any, TypeVar

from .config import ThothConfig
from .errors import ThothConfigurationError
from .governor import Governor

logger = logging.getLogger("thoth")

A = TypeVar("A")

_SOURCE_ATTR = "__thoth_source__"  # on a governed run/function: the ungoverned tool it came from


def instrument(
    agent: A,
    **options: Any,
) -> A:
    """Governs the ``run`` of every tool in ``agent.tools`` and returns ``agent``.

    ``options`` are `ThothConfig.resolve`'s keyword arguments (``agent_id``, ``approved_scope``, ``tenant_id``
    are required; ``api_url``, ``api_key``, ``enforcement``, ``fail_open``, ``session_id``, … are optional);
    an unknown one raises ``TypeError``, an invalid value `ThothConfigurationError`.

    Each call to a governed tool asks Thoth first (``POST /v1/enforce``): ALLOW runs it, MODIFY runs it with
    the rewritten arguments, STEP_UP waits for a person (polling every ``step_up_poll_interval_seconds`` up
    to ``step_up_timeout_seconds``), BLOCK / DEFER / a denied or timed-out step-up raise
    `ThothPolicyViolation`. ``api_url`` / ``api_key`` default to ``THOTH_API_URL`` / ``THOTH_API_KEY``;
    missing either raises `ThothConfigurationError` here rather than at the first call.
    """
    config = ThothConfig.resolve(**options)
    return instrument_with_config(agent, config)


def instrument_with_config(agent: A, config: ThothConfig) -> A:
    """`instrument` for callers that already hold a `ThothConfig`."""
    tools = getattr(agent, "tools", None)
    if tools is None:
        raise ThothConfigurationError(f"thoth: {type(agent).__name__} has no `tools` attribute to govern")
    governor = Governor(config)
    owned = isinstance(agent, type) or "tools" in getattr(agent, "__dict__", {})

    if isinstance(tools, Mapping):
        governed_map = {name: _govern(tool, governor, str(name)) for name, tool in tools.items()}
        if owned and isinstance(tools, MutableMapping):
            tools.update(governed_map)
        else:
            _set_tools(agent, type(tools)(governed_map) if isinstance(tools, dict) else governed_map, tools)
        return agent

    if isinstance(tools, (str, bytes)) or not isinstance(tools, Iterable):
        raise ThothConfigurationError(f"thoth: agent.tools must be a list, tuple or dict (got {type(tools).__name__})")
    governed_list = [_govern(tool, governor) for tool in tools]
    if owned and isinstance(tools, MutableSequence):
        tools[:] = governed_list
    else:
        _set_tools(agent, tuple(governed_list) if isinstance(tools, tuple) else governed_list, tools)
    return agent


def _set_tools(agent: Any, governed: Any, shared: Any) -> None:
    try:
        agent.tools = governed
    except (AttributeError, TypeError):
        # No instance attribute possible (__slots__, read-only property): govern the shared container
        # itself, which governs every instance of the class — said loudly, since it is not per instance.
        if isinstance(shared, MutableSequence) and isinstance(governed, list):
            shared[:] = governed
        elif isinstance(shared, MutableMapping) and isinstance(governed, Mapping):
            shared.update(governed)
        else:
            raise ThothConfigurationError(
                f"thoth: cannot replace {type(agent).__name__}.tools (read-only and immutable)"
            ) from None
        logger.warning(
            "Thoth: %s.tools cannot be set per instance; the shared tools were governed for every instance",
            type(agent).__name__,
        )


def _tool_name(tool: Any, fallback: str | None = None) -> str:
    name = getattr(tool, "name", None)
    if isinstance(name, str) and name:
        return name
    if fallback:
        return fallback
    for candidate in (tool, getattr(tool, "fn", None), getattr(tool, "func", None)):
        candidate_name = getattr(candidate, "__name__", None)
        if isinstance(candidate_name, str) and candidate_name and candidate_name != "<lambda>":
            return candidate_name
    return type(tool).__name__


class _GovernedToolProxy:
    """Stands in for a tool that cannot be copied or given an instance ``run`` (e.g. ``__slots__``)."""

    def __init__(self, tool: Any, run: Callable[..., Any]) -> None:
        object.__setattr__(self, "_thoth_tool", tool)
        object.__setattr__(self, "run", run)

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_thoth_tool"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_thoth_tool"), name, value)

    def __repr__(self) -> str:
        return f"<governed {object.__getattribute__(self, '_thoth_tool')!r}>"


def _govern(tool: Any, governor: Governor, name_hint: str | None = None) -> Any:
    """A governed stand-in for one tool (an object with ``run``, or a plain callable)."""
    run = getattr(tool, "run", None)
    if callable(run) and not inspect.isclass(tool):
        source = getattr(run, _SOURCE_ATTR, tool)  # re-instrumenting: start again from the original tool
        name = _tool_name(source, name_hint)
        try:
            clone = copy.copy(source)
            governed_run = governor.wrap(name, clone.run)
            setattr(governed_run, _SOURCE_ATTR, source)
            clone.run = governed_run
            return clone
        except Exception:
            governed_run = governor.wrap(name, source.run)
            setattr(governed_run, _SOURCE_ATTR, source)
            return _GovernedToolProxy(source, governed_run)
    if callable(tool):
        source = getattr(tool, _SOURCE_ATTR, tool)
        governed = governor.wrap(_tool_name(source, name_hint), source)
        setattr(governed, _SOURCE_ATTR, source)
        return governed
    logger.warning("Thoth: tool %r has no run() and is not callable; left ungoverned", tool)
    return tool


def wrap_tool(name: str, fn: Callable[..., Any], config: ThothConfig) -> Callable[..., Any]:
    """Governs one callable under ``config`` (for tools that live outside an ``agent.tools``)."""
    return Governor(config).wrap(name, fn)


# -- LLM tool-use loops ------------------------------------------------------------------------------


def _tool_map(
    tool_fns: Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]],
) -> dict[str, Callable[..., Any]]:
    if isinstance(tool_fns, Mapping):
        return {str(name): fn for name, fn in tool_fns.items()}
    return {_tool_name(fn): fn for fn in tool_fns}


def _input_dict(value: Any, parse_json: bool) -> dict[str, Any]:
    if value is None:
        return {}
    if parse_json and isinstance(value, (str, bytes, bytearray)):
        # OpenAI hands function arguments over as a JSON string.
        text = value.decode() if isinstance(value, (bytes, bytearray)) else value
        try:
            value = json.loads(text) if text.strip() else {}
        except ValueError as error:
            raise ValueError(f"tool arguments are not valid JSON: {error}") from error
    if not isinstance(value, Mapping):
        raise TypeError(f"tool input must be a dict (got {type(value).__name__})")
    return dict(value)


def _govern_input_tools(
    tool_fns: Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]],
    config: ThothConfig,
    parse_json: bool,
) -> dict[str, Callable[..., Any]]:
    governor = Governor(config)
    governed: dict[str, Callable[..., Any]] = {}
    for name, fn in _tool_map(tool_fns).items():
        governed[name] = _input_callable(governor, name, fn, parse_json)
    return governed


# How a tool map's function is called is decided once, when it is wrapped (see `_takes_input_dict`).

_UnionType = getattr(types, "UnionType", None)  # `X | Y` (3.10+)

_MAPPING_NAMES = frozenset({"dict", "Dict", "Mapping", "MutableMapping", "TypedDict", "Any", "object"})


def _split_top_level(text: str, separator: str) -> list[str]:
    """``"a[b, c], d"`` split on top-level ``separator`` only → ``["a[b, c]", "d"]``."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "["
        depth -= char == "]"
        if char == separator and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def _annotation_text_is_mapping(text: str) -> bool:
    """`_annotation_is_mapping` for an annotation string that could not be evaluated (judged by its names)."""
    members = [part for part in _split_top_level(text.strip().strip("\"'"), "|") if part not in ("None", "NoneType")]
    for member in members:
        head, _, rest = member.partition("[")
        head = head.rsplit(".", 1)[-1]
        inner = _split_top_level(rest[:-1], ",") if rest.endswith("]") else []
        if head in ("Optional", "Union") and any(_annotation_text_is_mapping(arg) for arg in inner):
            return True
        if head == "Annotated" and inner and _annotation_text_is_mapping(inner[0]):
            return True
        if head in _MAPPING_NAMES:
            return True
    return False


def _annotation_is_mapping(annotation: Any) -> bool:
    """Whether a one-parameter function's annotation says it takes the input dict (unannotated: yes)."""
    if annotation is inspect.Parameter.empty or annotation is Any or annotation is object:
        return True
    if isinstance(annotation, str):
        return _annotation_text_is_mapping(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _annotation_is_mapping(typing.get_args(annotation)[0])
    if origin is typing.Union or (_UnionType is not None and origin is _UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return any(_annotation_is_mapping(arg) for arg in members)
    target = origin if origin is not None else annotation
    return isinstance(target, type) and issubclass(target, Mapping)  # dict, Mapping[...], a TypedDict


def _takes_input_dict(fn: Callable[..., Any]) -> bool:
    """The rule `instrument_anthropic` / `instrument_openai` apply, once per function, at wrap time.

    ``True`` (the function receives the input dict itself, ``fn(input)``) when the signature has exactly one
    parameter, that parameter can be passed positionally, and it is unannotated or annotated as a mapping
    (``dict``, ``dict[str, Any]``, ``Mapping``, a ``TypedDict``, ``Any``, or an ``Optional`` of one) —
    the documentation's ``lambda input: ...`` and ``def run(tool_input: dict)``.

    ``False`` (the function receives the input's fields as keyword arguments, ``fn(**input)``) for
    everything else: two or more parameters (``def get_weather(location, unit="c")``), keyword-only
    parameters (``def search_docs(*, query)``), ``**kwargs``, no parameters, one parameter annotated with a
    field's type (``def search_docs(query: str)``), or a signature ``inspect`` cannot read.
    """
    try:
        try:
            signature = inspect.signature(fn, eval_str=True)
        except Exception:  # an annotation that does not evaluate: judge it by its text
            signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    parameters = list(signature.parameters.values())
    if len(parameters) != 1:
        return False
    (parameter,) = parameters
    if parameter.kind not in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        return False
    return _annotation_is_mapping(parameter.annotation)


def _dict_caller(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adapts ``fn(input_dict)`` to the keyword call the governor makes with the (possibly rewritten) fields."""
    if inspect.iscoroutinefunction(fn):

        async def call_with_dict_async(**fields: Any) -> Any:
            return await fn(fields)

        return call_with_dict_async

    def call_with_dict(**fields: Any) -> Any:
        return fn(fields)

    return call_with_dict


def _input_callable(governor: Governor, name: str, fn: Callable[..., Any], parse_json: bool) -> Callable[..., Any]:
    """``governed(input)`` → ``fn(input)`` or ``fn(**input)`` (`_takes_input_dict` decides, here, once).

    Either way the governor gets the input's fields as keyword arguments, so the enforce request carries
    ``tool_args = {"args": [], "kwargs": {<fields>}}``: policies see ``args.<field>`` and a MODIFY rewrites
    fields by name, whichever way the function is then called.
    """
    target = _dict_caller(fn) if _takes_input_dict(fn) else fn
    if inspect.iscoroutinefunction(fn):

        async def governed_async(input: Any = None, /, **extra: Any) -> Any:  # noqa: A002 - the API's name
            return await governor.acall(name, target, (), {**_input_dict(input, parse_json), **extra})

        result: Callable[..., Any] = governed_async
    else:

        def governed_sync(input: Any = None, /, **extra: Any) -> Any:  # noqa: A002
            return governor.call(name, target, (), {**_input_dict(input, parse_json), **extra})

        result = governed_sync
    result.__name__ = name
    result.__doc__ = getattr(fn, "__doc__", None)
    result.__wrapped__ = fn  # type: ignore[attr-defined]
    result.__thoth_governor__ = governor  # type: ignore[attr-defined]
    result.__thoth_tool_name__ = name  # type: ignore[attr-defined]
    return result


def instrument_anthropic(
    tool_fns: Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]],
    **options: Any,
) -> dict[str, Callable[..., Any]]:
    """Governed tools for an Anthropic ``tool_use`` loop: ``{name: governed(input)}``.

    ``tool_fns`` maps tool names to functions (or is a list of functions, named by ``__name__``). In the
    loop: ``result = governed_fns[block.name](block.input)``; a refused call raises `ThothPolicyViolation`.

    How each function is called is decided once, here, from its signature:

    - exactly one parameter, positional, unannotated or annotated as a mapping (``lambda input: ...``,
      ``def run(tool_input: dict)``) → ``fn(input)``: the input dict itself;
    - anything else — parameters that name the input's fields (``def get_weather(location, unit="c")``,
      ``def search_docs(query: str)``, ``def search_docs(*, query)``), ``**kwargs`` → ``fn(**input)``.

    An unannotated single parameter always receives the whole dict: write ``def search_docs(query: str)``
    or ``def search_docs(*, query)`` for a one-field tool that wants the field.

    Either way Thoth sees the input's fields by name (policies read ``args.<field>``), and a MODIFY
    rewrites those fields before the function gets them (as the dict or as keyword arguments).
    Coroutine functions stay async: ``await governed_fns[name](input)``.
    """
    config = ThothConfig.resolve(**options)
    return _govern_input_tools(tool_fns, config, parse_json=False)


def instrument_openai(
    tool_fns: Mapping[str, Callable[..., Any]] | Iterable[Callable[..., Any]],
    **options: Any,
) -> dict[str, Callable[..., Any]]:
    """Governed tools for an OpenAI function-calling loop: ``{name: governed(arguments)}``.

    ``arguments`` may be the JSON string of ``tool_call.function.arguments`` or an already parsed dict. The
    function is called as in `instrument_anthropic` (decided once from its signature): one positional,
    unannotated or mapping-annotated parameter → ``fn(arguments_dict)``; otherwise ``fn(**arguments_dict)``.
    Policies see ``args.<field>`` and a MODIFY rewrites the fields in both cases.
    """
    config = ThothConfig.resolve(**options)
    return _govern_input_tools(tool_fns, config, parse_json=True)
