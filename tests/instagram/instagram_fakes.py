"""Fake app credentials, hosts and clock shared by the Instagram client tests."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from bot.instagram import InstagramClient

CLIENT_ID = "990011223344"
CLIENT_SECRET = "fake-app-secret-5f1e"
REDIRECT_URI = "https://bot.example.test/oauth/callback"
API_URL = "https://api.instagram.test"
GRAPH_URL = "https://graph.instagram.test"
NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    """Return the fixed test time."""
    return NOW


def make_client(
    http_client: httpx.AsyncClient, flavor: str = "instagram_login"
) -> InstagramClient:
    """Build a client against the fake hosts, with no delay between retries."""
    return InstagramClient(
        CLIENT_ID,
        CLIENT_SECRET,
        REDIRECT_URI,
        flavor=flavor,
        api_url=API_URL,
        graph_url=GRAPH_URL,
        http_client=http_client,
        clock=fixed_clock,
        retry_base_delay=0.0,
    )
