"""Tests for turning Instagram posts into albums."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.instagram import MediaItem, MediaType
from bot.services.albums import (
    MediaKind,
    build_albums,
    needs_children,
    photo_files,
    split_evenly,
)

OWNER_ID = "17840000000000001"
POSTED_AT = datetime(2024, 3, 5, 10, 35, 40, tzinfo=UTC)


def image(media_id: str, *, caption: str | None = None, url: bool = True) -> MediaItem:
    return MediaItem(
        id=media_id,
        media_type=MediaType.IMAGE,
        media_url=f"http://127.0.0.1:9/media/{media_id}.jpg" if url else None,
        permalink=f"https://www.instagram.com/p/{media_id}/",
        timestamp=POSTED_AT,
        caption=caption,
    )


def video(media_id: str) -> MediaItem:
    return MediaItem(
        id=media_id,
        media_type=MediaType.VIDEO,
        media_url=f"http://127.0.0.1:9/media/{media_id}.mp4",
        thumbnail_url=f"http://127.0.0.1:9/media/{media_id}-thumb.jpg",
        permalink=f"https://www.instagram.com/p/{media_id}/",
        timestamp=POSTED_AT,
    )


def carousel(media_id: str, children: list[MediaItem], caption: str = "trip") -> MediaItem:
    return MediaItem(
        id=media_id,
        media_type=MediaType.CAROUSEL_ALBUM,
        permalink=f"https://www.instagram.com/p/{media_id}/",
        timestamp=POSTED_AT,
        caption=caption,
        children=tuple(children),
    )


def sizes(posts: list[MediaItem]) -> list[int]:
    return [len(album) for album in build_albums(posts, OWNER_ID).albums]


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, []), (1, [1]), (2, [2]), (10, [10]), (11, [6, 5]), (25, [9, 8, 8])],
)
def test_build_albums_groups_single_posts(count: int, expected: list[int]) -> None:
    posts = [image(str(1000 + index)) for index in range(count)]

    assert sizes(posts) == expected


def test_build_albums_keeps_post_order() -> None:
    posts = [image(str(1000 + index)) for index in range(25)]
    plan = build_albums(posts, OWNER_ID)
    sent_ids = [file.media_id for album in plan.albums for file in album]

    assert sent_ids == [post.id for post in posts]


def test_build_albums_carousel_is_own_album() -> None:
    children = [image(f"20{index}") for index in range(9)] + [video("2099")]
    posts = [image("1"), carousel("2", children), image("3"), image("4")]
    plan = build_albums(posts, OWNER_ID)

    assert [len(album) for album in plan.albums] == [1, 10, 2]
    assert [file.media_id for file in plan.albums[1]] == [child.id for child in children]
    assert plan.albums[1][-1].kind is MediaKind.VIDEO
    assert plan.albums[1][-1].thumbnail_url == "http://127.0.0.1:9/media/2099-thumb.jpg"
    assert plan.albums[1][-1].post_id == "2"


def test_build_albums_caption_on_first_file_of_each_post() -> None:
    children = [image("201"), image("202")]
    plan = build_albums([carousel("2", children, caption="Lake"), image("3", caption="Hill")], "1")
    carousel_album, single = plan.albums

    assert carousel_album[0].caption is not None
    assert carousel_album[0].caption.startswith("Lake\n\n")
    assert carousel_album[1].caption is None
    assert single[0].caption is not None
    assert single[0].caption.startswith("Hill\n\n")


def test_build_albums_splits_oversized_carousel() -> None:
    children = [image(f"3{index:02d}") for index in range(12)]

    assert sizes([carousel("3", children)]) == [6, 6]


def test_build_albums_skips_items_without_media_url() -> None:
    missing = image("5", url=False)
    posts = [image("4"), missing, image("6")]
    plan = build_albums(posts, OWNER_ID)

    assert [file.media_id for file in plan.albums[0]] == ["4", "6"]
    assert plan.skipped == (missing,)


def test_build_albums_skips_carousel_child_without_media_url() -> None:
    post = carousel("7", [image("701"), image("702", url=False)])
    plan = build_albums([post], OWNER_ID)

    assert [file.media_id for file in plan.albums[0]] == ["701"]
    assert plan.skipped == (post,)


def test_build_albums_sets_owner_for_cache() -> None:
    plan = build_albums([image("8")], OWNER_ID)

    assert plan.albums[0][0].owner_id == OWNER_ID


def test_needs_children_only_for_bare_carousel() -> None:
    assert needs_children(carousel("9", []))
    assert not needs_children(carousel("9", [image("901")]))
    assert not needs_children(image("10"))


def test_photo_files_takes_images_and_carousel_images() -> None:
    posts = [video("11"), carousel("12", [video("1201"), image("1202")], caption="x"), image("13")]
    photos = photo_files(posts, OWNER_ID)

    assert [photo.media_id for photo in photos] == ["1202", "13"]
    assert photos[0].caption is not None
    assert photos[0].caption.startswith("x\n\n")


def test_split_evenly_respects_max_size() -> None:
    files = photo_files([image(str(index)) for index in range(21)], OWNER_ID)

    assert [len(album) for album in split_evenly(files)] == [7, 7, 7]
