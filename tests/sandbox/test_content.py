"""Determinism and shape of the sandbox content."""

from __future__ import annotations

from typing import Any

from bot.sandbox import SandboxMediaType, sandbox_urls
from bot.sandbox.content import build_accounts
from bot.sandbox.files import render_image, render_video
from tests.sandbox.conftest import DEMO_ID, FakeClock, Sandbox, relative, start_sandbox

FIELDS = (
    "id,caption,media_type,media_url,permalink,thumbnail_url,timestamp,username,"
    "children{media_type,media_url,thumbnail_url}"
)


async def _snapshot(sandbox: Sandbox) -> tuple[list[dict[str, Any]], bytes, dict[str, Any]]:
    token = await sandbox.long_token()
    _, page = await sandbox.graph("/v25.0/me/media", token, fields=FIELDS, limit=100)
    _, profile = await sandbox.graph("/v25.0/me", token, fields="user_id,username,media_count")
    image = await (await sandbox.client.get(relative(page["data"][0]["media_url"]))).read()
    # URLs contain the random test server port; compare everything after it.
    for item in page["data"]:
        for key in ("media_url", "permalink", "thumbnail_url"):
            if key in item:
                item[key] = relative(item[key])
        for child in item.get("children", {}).get("data", []):
            for key in ("media_url", "thumbnail_url"):
                if key in child:
                    child[key] = relative(child[key])
    return page["data"], image, profile


async def test_two_sandboxes_serve_identical_content() -> None:
    first = await start_sandbox(FakeClock())
    second = await start_sandbox(FakeClock())
    try:
        first_snapshot = await _snapshot(first)
        second_snapshot = await _snapshot(second)
    finally:
        await first.client.close()
        await second.client.close()

    assert first_snapshot[0] == second_snapshot[0]
    assert first_snapshot[1] == second_snapshot[1]
    assert first_snapshot[2] == second_snapshot[2]


def test_build_accounts_is_deterministic() -> None:
    first = build_accounts()
    second = build_accounts()

    assert [account.username for account in first] == [
        "sandbox.demo",
        "sandbox.personal",
        "sandbox.empty",
    ]
    assert first == second


def test_demo_account_shapes() -> None:
    demo = build_accounts()[0]
    types = [post.media_type for post in demo.posts]
    media_ids = [post.id for post in demo.posts] + [
        child.id for post in demo.posts for child in post.children
    ]

    assert demo.id == DEMO_ID
    assert demo.user_id > 2**53
    assert len(demo.posts) >= 60
    assert SandboxMediaType.VIDEO in types
    assert types.count(SandboxMediaType.CAROUSEL_ALBUM) >= 3
    assert all(len(post.children) <= 10 for post in demo.posts)
    assert len(media_ids) == len(set(media_ids))


def test_rendered_files_are_cached_and_stable() -> None:
    assert render_image("7", 7) is render_image("7", 7)
    assert render_image("7", 7) != render_image("8", 8)
    assert render_video(3) == render_video(3)
    assert render_video(3) != render_video(4)


def test_sandbox_urls() -> None:
    assert sandbox_urls("http://127.0.0.1:8080/") == {
        "authorize_url": "http://127.0.0.1:8080/sandbox/oauth/authorize",
        "api_url": "http://127.0.0.1:8080/sandbox/api",
        "graph_url": "http://127.0.0.1:8080/sandbox/graph",
    }
