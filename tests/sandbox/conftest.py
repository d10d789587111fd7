"""Fixtures that serve the sandbox under /sandbox on a loopback test server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.sandbox import (
    SANDBOX_CLIENT_SECRET,
    SANDBOX_STATE,
    SandboxState,
    create_sandbox_app,
)

DEMO_ID = "17841400000000001"
PERSONAL_ID = "4512345678"
EMPTY_ID = "17841400000000003"
LOGIN_SCOPE = "instagram_business_basic"
BASIC_SCOPE = "user_profile,user_media"
START = datetime(2024, 3, 6, 12, 0, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """A clock that tests move by hand."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Sandbox:
    """A running sandbox with helpers that walk the OAuth flow."""

    client: TestClient[web.Request, web.Application]
    state: SandboxState
    clock: FakeClock
    base_url: str
    redirect_uri: str = field(init=False)

    def __post_init__(self) -> None:
        self.redirect_uri = f"{self.base_url}/oauth/callback"

    def authorize_params(
        self, scope: str = LOGIN_SCOPE, oauth_state: str = "st-1"
    ) -> dict[str, str]:
        return {
            "client_id": self.state.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "response_type": "code",
            "state": oauth_state,
        }

    async def allow(self, account: str = DEMO_ID, scope: str = LOGIN_SCOPE) -> str:
        """Submit Allow on the authorize page and return the redirect Location."""
        form = {**self.authorize_params(scope), "account": account, "decision": "allow"}
        response = await self.client.post(
            "/sandbox/oauth/authorize", data=form, allow_redirects=False
        )
        assert response.status == 302, await response.text()
        return response.headers["Location"]

    async def code(self, account: str = DEMO_ID, scope: str = LOGIN_SCOPE) -> str:
        location = await self.allow(account, scope)
        match = re.search(r"[?&]code=([^&#]+)", location)
        assert match is not None, location
        return match.group(1)

    async def exchange(self, code: str, **overrides: str) -> tuple[int, Any]:
        form = {
            "client_id": self.state.client_id,
            "client_secret": self.state.client_secret,
            "grant_type": "authorization_code",
            "redirect_uri": self.redirect_uri,
            "code": code,
            **overrides,
        }
        response = await self.client.post("/sandbox/api/oauth/access_token", data=form)
        return response.status, await response.json()

    async def short_token(self, account: str = DEMO_ID, scope: str = LOGIN_SCOPE) -> str:
        status, body = await self.exchange(await self.code(account, scope))
        assert status == 200, body
        item = body["data"][0] if "data" in body else body
        return str(item["access_token"])

    async def long_token(self, account: str = DEMO_ID, scope: str = LOGIN_SCOPE) -> str:
        short = await self.short_token(account, scope)
        response = await self.client.get(
            "/sandbox/graph/access_token",
            params={
                "grant_type": "ig_exchange_token",
                "client_secret": self.state.client_secret,
                "access_token": short,
            },
        )
        body = await response.json()
        assert response.status == 200, body
        return str(body["access_token"])

    async def graph(self, path: str, token: str, **params: Any) -> tuple[int, Any]:
        response = await self.client.get(
            f"/sandbox/graph{path}", params={"access_token": token, **params}
        )
        return response.status, await response.json()


def relative(url: str) -> str:
    """Return the path and query of an absolute URL, to request it with the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


async def start_sandbox(
    clock: FakeClock,
    media_url_ttl: timedelta = timedelta(hours=1),
    client_secret: str = SANDBOX_CLIENT_SECRET,
) -> Sandbox:
    """Serve a new sandbox app on a loopback test server, as a restarted bot process would."""
    root = web.Application()
    sandbox_app = create_sandbox_app(
        public_url="http://placeholder.invalid",
        client_secret=client_secret,
        clock=clock,
        media_url_ttl=media_url_ttl,
    )
    root.add_subapp("/sandbox", sandbox_app)
    server = TestServer(root, host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    base_url = str(server.make_url("")).rstrip("/")
    state = sandbox_app[SANDBOX_STATE]
    state.public_url = base_url
    return Sandbox(client=client, state=state, clock=clock, base_url=base_url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[Sandbox]:
    running = await start_sandbox(clock)
    yield running
    await running.client.close()
