"""Signed requests of Meta's deauthorize and data deletion callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from bot.instagram import (
    InvalidSignedRequest,
    SignedRequest,
    build_signed_request,
    parse_signed_request,
)

SECRET = "fake-app-secret-5f1e"
KNOWN_SECRET = "key"
KNOWN_REQUEST = (
    "Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U."
    "eyJ1c2VyX2lkIjoiMCIsImFsZ29yaXRobSI6IkhNQUMtU0hBMjU2IiwiaXNzdWVkX2F0IjoxNjI0MjQ0MTU2fQ"
)


def encode(data: bytes) -> str:
    """Encode bytes as base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_raw(payload_bytes: bytes, secret: str = SECRET) -> str:
    """Sign arbitrary payload bytes, valid JSON or not."""
    encoded_payload = encode(payload_bytes)
    signature = hmac.new(secret.encode(), encoded_payload.encode(), hashlib.sha256).digest()
    return f"{encode(signature)}.{encoded_payload}"


def test_known_vector_decodes() -> None:
    request = parse_signed_request(KNOWN_REQUEST, KNOWN_SECRET)

    assert request == SignedRequest(
        user_id="0",
        algorithm="HMAC-SHA256",
        issued_at=1624244156,
        payload={"user_id": "0", "algorithm": "HMAC-SHA256", "issued_at": 1624244156},
    )


def test_build_then_parse_round_trips() -> None:
    raw = build_signed_request({"user_id": "17841400000000001", "issued_at": 1700000000}, SECRET)

    request = parse_signed_request(raw, SECRET)

    assert "=" not in raw
    assert request.user_id == "17841400000000001"
    assert request.algorithm == "HMAC-SHA256"
    assert request.issued_at == 1700000000


def test_numeric_user_id_becomes_string() -> None:
    raw = build_signed_request({"user_id": 17841400000000001}, SECRET)

    request = parse_signed_request(raw, SECRET)

    assert request.user_id == "17841400000000001"
    assert request.issued_at is None


def test_lower_case_algorithm_is_accepted() -> None:
    raw = sign_raw(json.dumps({"user_id": "1", "algorithm": "hmac-sha256"}).encode())

    assert parse_signed_request(raw, SECRET).algorithm == "hmac-sha256"


def test_padded_signature_is_accepted() -> None:
    raw = build_signed_request({"user_id": "1"}, SECRET)
    signature, payload = raw.split(".")
    padded = f"{signature}{'=' * (-len(signature) % 4)}.{payload}"

    assert parse_signed_request(padded, SECRET).user_id == "1"


def test_padded_payload_breaks_signature() -> None:
    # The signature covers the payload text exactly as sent.
    raw = build_signed_request({"user_id": "12"}, SECRET)

    with pytest.raises(InvalidSignedRequest, match="signature"):
        parse_signed_request(raw + "==", SECRET)


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_signed_request(f"  {KNOWN_REQUEST}\n", KNOWN_SECRET).user_id == "0"


def test_tampered_signature_is_rejected() -> None:
    signature, payload = KNOWN_REQUEST.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    with pytest.raises(InvalidSignedRequest, match="signature"):
        parse_signed_request(f"{flipped}.{payload}", KNOWN_SECRET)


def test_tampered_payload_is_rejected() -> None:
    signature, _ = KNOWN_REQUEST.split(".")
    forged = encode(
        json.dumps({"user_id": "1", "algorithm": "HMAC-SHA256", "issued_at": 1624244156}).encode()
    )

    with pytest.raises(InvalidSignedRequest, match="signature"):
        parse_signed_request(f"{signature}.{forged}", KNOWN_SECRET)


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(InvalidSignedRequest, match="signature"):
        parse_signed_request(KNOWN_REQUEST, "other-secret")


@pytest.mark.parametrize("algorithm", ["HMAC-SHA1", "none", "", None, 256])
def test_other_algorithm_is_rejected(algorithm: object) -> None:
    raw = sign_raw(json.dumps({"user_id": "1", "algorithm": algorithm}).encode())

    with pytest.raises(InvalidSignedRequest, match="algorithm"):
        parse_signed_request(raw, SECRET)


def test_missing_algorithm_is_rejected() -> None:
    raw = sign_raw(json.dumps({"user_id": "1"}).encode())

    with pytest.raises(InvalidSignedRequest, match="algorithm"):
        parse_signed_request(raw, SECRET)


@pytest.mark.parametrize(
    "raw",
    [
        "abc$def.eyJ1c2VyX2lkIjoiMCJ9",
        "Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U.eyJ1c2VyX2lk+IjoiMCJ9",
        "Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U.e",
        "Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U.eyJ1c2VyX2lkIjoiMCJ9.eyJ9",
        "Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U.eyJ1c2VyX2lk\u00e9",
    ],
)
def test_bad_base64_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidSignedRequest, match="base64url"):
        parse_signed_request(raw, SECRET)


@pytest.mark.parametrize("payload", [b"not json", b"\xff\xfe", b'["user_id", "1"]', b'"text"'])
def test_non_object_payload_is_rejected(payload: bytes) -> None:
    with pytest.raises(InvalidSignedRequest, match="JSON"):
        parse_signed_request(sign_raw(payload), SECRET)


@pytest.mark.parametrize("raw", ["", "   ", "no-dot-here", ".eyJ9", "c2ln."])
def test_missing_part_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidSignedRequest):
        parse_signed_request(raw, SECRET)


@pytest.mark.parametrize("user_id", [None, "", "  ", ["1"], True, 1.5])
def test_missing_or_invalid_user_id_is_rejected(user_id: object) -> None:
    raw = sign_raw(json.dumps({"user_id": user_id, "algorithm": "HMAC-SHA256"}).encode())

    with pytest.raises(InvalidSignedRequest, match="user_id"):
        parse_signed_request(raw, SECRET)


def test_absent_user_id_is_rejected() -> None:
    raw = build_signed_request({"issued_at": 1624244156}, SECRET)

    with pytest.raises(InvalidSignedRequest, match="user_id"):
        parse_signed_request(raw, SECRET)


def test_invalid_issued_at_is_rejected() -> None:
    raw = build_signed_request({"user_id": "1", "issued_at": "yesterday"}, SECRET)

    with pytest.raises(InvalidSignedRequest, match="issued_at"):
        parse_signed_request(raw, SECRET)


def test_empty_secret_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="app secret is empty") as caught:
        parse_signed_request(KNOWN_REQUEST, "")

    assert not isinstance(caught.value, InvalidSignedRequest)


def test_invalid_signed_request_is_a_value_error() -> None:
    assert issubclass(InvalidSignedRequest, ValueError)


def test_error_messages_hide_secret() -> None:
    signature, payload = KNOWN_REQUEST.split(".")

    with pytest.raises(InvalidSignedRequest) as caught:
        parse_signed_request(f"{signature[::-1]}.{payload}", SECRET)

    assert SECRET not in str(caught.value)
    assert signature not in str(caught.value)
