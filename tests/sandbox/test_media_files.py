"""Signed, expiring media files and permalink pages of the sandbox."""

from __future__ import annotations

import io
import struct
from datetime import timedelta

from PIL import Image

from tests.sandbox.conftest import Sandbox, relative

FIELDS = "id,media_type,media_url,thumbnail_url,permalink,children{media_type,media_url}"


async def _first_items(sandbox: Sandbox) -> list[dict[str, str]]:
    token = await sandbox.long_token()
    status, body = await sandbox.graph("/v25.0/me/media", token, fields=FIELDS, limit=6)
    assert status == 200, body
    return list(body["data"])


def _mp4_box_types(data: bytes) -> list[bytes]:
    types = []
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        assert size >= 8
        types.append(kind)
        offset += size
    assert offset == len(data)
    return types


async def test_image_url_serves_a_jpeg(sandbox: Sandbox) -> None:
    items = await _first_items(sandbox)
    response = await sandbox.client.get(relative(items[0]["media_url"]))
    body = await response.read()
    image = Image.open(io.BytesIO(body))

    assert response.status == 200
    assert response.content_type == "image/jpeg"
    assert image.format == "JPEG"
    assert image.size == (320, 320)


async def test_video_url_serves_an_mp4(sandbox: Sandbox) -> None:
    items = await _first_items(sandbox)
    video = next(item for item in items if item["media_type"] == "VIDEO" and "media_url" in item)
    response = await sandbox.client.get(relative(video["media_url"]))
    body = await response.read()
    thumbnail = await sandbox.client.get(relative(video["thumbnail_url"]))

    assert response.status == 200
    assert response.content_type == "video/mp4"
    assert _mp4_box_types(body) == [b"ftyp", b"moov", b"mdat"]
    assert b"avcC" in body
    assert thumbnail.status == 200
    assert thumbnail.content_type == "image/jpeg"


async def test_media_url_answers_403_after_expiry(sandbox: Sandbox) -> None:
    items = await _first_items(sandbox)
    url = relative(items[0]["media_url"])
    sandbox.clock.now += timedelta(minutes=59)
    before = await sandbox.client.get(url)
    sandbox.clock.now += timedelta(minutes=1)
    after = await sandbox.client.get(url)

    assert before.status == 200
    assert after.status == 403
    assert "expired" in await after.text()


async def test_fetching_media_again_gives_a_fresh_url(sandbox: Sandbox) -> None:
    token = await sandbox.long_token()
    items = await _first_items(sandbox)
    sandbox.clock.now += timedelta(hours=2)
    status, fresh = await sandbox.graph(f"/v25.0/{items[0]['id']}", token, fields="media_url")
    response = await sandbox.client.get(relative(fresh["media_url"]))

    assert status == 200
    assert fresh["media_url"] != items[0]["media_url"]
    assert response.status == 200


async def test_media_url_with_bad_signature_is_forbidden(sandbox: Sandbox) -> None:
    items = await _first_items(sandbox)
    url = relative(items[0]["media_url"])
    path = url.split("?")[0]
    cases = [
        url.replace("sig=", "sig=0"),
        url.replace("expires=", "expires=9"),
        path,
        f"{path}?expires=soon&sig=abc",
    ]
    for tampered in cases:
        response = await sandbox.client.get(tampered)

        assert response.status == 403, tampered


async def test_carousel_media_url_is_its_first_child(sandbox: Sandbox) -> None:
    items = await _first_items(sandbox)
    carousel = next(item for item in items if item["media_type"] == "CAROUSEL_ALBUM")
    children = carousel["children"]["data"]  # type: ignore[index]

    assert carousel["media_url"] == children[0]["media_url"]


async def test_permalink_page_shows_the_post(sandbox: Sandbox) -> None:
    items = await _first_items(sandbox)
    response = await sandbox.client.get(relative(items[0]["permalink"]))
    page = await response.text()

    assert response.status == 200
    assert response.content_type == "text/html"
    assert "@sandbox.demo" in page
    assert '<img src="/sandbox/media/' in page


async def test_permalink_page_escapes_caption(sandbox: Sandbox) -> None:
    post = sandbox.state.add_post("sandbox.demo", caption="<script>alert(1)</script>")
    token = await sandbox.long_token()
    _, body = await sandbox.graph(f"/{post.id}", token, fields="permalink")
    response = await sandbox.client.get(relative(body["permalink"]))
    page = await response.text()

    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_unknown_media_is_not_found(sandbox: Sandbox) -> None:
    response = await sandbox.client.get("/sandbox/p/Cunknown/")

    assert response.status == 404
