"""UTF-16 lengths, HTML entity parsing and command entities."""

from __future__ import annotations

import pytest

from bot.playground.text import (
    EntityParseError,
    command_entities,
    parse_formatted,
    utf16_length,
)


def test_utf16_length_counts_emoji_as_two() -> None:
    assert utf16_length("a😀") == 3


def test_parse_html_returns_visible_text_and_entities() -> None:
    text, entities = parse_formatted(
        '<b>Hi</b> &amp; <a href="https://example.test/">you</a>', "HTML"
    )

    assert text == "Hi & you"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "text_link", "offset": 5, "length": 3, "url": "https://example.test/"},
    ]


def test_parse_html_offsets_are_utf16_units() -> None:
    _, entities = parse_formatted("😀 <i>x</i>", "HTML")

    assert entities == [{"type": "italic", "offset": 3, "length": 1}]


def test_parse_html_pre_code_language_goes_to_pre() -> None:
    _, entities = parse_formatted('<pre><code class="language-python">x = 1</code></pre>', "HTML")

    assert entities == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        "<b>open",
        "<b><i>x</b></i>",
        "x</b>",
        '<span class="x">y</span>',
    ],
)
def test_parse_html_rejects_bad_markup(html: str) -> None:
    with pytest.raises(EntityParseError):
        parse_formatted(html, "HTML")


def test_parse_without_mode_keeps_raw_text() -> None:
    assert parse_formatted("<b>x</b>", None) == ("<b>x</b>", [])


def test_command_entities_cover_bot_name() -> None:
    entities = command_entities("/start@gramlink_demo_bot now /help")

    assert entities == [
        {"type": "bot_command", "offset": 0, "length": 24},
        {"type": "bot_command", "offset": 29, "length": 5},
    ]
