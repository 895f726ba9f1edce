"""Test harness: one embedded Thoth server for the whole session, plus a scriptable stub enforcer.

The real server is started from the repository root exactly as `npm start` does
(`node services/thoth/dist/main.js`, compiled by `npm ci`), on a free port with a fresh data dir and a policy file
written here, so every decision type can be provoked by tool name.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SDK_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = SDK_DIR.parents[1]
# Import the package from the checkout, installed or not.
sys.path.insert(0, str(SDK_DIR / "src"))

import thoth  # noqa: E402

TENANT = "acme-corp"
ADMIN_TOKEN = "py-sdk-test-admin-token-0123456789"

POLICY = """\
version: 1
rules:
  - id: block-large-payment
    tools: [submit_payment]
    condition: has(args.amount) && args.amount > 10000
    effect: BLOCK
    reason: payments above 10,000 are blocked
    reason_code: payment_limit
  - id: redact-card
    tools: [charge_card]
    condition: has(args.card_number)
    effect: MODIFY
    reason: card numbers are redacted
    modify: { redact: [card_number] }
  - id: scrub-record
    tools: [update_record]
    condition: has(args.ssn)
    effect: MODIFY
    reason: social security numbers are never stored
    modify: { remove: [ssn], set: { source: "thoth" } }
  - id: defer-exports
    tools: [export_records]
    condition: "true"
    effect: DEFER
    reason: bulk exports run outside business hours
    defer_timeout_seconds: 45
  - id: approve-wires
    tools: [wire_transfer]
    condition: "true"
    effect: STEP_UP
    reason: wire transfers need a human approval
    step_up_timeout_seconds: 60
  - id: approve-quick-wires
    tools: [quick_wire]
    condition: "true"
    effect: STEP_UP
    reason: quick wires need a human approval within a second
    step_up_timeout_seconds: 1
"""


def free_port() -> int:
    """A port nothing listens on right now (also used as the 'unreachable enforcer')."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThothServer:
    """The running embedded server and the control-plane calls tests need."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path
        self.key = ""
        self.approver_key = ""

    def http(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        bearer: str | None = None,
        body: Any = None,
        timeout: float = 5.0,
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["x-api-key"] = key
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text

    def create_key(self, name: str, permissions: list[str]) -> str:
        status, body = self.http(
            "POST", f"/{TENANT}/thoth/api-keys", bearer=ADMIN_TOKEN, body={"name": name, "permissions": permissions}
        )
        assert status == 201, (status, body)
        return body["api_key"]

    def pending_approval(self, violation_id: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.http("GET", f"/{TENANT}/thoth/approvals?status=pending", key=self.approver_key)
            assert status == 200, (status, body)
            for item in body["data"]:
                if item.get("violation_id") == violation_id:
                    return item
            time.sleep(0.1)
        raise AssertionError(f"no pending approval for {violation_id}")

    def resolve(self, approval_id: str, decision: str) -> None:
        status, body = self.http(
            "POST",
            f"/{TENANT}/thoth/approvals/{approval_id}/resolve",
            key=self.approver_key,
            body={"decision": decision, "comment": f"{decision}d by the test"},
        )
        assert status == 200, (status, body)

    def feed(self, **params: str) -> dict[str, Any]:
        query = urllib.parse.urlencode(params)
        status, body = self.http("GET", f"/{TENANT}/thoth/governance/feed?{query}", key=self.key)
        assert status == 200, (status, body)
        return body

    def wait_feed(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0, **params: str
    ) -> list[dict[str, Any]]:
        """Polls the feed until ``predicate(data)`` holds (ingest → queryable takes about a second)."""
        deadline = time.monotonic() + timeout
        data: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            data = self.feed(**params)["data"]
            if predicate(data):
                return data
            time.sleep(0.2)
        raise AssertionError(f"feed never matched; last answer: {json.dumps(data)[:2000]}")


@pytest.fixture(scope="session")
def thoth_server() -> Iterator[ThothServer]:
    tmp = Path(tempfile.mkdtemp(prefix="thoth-py-sdk-"))
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        # Its /metrics listener on any free port: a Thoth already on 9464 must not fail the SDK tests.
        "THOTH_METRICS_PORT": "0",
        "HOST": "127.0.0.1",
        "THOTH_DATA_DIR": str(tmp / "data"),
        "LOG_LEVEL": "warn",
        "THOTH_ADMIN_TOKEN": ADMIN_TOKEN,
        "THOTH_PRINT_ADMIN_TOKEN": "false",
        "THOTH_POLICY_FILE": str(policy),
    }
    for name in ("THOTH_MODE", "THOTH_SERVICES", "KAFKA_BROKERS", "CLICKHOUSE_URL", "THOTH_API_URL", "THOTH_API_KEY"):
        env.pop(name, None)
    log_path = tmp / "server.log"
    log = open(log_path, "wb")
    process = subprocess.Popen(
        ["node", "services/thoth/dist/main.js"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = ThothServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"thoth exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                if server.http("GET", "/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"thoth not healthy after 60 s:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.1)
        server.key = server.create_key("py-sdk-tests", ["execute", "write", "read"])
        server.approver_key = server.create_key("py-sdk-approver", ["read", "admin"])
        yield server
    finally:
        thoth.flush(5.0)  # deliver what the tests queued while the server is still up
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


# -- a scriptable stub enforcer, for failure modes the real server does not produce on demand ---------


class StubEnforcer:
    """A loopback HTTP server whose answers a test scripts; records every request it receives."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.respond: Callable[[str, str, Any], tuple[int, Any]] = lambda method, path, body: (
            200,
            {"decision": "ALLOW", "reason": "ok"},
        )
        self.delay = 0.0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                stub.requests.append({"method": method, "path": self.path, "headers": dict(self.headers), "body": body})
                if stub.delay:
                    time.sleep(stub.delay)
                status, answer = stub.respond(method, self.path, body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def enforce_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == "/v1/enforce"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[StubEnforcer]:
    server = StubEnforcer()
    yield server
    thoth.flush(2.0)  # events queued for the stub go out before it disappears
    server.close()
