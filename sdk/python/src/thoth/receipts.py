"""Verification of the receipt every ``POST /v1/enforce`` answer carries (docs/receipts.md).

Both forms: the Merkle batch receipt (``merkle-v1``: RFC 9162 hashing, Ed25519 over the batch head) and the
per-decision Ed25519 signature. A port of ``scripts/verify-receipt.mjs``.

Hashing and canonical JSON are standard library; the Ed25519 check needs the ``cryptography`` package
(``pip install 'thoth-sdk[receipts]'``), imported only when a signature is checked, so the SDK imports and
governs without it as long as verification is off.

    from thoth.receipts import verify_receipt
    result = verify_receipt(request_body, response_body, public_key_pem)
    if not result.valid:
        print(result.reason)

Canonical JSON matches JavaScript's (the server signs with ``JSON.stringify`` rules): object keys sorted by
UTF-16 code units at every depth, no whitespace, strings escaped as ``JSON.stringify`` escapes them (a lone
surrogate as ``\\udxxx``), numbers printed as JavaScript prints them — every finite float (``1.0`` → ``1``,
``1e21`` → ``1e+21``, ``1e-07`` → ``1e-7``, ``-0.0`` → ``0``), and ints as the double JavaScript would hold
(exact up to 2**53; beyond, rounded as JavaScript rounds). NaN and infinities are refused, as the server does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .client import HttpClient

MERKLE_RECEIPT_FORMAT = "merkle-v1"

_INSTALL_HINT = "pip install 'thoth-sdk[receipts]' (or: pip install cryptography)"


class CryptographyMissing(ImportError):
    """Receipt verification needs the ``cryptography`` package, and it is not installed."""

    def __init__(self) -> None:
        super().__init__(f"thoth: verifying receipts needs the `cryptography` package: {_INSTALL_HINT}")


def cryptography_available() -> bool:
    try:
        _ed25519()
    except CryptographyMissing:
        return False
    return True


def _ed25519() -> tuple[Any, Any, Any]:
    """(load_pem_public_key, Ed25519PublicKey, InvalidSignature), imported on first use."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
    except ImportError as error:
        raise CryptographyMissing() from error
    return load_pem_public_key, Ed25519PublicKey, InvalidSignature


@dataclass(frozen=True)
class ReceiptVerification:
    """``valid``, and when not, ``reason`` (why the receipt does not vouch for the answer)."""

    valid: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.valid


# -- canonical JSON ------------------------------------------------------------------------------------------

_MAX_SAFE_INTEGER = 2**53
_SURROGATE = re.compile("[\ud800-\udfff]")


