"""The application key under which the sandbox app stores its state."""

from __future__ import annotations

from aiohttp import web

from bot.sandbox.state import SandboxState

__all__ = ["SANDBOX_STATE"]

SANDBOX_STATE = web.AppKey("sandbox_state", SandboxState)
