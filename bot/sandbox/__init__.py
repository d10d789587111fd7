"""An embedded fake of Meta's Instagram servers, for the sandbox mode and tests."""

from __future__ import annotations

from bot.sandbox.app import create_sandbox_app, sandbox_urls
from bot.sandbox.content import SandboxAccount, SandboxMedia, SandboxMediaType
from bot.sandbox.keys import SANDBOX_STATE
from bot.sandbox.signing import build_signed_request
from bot.sandbox.state import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    Flavor,
    SandboxState,
)

__all__ = [
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_STATE",
    "Flavor",
    "SandboxAccount",
    "SandboxMedia",
    "SandboxMediaType",
    "SandboxState",
    "build_signed_request",
    "create_sandbox_app",
    "sandbox_urls",
]