def js_number(value: int | float) -> str:
    """``value`` as JavaScript's ``JSON.stringify`` prints it (ECMAScript Number::toString)."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a number here")
    if isinstance(value, int):
        if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            return str(value)
        try:
            value = float(value)  # what JavaScript holds for it
        except OverflowError:
            raise ValueError(f"canonical_json: {value} has no finite JavaScript form") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"canonical_json: non-finite number {value}")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr is the shortest round-trip form, as ECMAScript's digits are; only the layout differs.
    digits_tuple = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in digits_tuple.digits)
    k = len(digits)
    n = k + int(digits_tuple.exponent)  # value = 0.digits × 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        exponent = n - 1
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"
    return sign + text


def _js_string(text: str) -> str:
    # Join surrogate pairs written as two code points (JavaScript sees one character); lone ones stay.
    if _SURROGATE.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    quoted = json.dumps(text, ensure_ascii=False)  # escapes exactly " \\ and U+0000..U+001F, as JavaScript
    if _SURROGATE.search(quoted):
        quoted = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)
    return quoted


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def canonical_json(value: Any) -> str:
    """The canonical JSON text Thoth signs (services/contracts/src/canonical-json.ts): see the module doc."""
    return _write(value, [])


def _write(value: Any, ancestors: list[int]) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, (int, float)):
        return js_number(value)
    if isinstance(value, Mapping) or (isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray))):
        if id(value) in ancestors:
            raise ValueError("canonical_json: cyclic structure")
        ancestors.append(id(value))
        try:
            if isinstance(value, Mapping):
                for key in value:
                    if not isinstance(key, str):
                        raise TypeError(f"canonical_json: object key {key!r} is not a string")
                members = [f"{_js_string(k)}:{_write(value[k], ancestors)}" for k in sorted(value, key=_utf16_key)]
                return "{" + ",".join(members) + "}"
            return "[" + ",".join(_write(item, ancestors) for item in value) + "]"
        finally:
            ancestors.pop()
    raise TypeError(f"canonical_json: {type(value).__name__} has no JSON form")


# -- Merkle hashing ------------------------------------------------------------------------------------------

_HASH_HEX = re.compile(r"[0-9a-f]{64}")


def leaf_hash(text: str) -> str:
    """RFC 9162 leaf hash (hex): SHA-256(0x00 ‖ UTF-8 of ``text``)."""
    return hashlib.sha256(b"\x00" + text.encode("utf-8")).hexdigest()


def node_hash(left: str, right: str) -> str:
    """RFC 9162 inner node hash (hex): SHA-256(0x01 ‖ left ‖ right), children as hex."""
    return hashlib.sha256(b"\x01" + bytes.fromhex(left) + bytes.fromhex(right)).hexdigest()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def verify_inclusion(leaf: str, index: Any, size: Any, path: Any, root: Any) -> bool:
    """RFC 9162 §2.1.3.2: whether ``path`` (hex sibling hashes, leaf up) leads from ``leaf`` at ``index`` of a
    ``size``-leaf tree to ``root``."""
    if not (_is_int(index) and _is_int(size) and 0 <= index < size <= _MAX_SAFE_INTEGER):
        return False
    if not isinstance(path, list) or not all(isinstance(p, str) and _HASH_HEX.fullmatch(p) for p in path):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn //= 2
                sn //= 2
        else:
            r = node_hash(r, p)
        fn //= 2
        sn //= 2
    return sn == 0 and r == root


# -- the signed decision -------------------------------------------------------------------------------------

_RESPONSE_FIELDS = ("decision", "decision_reason_code", "decision_id", "enforcement_trace_id", "risk_score")
_REQUEST_FIELDS = ("tenant_id", "agent_id", "session_id", "tool_name")


def signed_decision(request: Mapping[str, Any], response: Mapping[str, Any]) -> dict[str, Any]:
    """The decision a receipt covers (docs/receipts.md §What is signed), from the request body sent to
    ``POST /v1/enforce`` and its parsed answer. Fields the answer lacks stay absent; a null ``hold_token`` too."""
    decision: dict[str, Any] = {}
    for name in _RESPONSE_FIELDS:
        if name in response:
            decision[name] = response[name]
    for name in _REQUEST_FIELDS:
        if name in request:
            decision[name] = request[name]
    receipt = response.get("receipt")
    if isinstance(receipt, Mapping) and "issued_at" in receipt:
        decision["issued_at"] = receipt["issued_at"]
    if response.get("hold_token") is not None:
        decision["hold_token"] = response["hold_token"]
    if "modified_tool_args" in response:
        decision["modified_tool_args"] = response["modified_tool_args"]
    if "policy_version" in response:
        decision["policy_version"] = response["policy_version"]
    return decision


def receipt_leaf_hash(decision: Mapping[str, Any]) -> str:
    """The leaf of a Merkle receipt: MODIFY's arguments enter as the SHA-256 of their canonical JSON."""
    leaf = {k: v for k, v in decision.items() if k != "modified_tool_args"}
    if "modified_tool_args" in decision:
        digest = hashlib.sha256(canonical_json(decision["modified_tool_args"]).encode("utf-8")).hexdigest()
        leaf["modified_tool_args_sha256"] = digest
    return leaf_hash(canonical_json(leaf))


# -- verification --------------------------------------------------------------------------------------------


def load_public_key(pem: str | bytes) -> Any:
    """An Ed25519 public key object from PEM (raises ``CryptographyMissing`` or ``ValueError``)."""
    load_pem_public_key, ed25519_type, _ = _ed25519()
    key = load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, ed25519_type):
        raise ValueError("not an Ed25519 public key")
    return key


