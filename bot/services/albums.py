"""Turn Instagram posts into the photos, videos and albums that the bot sends."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.instagram import MediaItem, MediaType
from bot.services.captions import build_caption

__all__ = [
    "MAX_ALBUM_SIZE",
    "Album",
    "AlbumPlan",
    "MediaFile",
    "MediaKind",
    "UrlRefresher",
    "build_albums",
    "needs_children",
    "photo_files",
    "post_files",
    "split_evenly",
]

# sendMediaGroup accepts 2 to 10 items.
MAX_ALBUM_SIZE = 10


class MediaKind(StrEnum):
    """Telegram media type of a sent file, also the key of the file_id cache."""

    PHOTO = "photo"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One photo or video to send: a single post, or one child of a carousel.

    `caption` is the HTML caption of the post and is set only on the first file of each post.
    `owner_id` is the Instagram user id, which the file_id cache stores for data deletion.
    """

    media_id: str
    kind: MediaKind
    media_url: str
    owner_id: str
    post_id: str
    permalink: str | None = None
    thumbnail_url: str | None = None
    caption: str | None = None


# One message: a single photo or video, or an album of 2 to 10 files.
Album = tuple[MediaFile, ...]

# Fetches a fresh `media_url` for a file whose signed URL expired; None if it cannot.
UrlRefresher = Callable[[MediaFile], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class AlbumPlan:
    """The albums for a list of posts, in post order, and the posts that lost media."""

    albums: tuple[Album, ...]
    skipped: tuple[MediaItem, ...]

    @property
    def file_count(self) -> int:
        """Number of photos and videos in all albums."""
        return sum(len(album) for album in self.albums)


def needs_children(post: MediaItem) -> bool:
    """Return whether a carousel's children must be fetched because they were not inline."""
    return post.media_type is MediaType.CAROUSEL_ALBUM and not post.children


def _kind_of(item: MediaItem) -> MediaKind | None:
    if item.media_type is MediaType.IMAGE:
        return MediaKind.PHOTO
    if item.media_type is MediaType.VIDEO:
        return MediaKind.VIDEO
    return None


def post_files(post: MediaItem, owner_id: str) -> tuple[list[MediaFile], bool]:
    """Return the sendable files of a post and whether any of its media was missing.

    A carousel gives its children in their order, a single post gives itself. Items
    without `media_url`, which Instagram omits for example for posts with licensed music,
    are left out. The post caption goes on the first file.
    """
    items = post.children if post.media_type is MediaType.CAROUSEL_ALBUM else (post,)
    files: list[MediaFile] = []
    missing = not items
    for item in items:
        kind = _kind_of(item)
        if kind is None or not item.media_url:
            missing = True
            continue
        files.append(
            MediaFile(
                media_id=item.id,
                kind=kind,
                media_url=item.media_url,
                owner_id=owner_id,
                post_id=post.id,
                permalink=post.permalink,
                thumbnail_url=item.thumbnail_url if kind is MediaKind.VIDEO else None,
                caption=None
                if files
                else build_caption(post.caption, post.timestamp, post.permalink),
            )
        )
    return files, missing


def split_evenly(files: Sequence[MediaFile], max_size: int = MAX_ALBUM_SIZE) -> list[Album]:
    """Split files, in order, into the fewest albums of at most `max_size`, sized evenly.

    Even sizes avoid a lone file after a full album: 11 files become albums of 6 and 5.
    """
    if not files:
        return []
    count = math.ceil(len(files) / max_size)
    base, extra = divmod(len(files), count)
    albums: list[Album] = []
    start = 0
    for index in range(count):
        size = base + (1 if index < extra else 0)
        albums.append(tuple(files[start : start + size]))
        start += size
    return albums


def build_albums(posts: Iterable[MediaItem], owner_id: str) -> AlbumPlan:
    """Group posts into albums, keeping their order.

    Each carousel becomes its own album, split in order if it has more than ten items.
    Consecutive single photos and videos are grouped into albums of up to ten, and a group
    of one is sent on its own. Carousels must already have their children.
    """
    albums: list[Album] = []
    skipped: list[MediaItem] = []
    singles: list[MediaFile] = []
    for post in posts:
        files, missing = post_files(post, owner_id)
        if missing:
            skipped.append(post)
        if post.media_type is MediaType.CAROUSEL_ALBUM:
            albums.extend(split_evenly(singles))
            singles = []
            albums.extend(split_evenly(files))
        else:
            singles.extend(files)
    albums.extend(split_evenly(singles))
    return AlbumPlan(albums=tuple(albums), skipped=tuple(skipped))


def photo_files(posts: Iterable[MediaItem], owner_id: str) -> list[MediaFile]:
    """Return the photos of posts in order: single images and the image children of carousels.

    Each photo carries the caption of its post, because it may be sent on its own.
    """
    photos: list[MediaFile] = []
    for post in posts:
        caption = build_caption(post.caption, post.timestamp, post.permalink)
        files, _ = post_files(post, owner_id)
        for file in files:
            if file.kind is MediaKind.PHOTO:
                photos.append(replace(file, caption=caption))
    return photos
