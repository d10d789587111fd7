"""Signed, expiring media files and the permalink pages of the sandbox."""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from aiohttp import web

from bot.sandbox.content import SandboxAccount, SandboxMedia, SandboxMediaType
from bot.sandbox.files import render_image, render_video
from bot.sandbox.keys import SANDBOX_STATE
from bot.sandbox.pages import html_response
from bot.sandbox.signing import media_signature, verify_media_signature
from bot.sandbox.state import SandboxState

__all__ = ["add_media_routes"]

_CACHE_HEADERS = {"Cache-Control": "private, max-age=3600"}


def _check_signature(request: web.Request) -> None:
    """Raise 403 unless the URL carries a valid signature that has not expired."""
    state = request.app[SANDBOX_STATE]
    try:
        expires = int(request.query.get("expires", ""))
    except ValueError:
        raise web.HTTPForbidden(text="Bad URL hash") from None
    signature = request.query.get("sig", "")
    if not verify_media_signature(state.media_key, request.path, expires, signature):
        raise web.HTTPForbidden(text="Bad URL hash")
    # Instagram's CDN also rejects a signed URL with 403 once it has expired.
    if state.now().timestamp() >= expires:
        raise web.HTTPForbidden(text="URL signature expired")


def _find(
    state: SandboxState, media_id: str
) -> tuple[SandboxAccount, SandboxMedia, SandboxMedia | None]:
    """Return owner, media and parent post (for a carousel child), or raise 404."""
    found = state.find_media(media_id)
    if found is None:
        raise web.HTTPNotFound(text="Media not found")
    account, media = found
    parent = None
    if media.parent_id is not None:
        parent_found = state.find_media(media.parent_id)
        parent = parent_found[1] if parent_found else None
    return account, media, parent


def _image_for(account: SandboxAccount, media: SandboxMedia, parent: SandboxMedia | None) -> bytes:
    if parent is None:
        label = str(media.number)
        seed = account.index * 1000 + media.number
    else:
        label = f"{parent.number}.{media.number}"
        seed = account.index * 1000 + parent.number * 11 + media.number
    is_video = media.media_type is SandboxMediaType.VIDEO
    return render_image(label, seed, caption=f"@{account.username}", play_icon=is_video)


def _jpeg_response(
    request: web.Request, media_type: SandboxMediaType, wrong_type_text: str
) -> web.Response:
    """Build the JPEG response of the requested media, or raise 404 if it is not `media_type`."""
    _check_signature(request)
    account, media, parent = _find(request.app[SANDBOX_STATE], request.match_info["media_id"])
    if media.media_type is not media_type:
        raise web.HTTPNotFound(text=wrong_type_text)
    body = _image_for(account, media, parent)
    return web.Response(body=body, content_type="image/jpeg", headers=_CACHE_HEADERS)


async def serve_image(request: web.Request) -> web.Response:
    """Serve the JPEG of an image post or image carousel child."""
    return _jpeg_response(request, SandboxMediaType.IMAGE, "Media is not an image")


async def serve_thumbnail(request: web.Request) -> web.Response:
    """Serve the thumbnail JPEG of a video."""
    return _jpeg_response(request, SandboxMediaType.VIDEO, "Media is not a video")


async def serve_video(request: web.Request) -> web.Response:
    """Serve the MP4 of a video post or video carousel child."""
    _check_signature(request)
    account, media, _ = _find(request.app[SANDBOX_STATE], request.match_info["media_id"])
    if media.media_type is not SandboxMediaType.VIDEO or not media.has_media_url:
        raise web.HTTPNotFound(text="Media is not a video")
    body = render_video(account.index * 1000 + media.number)
    return web.Response(body=body, content_type="video/mp4", headers=_CACHE_HEADERS)


async def serve_avatar(request: web.Request) -> web.Response:
    """Serve an account's profile picture."""
    _check_signature(request)
    account = request.app[SANDBOX_STATE].account(request.match_info["user_id"])
    if account is None:
        raise web.HTTPNotFound(text="Account not found")
    body = render_image(account.username[:1].upper(), account.index * 7919)
    return web.Response(body=body, content_type="image/jpeg", headers=_CACHE_HEADERS)


def _preview_url(request: web.Request, state: SandboxState, media: SandboxMedia) -> str | None:
    """Return a signed relative URL of an image that shows the post, if it has one."""
    displayed_media = media.children[0] if media.children else media
    if displayed_media.media_type is SandboxMediaType.VIDEO:
        route_name = "media.thumbnail"
    elif displayed_media.media_type is SandboxMediaType.IMAGE:
        route_name = "media.image"
    else:
        return None
    path = request.app.router[route_name].url_for(media_id=displayed_media.id).path
    expires = int((state.now() + state.media_url_ttl).timestamp())
    query = urlencode({"expires": expires, "sig": media_signature(state.media_key, path, expires)})
    return f"{path}?{query}"


async def show_post(request: web.Request) -> web.Response:
    """Show a post's permalink page: picture, caption, author and time."""
    state = request.app[SANDBOX_STATE]
    shortcode = request.match_info["shortcode"]
    for account in state.accounts:
        for post in account.posts:
            if post.shortcode == shortcode:
                return _post_page(request, state, account, post)
    raise web.HTTPNotFound(text="Post not found")


def _post_page(
    request: web.Request, state: SandboxState, account: SandboxAccount, post: SandboxMedia
) -> web.Response:
    preview = _preview_url(request, state, post)
    image = ""
    if preview is not None:
        alt = f"Post {post.number} by @{account.username}"
        image = f'<p><img src="{escape(preview)}" alt="{escape(alt)}"></p>'
    caption = escape(post.caption) if post.caption else "<em>No caption</em>"
    kind = post.media_type.replace("_", " ").lower()
    extra = f" with {len(post.children)} items" if post.children else ""
    body = (
        f"<h1>@{escape(account.username)}</h1>"
        f"{image}"
        f'<p style="white-space: pre-wrap">{caption}</p>'
        f"<p>{escape(kind)}{escape(extra)}, posted "
        f'<time datetime="{post.timestamp.isoformat()}">'
        f"{post.timestamp.strftime('%d %B %Y, %H:%M UTC')}</time></p>"
    )
    return html_response(f"Post by @{account.username} — Instagram sandbox", body)


def add_media_routes(router: web.UrlDispatcher) -> None:
    """Register the media files and the permalink pages."""
    router.add_get(r"/media/{media_id:\d+}.jpg", serve_image, name="media.image")
    router.add_get(r"/media/{media_id:\d+}_thumb.jpg", serve_thumbnail, name="media.thumbnail")
    router.add_get(r"/media/{media_id:\d+}.mp4", serve_video, name="media.video")
    router.add_get(r"/media/avatar/{user_id:\d+}.jpg", serve_avatar, name="media.avatar")
    router.add_get("/p/{shortcode}/", show_post, name="post.page")
