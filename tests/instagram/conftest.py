"""Fixtures for the Instagram client tests: an httpx client for respx and test clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from instagram_fakes import make_client

from bot.instagram import InstagramClient


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client that respx intercepts."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def client(http_client: httpx.AsyncClient) -> InstagramClient:
    """Client of the default flavor, Instagram API with Instagram Login."""
    return make_client(http_client)


@pytest.fixture
def basic_client(http_client: httpx.AsyncClient) -> InstagramClient:
    """Client of the Basic Display flavor."""
    return make_client(http_client, flavor="basic_display")
