"""Fixtures shared by the service tests.

- `media_host`: a started `MediaHost`, the loopback stand-in for Instagram's CDN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from instagram_stub import MediaHost


@pytest.fixture
async def media_host() -> AsyncIterator[MediaHost]:
    host = MediaHost()
    await host.start()
    yield host
    await host.stop()
