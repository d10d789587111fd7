"""The public surface of `bot.instagram` and its import boundaries."""

from __future__ import annotations

import subprocess
import sys

import bot.instagram


def test_every_exported_name_exists() -> None:
    for name in bot.instagram.__all__:
        assert hasattr(bot.instagram, name), name


def test_shared_interface_names_are_exported() -> None:
    expected = {
        "InstagramClient",
        "InstagramError",
        "InvalidTokenError",
        "RateLimitError",
        "AuthorizationCodeError",
        "InstagramUnavailableError",
        "parse_signed_request",
        "build_signed_request",
        "SignedRequest",
        "InvalidSignedRequest",
        "ShortLivedToken",
        "LongLivedToken",
        "Profile",
        "MediaItem",
        "MediaPage",
        "MediaType",
    }

    assert expected <= set(bot.instagram.__all__)


def test_package_imports_no_telegram_aiohttp_or_storage() -> None:
    # A fresh interpreter, because this test process may already have loaded those packages.
    script = (
        "import sys, bot.instagram\n"
        "loaded = [name for name in ('telegram', 'aiohttp', 'storage') if name in sys.modules]\n"
        "print(','.join(loaded))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    )

    assert result.stdout.strip() == ""
