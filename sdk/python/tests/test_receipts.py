"""Receipt verification (docs/receipts.md) against real Thoth processes, one per receipt form.

`verify_receipt` on answers of every kind and on tampered answers; canonical JSON and RFC 9162 inclusion checked
against JavaScript and a reference tree; and the SDK's ``verify_receipts`` modes behind a proxy that alters the
answers on their way (a man in the middle).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
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
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_TOKEN, POLICY, REPO_ROOT, SDK_DIR, TENANT, ThothServer, free_port

import thoth
from thoth import ThothConfigurationError, ThothPolicyViolation, instrument
from thoth.receipts import canonical_json, js_number, leaf_hash, node_hash, verify_inclusion, verify_receipt

POLL = 0.2

# Arguments that exercise canonical JSON: floats, exponents, non-ASCII keys sorted by UTF-16 code units.
CARD_ARGS: dict[str, Any] = {
    "card_number": "4111 1111 1111 1111",
    "amount": 12.5,
    "rate": 1e-7,
    "big": 1e21,
    "whole": 3.0,
    "ключ": "значение",
    "😀": "emoji key",
    "\uff01": "fullwidth",
    "note": 'line\nbreak "quoted" \u0001',
}


# -- real servers, one per receipt form -------------------------------------------------------------------------


def _start_thoth(receipts: str) -> tuple[ThothServer, Any, Path]:
    """Embedded Thoth as conftest starts it, with ``THOTH_RECEIPTS=receipts``."""
    tmp = Path(tempfile.mkdtemp(prefix=f"thoth-py-receipts-{receipts}-"))
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        # It runs next to the session's server: its /metrics listener on any free port, not both on 9464.
        "THOTH_METRICS_PORT": "0",
        "HOST": "127.0.0.1",
        "THOTH_DATA_DIR": str(tmp / "data"),
        "LOG_LEVEL": "warn",
        "THOTH_ADMIN_TOKEN": ADMIN_TOKEN,
        "THOTH_PRINT_ADMIN_TOKEN": "false",
        "THOTH_POLICY_FILE": str(policy),
        "THOTH_RECEIPTS": receipts,
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
            process.kill()
            raise RuntimeError(f"thoth not healthy after 60 s:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.1)
    server.key = server.create_key("py-receipts", ["execute", "write", "read"])
    server.approver_key = server.create_key("py-receipts-approver", ["read", "admin"])
    return server, log, tmp


def _stop(server: ThothServer, log: Any) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    log.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, ThothServer]]:
    with ThreadPoolExecutor(2) as pool:
        started = dict(zip(("merkle", "per-decision"), pool.map(_start_thoth, ("merkle", "per-decision")), strict=True))
    try:
        yield {form: server for form, (server, _, _) in started.items()}
    finally:
        thoth.flush(5.0)
        for server, log, tmp in started.values():
            _stop(server, log)
            shutil.rmtree(tmp, ignore_errors=True)


# -- raw enforce calls ------------------------------------------------------------------------------------------


def _bodies(round_id: str) -> list[dict[str, Any]]:
    """Requests of every decision kind: ALLOW, BLOCK, MODIFY, STEP_UP, DEFER (three of each)."""

    def body(tool_name: str, tool_args: dict[str, Any], i: int) -> dict[str, Any]:
        return {
            "agent_id": "py-receipt-agent",
            "tenant_id": TENANT,
            "tool_name": tool_name,
            "session_id": f"{round_id}-{i}",
            "user_id": "system",
            "approved_scope": [],
            "enforcement_mode": "progressive",
            "environment": "prod",
            "enforcement_trace_id": uuid.uuid4().hex,
            "request_id": str(uuid.uuid4()),
            "tool_args": tool_args,
        }

    out = []
    for i in range(3):
        out.append(body("search_docs", {"query": f"q{i}"}, i))
        out.append(body("submit_payment", {"amount": 50_000 + i}, i))
        out.append(body("charge_card", {**CARD_ARGS, "count": i}, i))
        out.append(body("wire_transfer", {"amount": 700 + i}, i))
        out.append(body("export_records", {}, i))
    return out


def _enforce_all(server: ThothServer, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sent at once, so that the API decides them in one turn of its event loop and they share a Merkle batch:
    pipelined on one connection (HTTP/1.1), written in one go, then the answers read in order. (Separate
    connections, even written together, are often read in separate turns.)"""
    parts = urllib.parse.urlsplit(server.url)
    wire = b""
    for body in requests:
        payload = json.dumps(body).encode()
        head = (
            f"POST /v1/enforce HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"x-api-key: {server.key}\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        wire += head.encode() + payload
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(wire)
        stream = sock.makefile("rb")
        answers = []
        for _ in requests:
            status = stream.readline().decode()
            headers: dict[str, str] = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, value = line.decode().split(":", 1)
                headers[name.strip().lower()] = value.strip()
            assert "content-length" in headers, (status, headers)
            text = stream.read(int(headers["content-length"])).decode()
            assert status.split()[1] == "200", (status, text)
            answers.append(json.loads(text))
        return answers


def _public_key(server: ThothServer, key_id: str) -> str:
    status, body = server.http("GET", "/v1/keys/receipt")
    assert status == 200, body
    return next(k["public_key_pem"] for k in body["keys"] if k["key_id"] == key_id)


def _flip_hex(text: str) -> str:
    return ("b" if text[0] == "a" else "a") + text[1:]


def _flip_signature(signature: str) -> str:
    # The first character: all of its bits are signature (the last one carries padding bits).
    return ("B" if signature[0] == "A" else "A") + signature[1:]


@pytest.fixture(scope="module")
def merkle_batch(servers: dict[str, ThothServer]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Requests and answers with at least one batch of three or more (pipelined requests share a turn)."""
    server = servers["merkle"]
    for round_number in range(10):
        requests = _bodies(f"py-merkle-{round_number}-{uuid.uuid4().hex[:6]}")
        answers = _enforce_all(server, requests)
        if max(a["receipt"]["tree_size"] for a in answers) >= 3:
            break
    return requests, answers, _public_key(server, answers[0]["receipt"]["key_id"])


# -- canonical JSON and the tree, against JavaScript ------------------------------------------------------------


def test_canonical_json_matches_javascript() -> None:
    corpus = (
        "[null, true, false, 0, -0, 1.0, 1.5, 100.0, 1e21, 1e20, 1e-7, 1e-6, 0.000001234, 123456789.125, "
        "0.30000000000000004, 5e-324, 1.7976931348623157e308, 9007199254740993, 1152921504606846976, "
        '-1152921504606846976, 12345678901234567890, "plain", "quote \\" backslash \\\\ nl \\n tab \\t nul '
        '\\u0000 del \\u007f", "lone \\ud800 pair \\ud83d\\ude00 bom \\ufeff", '
        '[1, null, {"b": 1, "a": [2, {"d": 4, "c": 3}]}], '
        '{"\\ud83d\\ude00": 1, "\\uff01": 2, "\\u00e9": 3, "Z": 4, "a": 5, "": 6, "a1": 7, "a\\u0000": 8, '
        '"nested": {"z": [{"y": 1.25, "x": -2.5e-9}]}}]'
    )
    script = (
        "import {canonical} from './scripts/verify-receipt.mjs';"
        "let t='';process.stdin.on('data',d=>t+=d).on('end',()=>{"
        "for (const v of JSON.parse(t)) console.log(JSON.stringify(canonical(v)));});"
    )
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=corpus,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=True,
    )
    expected = [json.loads(line) for line in done.stdout.splitlines()]
    values = json.loads(corpus)
    assert len(expected) == len(values)
    for value, text in zip(values, expected, strict=True):
        assert canonical_json(value) == text, value
    # Python-only shapes: a tuple is an array, a surrogate pair written as two code points is one character.
    assert canonical_json((1, 2.0)) == "[1,2]"
    assert canonical_json("\ud83d\ude00") == '"😀"'
    assert js_number(2**53 + 1) == "9007199254740992"
    with pytest.raises(ValueError):
        canonical_json(float("nan"))


def _tree(leaves: list[str]) -> tuple[str, list[list[str]]]:
    """RFC 9162 §2.1.1 root and §2.1.3.1 paths, written independently of the verifier."""
    if len(leaves) == 1:
        return leaves[0], [[]]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, left_paths = _tree(leaves[:k])
    right, right_paths = _tree(leaves[k:])
    return node_hash(left, right), [p + [right] for p in left_paths] + [p + [left] for p in right_paths]


def test_inclusion_of_every_leaf_of_trees_of_1_to_40() -> None:
    for size in range(1, 41):
        leaves = [leaf_hash(f"leaf {i}") for i in range(size)]
        root, paths = _tree(leaves)
        for i in range(size):
            assert verify_inclusion(leaves[i], i, size, paths[i], root), (i, size)
            assert not verify_inclusion(leaves[i], i, size, paths[i], _flip_hex(root))
            if size > 1:
                assert not verify_inclusion(leaves[i], (i + 1) % size, size, paths[i], root)
                assert not verify_inclusion(leaves[(i + 1) % size], i, size, paths[i], root)
    assert not verify_inclusion(leaf_hash("x"), True, 1, [], leaf_hash("x"))  # a bool is not an index


# -- verify_receipt on real answers -----------------------------------------------------------------------------


def test_merkle_receipts_of_every_kind_verify(merkle_batch: Any) -> None:
    requests, answers, pem = merkle_batch
    assert {a["decision"] for a in answers} == {"ALLOW", "BLOCK", "MODIFY", "STEP_UP", "DEFER"}
    assert max(a["receipt"]["tree_size"] for a in answers) >= 3
    for request, answer in zip(requests, answers, strict=True):
        assert answer["receipt"]["receipt_format"] == "merkle-v1"
        result = verify_receipt(request, answer, pem)
        assert result.valid and result.reason is None, (answer["decision"], result.reason)
    modified = next(a for a in answers if a["decision"] == "MODIFY")
    assert modified["modified_tool_args"]["card_number"] == "[REDACTED]"
    assert modified["modified_tool_args"]["whole"] == 3  # JavaScript printed 3.0 as 3


MERKLE_CHANGES: list[tuple[str, Callable[[dict[str, Any], dict[str, Any]], None]]] = [
    ("decision", lambda a, r: a.update(decision="BLOCK" if a["decision"] == "ALLOW" else "ALLOW")),
    ("decision_reason_code", lambda a, r: a.update(decision_reason_code="allowed_by_proxy")),
    ("risk_score", lambda a, r: a.update(risk_score=a["risk_score"] + 0.5)),
    ("policy_version", lambda a, r: a.update(policy_version=a["policy_version"] + 1)),
    ("hold_token", lambda a, r: a.update(hold_token="forged-hold")),
    ("modified_tool_args", lambda a, r: a.update(modified_tool_args=dict(CARD_ARGS))),
    ("leaf_index", lambda a, r: r.update(leaf_index=(r["leaf_index"] + 1) % r["tree_size"])),
    ("audit_path", lambda a, r: r.update(audit_path=[_flip_hex(r["audit_path"][0]), *r["audit_path"][1:]])),
    ("root", lambda a, r: r.update(root=_flip_hex(r["root"]))),
    ("tree_size", lambda a, r: r.update(tree_size=r["tree_size"] + 1)),
    ("signed_at", lambda a, r: r.update(signed_at="2030-01-01T00:00:00.000Z")),
    ("signature", lambda a, r: r.update(signature=_flip_signature(r["signature"]))),
]


@pytest.mark.parametrize("name,change", MERKLE_CHANGES, ids=[name for name, _ in MERKLE_CHANGES])
def test_a_tampered_merkle_receipt_fails_with_a_reason(merkle_batch: Any, name: str, change: Any) -> None:
    requests, answers, pem = merkle_batch
    checked = 0
    for request, answer in zip(requests, answers, strict=True):
        if answer["receipt"]["tree_size"] < 2:
            continue  # an index and a path to change
        forged = copy.deepcopy(answer)
        change(forged, forged["receipt"])
        result = verify_receipt(request, forged, pem)
        assert not result.valid, (name, answer["decision"])
        assert result.reason in (
            "the decision is not the leaf its audit path leads from to the root",
            "the batch signature does not verify",
        )
        checked += 1
    assert checked >= 3


def test_per_decision_receipts_verify_and_tampering_fails(servers: dict[str, ThothServer], merkle_batch: Any) -> None:
    server = servers["per-decision"]
    requests = _bodies(f"py-per-decision-{uuid.uuid4().hex[:6]}")
    answers = _enforce_all(server, requests)
    pem = _public_key(server, answers[0]["receipt"]["key_id"])
    assert {a["decision"] for a in answers} == {"ALLOW", "BLOCK", "MODIFY", "STEP_UP", "DEFER"}
    for request, answer in zip(requests, answers, strict=True):
        assert "receipt_format" not in answer["receipt"]
        assert verify_receipt(request, answer, pem).valid, answer["decision"]
        flipped = {**answer, "decision": "BLOCK" if answer["decision"] == "ALLOW" else "ALLOW"}
        assert verify_receipt(request, flipped, pem).reason == "the signature does not verify"
        forged = copy.deepcopy(answer)
        forged["receipt"]["signature"] = _flip_signature(forged["receipt"]["signature"])
        assert verify_receipt(request, forged, pem).reason == "the signature does not verify"
        assert not verify_receipt({**request, "agent_id": "another-agent"}, answer, pem).valid
    # The other process's key does not verify these.
    assert not verify_receipt(requests[0], answers[0], merkle_batch[2]).valid


def test_unusable_receipts_and_keys_say_why(merkle_batch: Any) -> None:
    requests, answers, pem = merkle_batch
    request, answer = requests[0], answers[0]
    assert verify_receipt(request, {**answer, "receipt": None}, pem).reason == "the answer carries no receipt"
    odd = {**answer["receipt"], "signing_algorithm": "rsa"}
    assert "unknown signing algorithm" in (verify_receipt(request, {**answer, "receipt": odd}, pem).reason or "")
    assert verify_receipt(request, answer, "not a key").reason == "the public key is not an Ed25519 key"
    v9 = {**answer["receipt"], "receipt_format": "v9"}
    assert "unknown receipt format" in (verify_receipt(request, {**answer, "receipt": v9}, pem).reason or "")


# -- the verify_receipts option, behind a tampering proxy -------------------------------------------------------


class TamperProxy:
    """Forwards everything to a real Thoth; can rewrite enforce answers and take the key endpoint down."""

    def __init__(self, target: str) -> None:
        self.tamper: Callable[[dict[str, Any]], None] | None = None
        self.keys_down = False
        self.key_fetches = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else None
                if self.path == "/v1/keys/receipt":
                    proxy.key_fetches += 1
                    if proxy.keys_down:
                        self._answer(503, b'{"error":"unavailable","message":"keys are down (test)"}')
                        return
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("x-api-key", "authorization")}
                headers["Content-Type"] = "application/json"
                request = urllib.request.Request(target + self.path, data=raw, headers=headers, method=method)
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        status, payload = response.status, response.read()
                except urllib.error.HTTPError as error:
                    status, payload = error.code, error.read()
                if self.path == "/v1/enforce" and status == 200 and proxy.tamper is not None:
                    answer = json.loads(payload)
                    proxy.tamper(answer)
                    payload = json.dumps(answer).encode()
                self._answer(status, payload)

            def _answer(self, status: int, payload: bytes) -> None:
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

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxies() -> Iterator[Callable[[ThothServer], TamperProxy]]:
    opened: list[TamperProxy] = []

    def open_proxy(server: ThothServer) -> TamperProxy:
        proxy = TamperProxy(server.url)
        opened.append(proxy)
        return proxy

    yield open_proxy
    for proxy in opened:
        proxy.close()


class Tool:
    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self.name = name
        self.fn = fn
        self.calls = 0

    def run(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.fn(*args, **kwargs)


class Agent:
    def __init__(self, *tools: Tool) -> None:
        self.tools = list(tools)


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


def _agent(server: ThothServer, proxy: TamperProxy, mode: str, **options: Any) -> tuple[Agent, str]:
    agent_id = f"py-receipts-{uuid.uuid4().hex[:8]}"
    names = ("search_docs", "submit_payment", "charge_card", "wire_transfer")
    agent = instrument(
        Agent(*(Tool(name, echo) for name in names)),
        agent_id=agent_id,
        approved_scope=list(names),
        tenant_id=TENANT,
        api_url=proxy.url,
        api_key=server.key,
        telemetry=False,
        step_up_poll_interval_seconds=POLL,
        verify_receipts=mode,
        **options,
    )
    return agent, agent_id


def _approve_when_pending(server: ThothServer, agent_id: str) -> threading.Thread:
    def worker() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, body = server.http("GET", f"/{TENANT}/thoth/approvals?status=pending", key=server.approver_key)
            for item in body["data"]:
                if item["agent_id"] == agent_id:
                    server.resolve(item["id"], "approve")
                    return
            time.sleep(0.1)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    return thread


def _receipt_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "thoth" and r.levelno >= logging.WARNING]


def _block_into_allow(answer: dict[str, Any]) -> None:
    if answer["decision"] == "BLOCK":
        answer.update(decision="ALLOW", authorization_decision="ALLOW", decision_reason_code="allowed")


@pytest.mark.parametrize("form", ["merkle", "per-decision"])
def test_enforce_acts_on_honest_answers_of_every_kind(
    servers: dict[str, ThothServer], proxies: Any, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    server = servers[form]
    proxy = proxies(server)
    agent, agent_id = _agent(server, proxy, "enforce")
    search, pay, charge, wire = agent.tools
    with caplog.at_level(logging.WARNING, logger="thoth"):
        assert search.run("q") == {"args": ["q"], "kwargs": {}}
        with pytest.raises(ThothPolicyViolation) as info:
            pay.run("INV-1", amount=50_000)
        assert info.value.decision_reason_code == "payment_limit"
        modified = charge.run("INV-2", **{k: v for k, v in CARD_ARGS.items() if k.isidentifier()})
        assert modified["kwargs"]["card_number"] == "[REDACTED]"
        assert modified["kwargs"]["rate"] == 1e-7
        thread = _approve_when_pending(server, agent_id)
        assert wire.run("ACME", 700) == {"args": ["ACME", 700], "kwargs": {}}
        thread.join(5)
    assert _receipt_warnings(caplog) == []
    assert proxy.key_fetches == 1  # fetched once, then cached


def test_enforce_blocks_a_block_turned_into_an_allow(servers: dict[str, ThothServer], proxies: Any) -> None:
    server = servers["merkle"]
    proxy = proxies(server)
    proxy.tamper = _block_into_allow
    agent, _ = _agent(server, proxy, "enforce", fail_open=True)
    pay = agent.tools[1]
    with pytest.raises(ThothPolicyViolation) as info:
        pay.run("INV-3", amount=50_000)
    assert info.value.decision == "BLOCK"
    assert info.value.decision_reason_code == "receipt_invalid"
    assert "the decision is not the leaf its audit path leads from to the root" in info.value.reason
    assert pay.calls == 0


def test_enforce_blocks_a_forged_per_decision_signature(servers: dict[str, ThothServer], proxies: Any) -> None:
    server = servers["per-decision"]
    proxy = proxies(server)
    proxy.tamper = lambda a: a["receipt"].update(signature=_flip_signature(a["receipt"]["signature"]))
    agent, _ = _agent(server, proxy, "enforce")
    with pytest.raises(ThothPolicyViolation) as info:
        agent.tools[0].run("q")
    assert info.value.decision_reason_code == "receipt_invalid"
    assert "the signature does not verify" in info.value.reason


def test_warn_acts_on_the_forged_answer_and_logs(
    servers: dict[str, ThothServer], proxies: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = servers["merkle"]
    proxy = proxies(server)
    proxy.tamper = _block_into_allow
    agent, _ = _agent(server, proxy, "warn")
    with caplog.at_level(logging.WARNING, logger="thoth"):
        assert agent.tools[1].run("INV-4", amount=50_000) == {"args": ["INV-4"], "kwargs": {"amount": 50_000}}
    warnings = _receipt_warnings(caplog)
    assert len(warnings) == 1
    assert "the receipt of the ALLOW answer for submit_payment does not verify" in warnings[0]
    assert "acting on the answer anyway" in warnings[0]


def test_off_fetches_and_checks_nothing(
    servers: dict[str, ThothServer], proxies: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = servers["merkle"]
    proxy = proxies(server)
    proxy.tamper = _block_into_allow
    agent, _ = _agent(server, proxy, "off")
    with caplog.at_level(logging.WARNING, logger="thoth"):
        agent.tools[1].run("INV-5", amount=50_000)
    assert _receipt_warnings(caplog) == []
    assert proxy.key_fetches == 0


def test_an_unknown_key_id_refetches_once_then_is_invalid(servers: dict[str, ThothServer], proxies: Any) -> None:
    server = servers["merkle"]
    proxy = proxies(server)
    agent, _ = _agent(server, proxy, "enforce")
    search = agent.tools[0]
    search.run("q")
    assert proxy.key_fetches == 1
    proxy.tamper = lambda a: a["receipt"].update(key_id="ffffffffffffffff")
    with pytest.raises(ThothPolicyViolation) as info:
        search.run("q")
    assert 'names key "ffffffffffffffff", which GET /v1/keys/receipt does not list' in info.value.reason
    assert proxy.key_fetches == 2
    with pytest.raises(ThothPolicyViolation):
        search.run("q")
    assert proxy.key_fetches == 2  # not refetched again for the same id
    proxy.tamper = None
    search.run("q")


def test_keys_unavailable_fail_open_acts_unverified_fail_closed_blocks(
    servers: dict[str, ThothServer], proxies: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = servers["merkle"]
    proxy = proxies(server)
    proxy.keys_down = True
    agent, _ = _agent(server, proxy, "enforce")
    search, pay = agent.tools[0], agent.tools[1]
    with caplog.at_level(logging.WARNING, logger="thoth"):
        search.run("a")
        search.run("b")
        with pytest.raises(ThothPolicyViolation) as info:
            pay.run("INV-6", amount=50_000)  # a BLOCK still blocks
        assert info.value.decision_reason_code == "payment_limit"
    warnings = [w for w in _receipt_warnings(caplog) if "receipt key endpoint" in w]
    assert len(warnings) == 1
    assert "HTTP 503" in warnings[0]

    strict, _ = _agent(server, proxy, "enforce", fail_open=False)
    with pytest.raises(ThothPolicyViolation) as info:
        strict.tools[0].run("c")
    assert info.value.decision_reason_code == "receipt_keys_unavailable"
    proxy.keys_down = False
    assert strict.tools[0].run("d") == {"args": ["d"], "kwargs": {}}


def test_unknown_mode_is_a_configuration_error() -> None:
    with pytest.raises(ThothConfigurationError, match="verify_receipts"):
        thoth.ThothConfig.resolve(
            agent_id="a", approved_scope=[], tenant_id="t", api_url="http://x", api_key="k", verify_receipts="strict"
        )


def test_the_sdk_works_without_cryptography_until_verification_is_asked_for() -> None:
    script = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "cryptography" or name.startswith("cryptography."):
            raise ImportError("blocked by the test")
sys.meta_path.insert(0, Block())
import thoth
from thoth import ThothConfig, ThothConfigurationError
from thoth.receipts import CryptographyMissing, canonical_json, verify_receipt
base = dict(agent_id="a", approved_scope=[], tenant_id="t", api_url="http://127.0.0.1:9", api_key="k")
ThothConfig.resolve(**base)
assert canonical_json({"b": 1.0, "a": [1e21]}) == '{"a":[1e+21],"b":1}'
try:
    ThothConfig.resolve(**base, verify_receipts="enforce")
except ThothConfigurationError as error:
    print("config:", error)
try:
    verify_receipt({}, {}, "pem")
except CryptographyMissing as error:
    print("verify:", error)
"""
    env = {**os.environ, "PYTHONPATH": str(SDK_DIR / "src")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout + done.stderr
    for line in lines:
        assert "pip install 'thoth-sdk[receipts]'" in line
        assert "cryptography" in line
