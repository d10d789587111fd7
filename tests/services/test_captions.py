"""Tests for caption cutting and the HTML caption of a post."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from bot.services.captions import (
    CAPTION_LIMIT,
    ELLIPSIS,
    build_caption,
    caption_footer,
    cut_to_utf16,
    utf16_length,
)

POSTED_AT = datetime(2024, 3, 5, 10, 35, 40, tzinfo=UTC)
PERMALINK = "https://www.instagram.com/p/FAKE123/"
FLAG_FR = "\U0001f1eb\U0001f1f7"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
THUMBS_UP_DARK = "\U0001f44d\U0001f3ff"
E_ACUTE_COMBINING = "e\u0301"


def visible_text(caption_html: str) -> str:
    """Return the text Telegram shows for an HTML caption made of text and <a> tags."""
    return html.unescape(re.sub(r"</?a[^>]*>", "", caption_html))


def test_utf16_length_counts_astral_characters_twice() -> None:
    assert utf16_length("abc") == 3
    assert utf16_length("\U0001f600") == 2
    assert utf16_length(FLAG_FR) == 4
    assert utf16_length("日本語") == 3


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("hello", 10, "hello"),
        ("hello", 5, "hello"),
        ("hello", 3, "hel"),
        ("hello", 0, ""),
        ("日本語テキスト", 4, "日本語テ"),
        # An emoji needs two units: a limit that ends between them drops the emoji.
        ("ab\U0001f600", 3, "ab"),
        ("ab\U0001f600", 4, "ab\U0001f600"),
        # A flag is two regional indicators of two units each.
        (f"a{FLAG_FR}", 3, "a"),
        (f"a{FLAG_FR}", 4, "a"),
        (f"a{FLAG_FR}", 5, f"a{FLAG_FR}"),
        (f"{FLAG_FR}{FLAG_FR}", 6, FLAG_FR),
        # A ZWJ sequence is kept whole or dropped whole.
        (f"x{FAMILY}", 6, "x"),
        (f"x{FAMILY}y", 9, f"x{FAMILY}"),
        (f"x{THUMBS_UP_DARK}", 3, "x"),
        (f"caf{E_ACUTE_COMBINING}", 4, "caf"),
    ],
)
def test_cut_to_utf16_keeps_characters_whole(text: str, limit: int, expected: str) -> None:
    assert cut_to_utf16(text, limit) == expected


def test_cut_to_utf16_never_exceeds_limit() -> None:
    text = ("a\U0001f600" + FLAG_FR + "日" + FAMILY) * 50
    for limit in range(200):
        cut = cut_to_utf16(text, limit)
        assert utf16_length(cut) <= limit
        assert text.startswith(cut)


def test_caption_footer_has_date_and_link() -> None:
    footer_html, length = caption_footer(POSTED_AT, PERMALINK)

    assert footer_html == f'5 Mar 2024 · <a href="{PERMALINK}">Open on Instagram</a>'
    assert length == utf16_length("5 Mar 2024 · Open on Instagram")


def test_caption_footer_rejects_non_web_permalink() -> None:
    footer_html, _ = caption_footer(POSTED_AT, "javascript:alert(1)")

    assert footer_html == "5 Mar 2024"


def test_caption_footer_escapes_link_attribute() -> None:
    footer_html, _ = caption_footer(None, 'https://example.test/p/"x"?a=1&b=2')

    assert 'href="https://example.test/p/&quot;x&quot;?a=1&amp;b=2"' in footer_html


def test_build_caption_short_caption_is_kept() -> None:
    caption = build_caption("Sunset at the lake", POSTED_AT, PERMALINK)

    assert caption.startswith("Sunset at the lake\n\n5 Mar 2024 · <a href=")


@pytest.mark.parametrize("caption", [None, "", "   \n "])
def test_build_caption_absent_caption_gives_footer(caption: str | None) -> None:
    assert build_caption(caption, POSTED_AT, PERMALINK) == caption_footer(POSTED_AT, PERMALINK)[0]


def test_build_caption_without_footer_uses_whole_limit() -> None:
    caption = build_caption("x" * 2000, None, None)

    assert utf16_length(caption) == CAPTION_LIMIT
    assert caption.endswith(ELLIPSIS)


def test_build_caption_escapes_html() -> None:
    caption = build_caption("<b>Tom & Jerry</b>", None, None)

    assert caption == "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;"


def test_build_caption_fits_exactly_without_ellipsis() -> None:
    _, footer_length = caption_footer(POSTED_AT, PERMALINK)
    budget = CAPTION_LIMIT - footer_length - 2
    caption = build_caption("y" * budget, POSTED_AT, PERMALINK)

    assert utf16_length(visible_text(caption)) == CAPTION_LIMIT
    assert ELLIPSIS not in caption


@pytest.mark.parametrize(
    "filler",
    ["a", "日", "\U0001f600", FLAG_FR, FAMILY, "&", "<", "a&", "<>", "\U0001f600&"],
)
@pytest.mark.parametrize("extra", range(0, 6))
def test_build_caption_long_caption_fits_limit(filler: str, extra: int) -> None:
    """Captions just above the limit, ending in entities or emoji, are cut within the limit."""
    text = "p" * extra + filler * 1100
    caption = build_caption(text, POSTED_AT, PERMALINK)
    visible = visible_text(caption)

    assert utf16_length(visible) <= CAPTION_LIMIT
    assert utf16_length(visible) >= CAPTION_LIMIT - utf16_length(FAMILY)
    assert visible.split("\n\n")[0].endswith(ELLIPSIS)
    assert "&" not in caption.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    assert "<" not in caption.split("<a href=")[0].replace("&lt;", "")


def test_build_caption_entity_at_limit_is_not_split() -> None:
    _, footer_length = caption_footer(POSTED_AT, PERMALINK)
    budget = CAPTION_LIMIT - footer_length - 2
    text = "z" * (budget - 1) + "&&"
    caption = build_caption(text, POSTED_AT, PERMALINK)
    body = caption.split("\n\n")[0]

    assert body == "z" * (budget - 1) + ELLIPSIS
    assert utf16_length(visible_text(caption)) == CAPTION_LIMIT


def test_build_caption_emoji_at_limit_is_dropped_whole() -> None:
    _, footer_length = caption_footer(POSTED_AT, PERMALINK)
    budget = CAPTION_LIMIT - footer_length - 2
    # The emoji would need units budget-1 and budget, but the ellipsis takes the last one.
    text = "z" * (budget - 2) + "\U0001f600" + "tail"
    body = build_caption(text, POSTED_AT, PERMALINK).split("\n\n")[0]

    assert body == "z" * (budget - 2) + ELLIPSIS


def test_build_caption_cuts_before_partial_word() -> None:
    caption = build_caption("word " * 300, None, None)

    assert caption.endswith("word" + ELLIPSIS)
