"""Loopback stand-ins for the Anthropic Messages API and OpenAI's Chat Completions API (wire format only).

The real `anthropic` / `openai` clients talk to them through their base URL. Each "model" is scripted: its
first answer asks for the tool calls it was given; once the conversation carries a result for every one of
them, it ends the turn with a text that quotes those results. Requests are checked the way the real APIs
check them (headers, required fields, every tool call answered by id), and a bad one gets the API's own
error shape and status, so a loop that talks to these would also talk to the real thing.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


class _StandIn:
    """A loopback HTTP server answering POST ``path`` with ``self.answer(headers, body)``."""

    path = ""

    def __init__(self, tool_calls: Sequence[tuple[str, dict[str, Any]]]) -> None:
        self.tool_calls = list(tool_calls)
        self.requests: list[dict[str, Any]] = []
        self.api_key = ""  # the key the last request carried
        self.errors: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {key.lower(): value for key, value in self.headers.items()}
                try:
                    if self.path.split("?", 1)[0] != stand_in.path:
                        raise ApiError(404, "not_found_error", f"no route for POST {self.path}")
                    try:
                        body = json.loads(raw)
                    except ValueError as error:
                        raise ApiError(400, "invalid_request_error", f"body is not JSON: {error}") from None
                    stand_in.requests.append({"path": self.path, "headers": headers, "body": body})
                    status, answer = 200, stand_in.answer(headers, body)
                except ApiError as error:
                    stand_in.errors.append(f"{error.status} {error.kind}: {error.message}")
                    status, answer = error.status, stand_in.error_body(error)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def answer(self, headers: dict[str, str], body: Any) -> dict[str, Any]:
        raise NotImplementedError

    def error_body(self, error: ApiError) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ApiError(400, "invalid_request_error", message)


class FakeMessagesApi(_StandIn):
    """``POST /v1/messages`` as documented at docs.anthropic.com (non-streaming)."""

    path = "/v1/messages"

    def __init__(self, tool_calls: Sequence[tuple[str, dict[str, Any]]]) -> None:
        super().__init__(tool_calls)
        self.base_url = self.origin  # the client appends /v1/messages itself
        self.tool_results: list[dict[str, Any]] = []  # every tool_result block received, in order

    def error_body(self, error: ApiError) -> dict[str, Any]:
        return {"type": "error", "error": {"type": error.kind, "message": error.message}}

    def answer(self, headers: dict[str, str], body: Any) -> dict[str, Any]:
        # Clients send the key as x-api-key, or (anthropic >= 2) as a bearer token.
        bearer = headers.get("authorization", "")
        self.api_key = headers.get("x-api-key") or (bearer[len("Bearer ") :] if bearer.startswith("Bearer ") else "")
        if not self.api_key:
            raise ApiError(401, "authentication_error", "x-api-key header is required")
        _require(bool(headers.get("anthropic-version")), "anthropic-version header is required")
        _require(isinstance(body, dict), "body must be an object")
        _require(isinstance(body.get("model"), str) and bool(body["model"]), "model: Field required")
        _require(isinstance(body.get("max_tokens"), int), "max_tokens: Field required")
        messages = body.get("messages")
        _require(isinstance(messages, list) and len(messages) > 0, "messages: at least one message is required")
        for tool in body.get("tools") or []:
            _require(isinstance(tool.get("name"), str), "tools: name is required")
            _require(isinstance(tool.get("input_schema"), dict), "tools: input_schema is required")
        for index, message in enumerate(messages):
            expected = "user" if index % 2 == 0 else "assistant"
            _require(message.get("role") == expected, f"messages.{index}: roles must alternate user/assistant")
            content = message.get("content")
            _require(isinstance(content, (str, list)), f"messages.{index}.content must be a string or a list")

        # Every tool_use of an assistant turn needs a tool_result, by id, in the very next user turn.
        for index in range(1, len(messages), 2):
            asked = [b["id"] for b in _blocks(messages[index]) if b.get("type") == "tool_use"]
            if not asked:
                continue
            _require(index + 1 < len(messages), f"messages.{index}: tool_use ids {asked} have no tool_result")
            results = [b for b in _blocks(messages[index + 1]) if b.get("type") == "tool_result"]
            answered = [b.get("tool_use_id") for b in results]
            _require(
                sorted(answered) == sorted(asked),
                f"messages.{index + 1}: tool_result ids {answered} must answer tool_use ids {asked}",
            )
            for block in results:
                _require(isinstance(block.get("content"), (str, list)), "tool_result.content must be str or list")

        last_results = [b for b in _blocks(messages[-1]) if b.get("type") == "tool_result"]
        base = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "stop_sequence": None,
            "usage": {"input_tokens": 25, "output_tokens": 12},
        }
        if not last_results:
            content: list[dict[str, Any]] = [{"type": "text", "text": "Let me look that up."}]
            for name, tool_input in self.tool_calls:
                content.append(
                    {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": name, "input": tool_input}
                )
            return {**base, "content": content, "stop_reason": "tool_use"}
        self.tool_results.extend(last_results)
        text = "\n".join(_text_of(block.get("content")) for block in last_results)
        return {**base, "content": [{"type": "text", "text": text}], "stop_reason": "end_turn"}


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


class FakeChatCompletionsApi(_StandIn):
    """``POST /v1/chat/completions`` as documented at platform.openai.com (non-streaming, function tools)."""

    path = "/v1/chat/completions"

    def __init__(self, tool_calls: Sequence[tuple[str, dict[str, Any]]]) -> None:
        super().__init__(tool_calls)
        self.base_url = self.origin + "/v1"  # the client's base URL includes the version
        self.tool_messages: list[dict[str, Any]] = []  # every `tool` message received, in order

    def error_body(self, error: ApiError) -> dict[str, Any]:
        return {"error": {"message": error.message, "type": error.kind, "param": None, "code": None}}

    def answer(self, headers: dict[str, str], body: Any) -> dict[str, Any]:
        bearer = headers.get("authorization", "")
        self.api_key = bearer[len("Bearer ") :] if bearer.startswith("Bearer ") else ""
        if not self.api_key:
            raise ApiError(401, "invalid_request_error", "You didn't provide an API key.")
        _require(isinstance(body, dict), "body must be an object")
        _require(isinstance(body.get("model"), str) and bool(body["model"]), "you must provide a model parameter")
        messages = body.get("messages")
        _require(isinstance(messages, list) and len(messages) > 0, "messages must be a non-empty array")
        for tool in body.get("tools") or []:
            _require(tool.get("type") == "function", "tools[].type must be 'function'")
            _require(isinstance(tool.get("function", {}).get("name"), str), "tools[].function.name is required")

        # An assistant message with tool_calls must be followed by one `tool` message per tool_call_id.
        for index, message in enumerate(messages):
            _require(message.get("role") in ("system", "developer", "user", "assistant", "tool"), "bad role")
            if message.get("role") == "tool":
                _require(isinstance(message.get("content"), (str, list)), "tool message content is required")
            calls = message.get("tool_calls") if message.get("role") == "assistant" else None
            if not calls:
                continue
            asked = [call["id"] for call in calls]
            following = []
            for later in messages[index + 1 :]:
                if later.get("role") != "tool":
                    break
                following.append(later.get("tool_call_id"))
            _require(
                sorted(following) == sorted(asked),
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. Missing or extra: asked {asked}, answered {following}",
            )

        tool_messages = [m for m in messages if m.get("role") == "tool"]
        if not tool_messages:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {
                        "id": f"call_{uuid.uuid4().hex[:24]}",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(arguments)},
                    }
                    for name, arguments in self.tool_calls
                ],
            }
            finish_reason = "tool_calls"
        else:
            self.tool_messages.extend(tool_messages)
            message = {
                "role": "assistant",
                "content": "\n".join(_text_of(m.get("content")) for m in tool_messages),
                "refusal": None,
            }
            finish_reason = "stop"
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
            "usage": {"prompt_tokens": 25, "completion_tokens": 12, "total_tokens": 37},
            "system_fingerprint": None,
        }
