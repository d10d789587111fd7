"""Control API of the sandbox: posts, revocation, faults, time and counters."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from bot.sandbox import build_signed_request
from tests.sandbox.conftest import DEMO_ID, PERSONAL_ID, START, Sandbox


async def _control(sandbox: Sandbox, path: str, body: object) -> tuple[int, dict[str, object]]:
    response = await sandbox.client.post(f"/sandbox/control/{path}", json=body)
    return response.status, await response.json()


async def test_added_post_comes_first(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    status, created = await _control(
        sandbox, "posts", {"account": "sandbox.demo", "caption": "Fresh 🌱"}
    )
    _, page = await sandbox.graph("/v25.0/me/media", token, fields="id,caption,timestamp")
    _, profile = await sandbox.graph("/v25.0/me", token, fields="media_count")

    assert status == 201
    assert page["data"][0]["id"] == created["id"]
    assert page["data"][0]["caption"] == "Fresh 🌱"
    assert page["data"][0]["timestamp"] == "2024-03-06T12:00:00+0000"
    assert profile["media_count"] == 65


async def test_added_carousel_has_its_children(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    status, created = await _control(
        sandbox,
        "posts",
        {"account": DEMO_ID, "media_type": "CAROUSEL_ALBUM", "children": ["IMAGE", "VIDEO"]},
    )
    _, children = await sandbox.graph(f"/{created['id']}/children", token, fields="media_type")

    assert status == 201
    assert [child["media_type"] for child in children["data"]] == ["IMAGE", "VIDEO"]


async def test_add_post_rejects_bad_input(sandbox: Sandbox) -> None:
    cases = [
        {"account": "nobody"},
        {"account": DEMO_ID, "media_type": "STORY"},
        {"account": DEMO_ID, "media_type": "CAROUSEL_ALBUM", "children": ["IMAGE"] * 11},
        {"account": DEMO_ID, "caption": 5},
        {"account": DEMO_ID, "children": ["IMAGE"]},
    ]
    for body in cases:
        status, answer = await _control(sandbox, "posts", body)

        assert status == 400, body
        assert answer["error"], body
    assert len(sandbox.state.account(DEMO_ID).posts) == 64  # type: ignore[union-attr]


async def test_revoke_causes_code_190(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    other = await sandbox.long_token(PERSONAL_ID)
    status, answer = await _control(sandbox, "revoke", {"account": DEMO_ID})
    graph_status, body = await sandbox.graph("/v25.0/me", token)
    other_status, _ = await sandbox.graph("/v25.0/me", other)

    assert status == 200
    # The short-lived token and the long-lived token made from it.
    assert answer["revoked"] == 2
    assert graph_status == 400
    assert body["error"]["code"] == 190
    assert body["error"]["type"] == "OAuthException"
    assert body["error"]["fbtrace_id"]
    assert token not in json.dumps(body)
    assert other_status == 200


async def test_rate_limit_returns_code_4(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    await _control(sandbox, "rate-limit", {"count": 2})
    responses = [
        await sandbox.client.get("/sandbox/graph/v25.0/me", params={"access_token": token})
        for _ in range(3)
    ]
    first = await responses[0].json()
    usage = json.loads(responses[0].headers["X-App-Usage"])
    business_usage = json.loads(responses[0].headers["X-Business-Use-Case-Usage"])

    assert [response.status for response in responses] == [400, 400, 200]
    assert first["error"]["code"] == 4
    assert usage["call_count"] == 100
    assert business_usage[DEMO_ID][0]["estimated_time_to_regain_access"] == 1
    assert "X-App-Usage" not in responses[2].headers


async def test_rate_limit_spares_the_code_exchange(sandbox: Sandbox) -> None:
    await _control(sandbox, "rate-limit", {"count": 1})
    status, _ = await sandbox.exchange(await sandbox.code())

    assert status == 200
    assert sandbox.state.pending_rate_limits == 1


async def test_fail_answers_500(sandbox: Sandbox) -> None:
    code = await sandbox.code()
    await _control(sandbox, "fail", {"count": 1})
    failed_status, failed = await sandbox.exchange(code)
    status, _ = await sandbox.exchange(code)

    assert failed_status == 500
    assert failed["error"]["code"] == 2
    assert status == 200


async def test_fail_with_html_body(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    await _control(sandbox, "fail", {"count": 1, "html": True})
    response = await sandbox.client.get("/sandbox/graph/me", params={"access_token": token})

    assert response.status == 500
    assert response.content_type == "text/html"


async def test_fault_controls_reject_bad_counts(sandbox: Sandbox) -> None:
    for path in ("rate-limit", "fail"):
        for count in (-1, "3", True):
            status, _ = await _control(sandbox, path, {"count": count})

            assert status == 400, (path, count)
    response = await sandbox.client.post("/sandbox/control/fail", data="not json")
    assert response.status == 400


async def test_advance_moves_the_clock(sandbox: Sandbox) -> None:
    status, answer = await _control(sandbox, "advance", {"seconds": 90061})
    bad_status, _ = await _control(sandbox, "advance", {"seconds": -5})

    assert status == 200
    assert answer["now"] == "2024-03-07T13:01:01+00:00"
    assert sandbox.state.now() == START.replace(day=7, hour=13, minute=1, second=1)
    assert bad_status == 400


async def test_advance_lets_a_token_be_refreshed(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    await _control(sandbox, "advance", {"seconds": 24 * 3600})
    response = await sandbox.client.get(
        "/sandbox/graph/refresh_access_token",
        params={"grant_type": "ig_refresh_token", "access_token": token},
    )

    assert response.status == 200


async def test_request_counters(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    await sandbox.graph("/v25.0/me", token)
    await sandbox.graph("/me", token)
    await sandbox.graph("/v25.0/me/media", token)
    response = await sandbox.client.get("/sandbox/control/requests")
    counts = await response.json()

    assert counts["counts"] == {
        "api.access_token": 1,
        "graph.access_token": 1,
        "graph.me": 2,
        "graph.me_media": 1,
        "oauth.authorize_submit": 1,
    }
    assert counts["total"] == 6


async def test_request_counters_reset(sandbox: Sandbox) -> None:
    await sandbox.client.get("/sandbox/graph/me")
    response = await sandbox.client.delete("/sandbox/control/requests")
    after = await (await sandbox.client.get("/sandbox/control/requests")).json()

    assert response.status == 200
    assert after == {"counts": {}, "total": 0}


async def test_accounts_listing(sandbox: Sandbox) -> None:
    response = await sandbox.client.get("/sandbox/control/accounts")
    body = await response.json()

    assert [account["username"] for account in body["accounts"]] == [
        "sandbox.demo",
        "sandbox.personal",
        "sandbox.empty",
    ]
    assert [account["media_count"] for account in body["accounts"]] == [64, 6, 0]


async def test_signed_request_matches_meta_format(sandbox: Sandbox) -> None:
    status, answer = await _control(
        sandbox, "signed-request", {"user_id": DEMO_ID, "issued_at": 1700000000}
    )
    raw = str(answer["signed_request"])
    encoded_signature, encoded_payload = raw.split(".")
    payload = json.loads(
        base64.urlsafe_b64decode(encoded_payload + "=" * (-len(encoded_payload) % 4))
    )
    expected = hmac.new(
        sandbox.state.client_secret.encode(), encoded_payload.encode(), hashlib.sha256
    ).digest()

    assert status == 200
    assert "=" not in raw
    assert base64.urlsafe_b64decode(encoded_signature + "=") == expected
    assert payload == {"user_id": DEMO_ID, "algorithm": "HMAC-SHA256", "issued_at": 1700000000}


async def test_signed_request_defaults_to_sandbox_time(sandbox: Sandbox) -> None:
    _, answer = await _control(sandbox, "signed-request", {"user_id": 42})
    encoded_payload = str(answer["signed_request"]).split(".")[1]
    payload = json.loads(
        base64.urlsafe_b64decode(encoded_payload + "=" * (-len(encoded_payload) % 4))
    )

    assert payload["user_id"] == "42"
    assert payload["issued_at"] == int(START.timestamp())


def test_build_signed_request_known_vector() -> None:
    payload = {"user_id": "0", "algorithm": "HMAC-SHA256", "issued_at": 1624244156}

    assert build_signed_request(payload, "key") == (
        "Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U."
        "eyJ1c2VyX2lkIjoiMCIsImFsZ29yaXRobSI6IkhNQUMtU0hBMjU2IiwiaXNzdWVkX2F0IjoxNjI0MjQ0MTU2fQ"
    )