def _signature_valid(text: str, signature: str, key: Any) -> bool:
    _, _, invalid_signature = _ed25519()
    try:
        raw = base64.b64decode(signature + "=" * (-len(signature) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, text.encode("utf-8"))
    except invalid_signature:
        return False
    return True


def _invalid(reason: str) -> ReceiptVerification:
    return ReceiptVerification(False, reason)


def verify_receipt(request: Mapping[str, Any], response: Mapping[str, Any], public_key: Any) -> ReceiptVerification:
    """Whether the ``receipt`` of ``response`` (a parsed answer of ``POST /v1/enforce``) vouches for that answer
    to ``request`` (the body sent), under ``public_key``: the Ed25519 public key as PEM (``str``/``bytes``, as
    ``GET /v1/keys/receipt`` lists it) or a loaded key. Both receipt forms.

    Never raises for a bad answer or key (the reason says what is wrong); raises ``CryptographyMissing`` when
    the ``cryptography`` package is not installed.
    """
    _ed25519()
    receipt = response.get("receipt") if isinstance(response, Mapping) else None
    if (
        not isinstance(receipt, Mapping)
        or not isinstance(receipt.get("signature"), str)
        or not isinstance(receipt.get("issued_at"), str)
    ):
        return _invalid("the answer carries no receipt")
    if receipt.get("signing_algorithm") != "ed25519":
        return _invalid(f"unknown signing algorithm {json.dumps(receipt.get('signing_algorithm'))}")
    if isinstance(public_key, (str, bytes)):
        try:
            key = load_public_key(public_key)
        except ValueError:
            return _invalid("the public key is not an Ed25519 key")
    else:
        key = public_key
    request = request if isinstance(request, Mapping) else {}
    try:
        decision = signed_decision(request, response)
        decision_text = canonical_json(decision)
    except (TypeError, ValueError) as error:
        return _invalid(f"the answer has no canonical JSON form ({error})")
    form = receipt.get("receipt_format")
    if form is None:
        if _signature_valid(decision_text, receipt["signature"], key):
            return ReceiptVerification(True)
        return _invalid("the signature does not verify")
    if form != MERKLE_RECEIPT_FORMAT:
        return _invalid(f"unknown receipt format {json.dumps(form)}")
    index, size, path = receipt.get("leaf_index"), receipt.get("tree_size"), receipt.get("audit_path")
    root, signed_at, key_id = receipt.get("root"), receipt.get("signed_at"), receipt.get("key_id")
    if not (
        _is_int(index)
        and _is_int(size)
        and isinstance(path, list)
        and isinstance(root, str)
        and _HASH_HEX.fullmatch(root)
        and isinstance(signed_at, str)
        and isinstance(key_id, str)
    ):
        return _invalid(
            "the Merkle receipt lacks or malforms leaf_index, tree_size, audit_path, root, signed_at or key_id"
        )
    if not verify_inclusion(receipt_leaf_hash(decision), index, size, path, root):
        return _invalid("the decision is not the leaf its audit path leads from to the root")
    head = {
        "v": 1,
        "type": "thoth.receipt-batch",
        "tenant_id": decision.get("tenant_id"),
        "key_id": key_id,
        "root": root,
        "tree_size": size,
        "signed_at": signed_at,
    }
    if _signature_valid(canonical_json(head), receipt["signature"], key):
        return ReceiptVerification(True)
    return _invalid("the batch signature does not verify")


# -- the keys of a running Thoth -----------------------------------------------------------------------------

_MAX_REMEMBERED_UNKNOWN = 1_000


class KeysUnavailable(Exception):
    """``GET /v1/keys/receipt`` gave no usable answer (an outage: subject to fail-open)."""


@dataclass(frozen=True)
class ReceiptCheck:
    """The check of one enforce answer: ``status`` is ``valid``, ``invalid`` or ``unavailable`` (no keys)."""

    status: str
    reason: str | None = None


class ReceiptKeyring:
    """The public keys that sign one Thoth's receipts (``GET /v1/keys/receipt``, no authentication needed),
    fetched on the first check and cached. A receipt naming a key the cache lacks (a new replica, a rotated
    key) refetches the list once for that key id; a key id still unknown then is an invalid receipt and does
    not refetch again. A failed fetch is not cached. Thread-safe."""

    def __init__(self, http: HttpClient) -> None:
        self._http = http
        self._keys: dict[str, Any] | None = None
        self._refetched_for: set[str] = set()
        self._lock = threading.Lock()

    def check(self, request: Mapping[str, Any], response: Mapping[str, Any]) -> ReceiptCheck:
        receipt = response.get("receipt") if isinstance(response, Mapping) else None
        key_id = receipt.get("key_id") if isinstance(receipt, Mapping) else None
        if not isinstance(key_id, str) or not key_id:
            return ReceiptCheck("invalid", "the answer carries no receipt (or no key_id)")
        try:
            key = self._key_for(key_id)
        except KeysUnavailable as error:
            return ReceiptCheck("unavailable", str(error))
        if key is None:
            return ReceiptCheck(
                "invalid", f"the receipt names key {json.dumps(key_id)}, which GET /v1/keys/receipt does not list"
            )
        result = verify_receipt(request, response, key)
        return ReceiptCheck("valid") if result.valid else ReceiptCheck("invalid", result.reason)

    def _key_for(self, key_id: str) -> Any:
        with self._lock:
            if self._keys is None:
                self._keys = self._fetch()
            key = self._keys.get(key_id)
            if key is not None or key_id in self._refetched_for:
                return key
            if len(self._refetched_for) >= _MAX_REMEMBERED_UNKNOWN:
                self._refetched_for.clear()
            self._keys = self._fetch()  # raises before remembering: a failed refetch may be tried again
            self._refetched_for.add(key_id)
            return self._keys.get(key_id)

    def _fetch(self) -> dict[str, Any]:
        from .client import TransportError

        try:
            result = self._http.request("GET", "/v1/keys/receipt")
        except TransportError as error:
            raise KeysUnavailable(f"GET /v1/keys/receipt: {error}") from error
        if result.status != 200:
            raise KeysUnavailable(f"GET /v1/keys/receipt: HTTP {result.status}: {result.message()}")
        entries = result.body.get("keys") if isinstance(result.body, Mapping) else None
        if not isinstance(entries, list):
            raise KeysUnavailable('GET /v1/keys/receipt answered without a "keys" list')
        keys: dict[str, Any] = {}
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            key_id, pem = entry.get("key_id"), entry.get("public_key_pem")
            if not isinstance(key_id, str) or not isinstance(pem, str):
                continue
            if entry.get("algorithm", "ed25519") != "ed25519":
                continue
            try:
                keys[key_id] = load_public_key(pem)
            except ValueError:
                continue  # an unreadable key verifies nothing; the others still do
        return keys
