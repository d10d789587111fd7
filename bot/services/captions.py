"""HTML captions for Instagram posts that fit Telegram's caption limit.

Telegram measures a caption after it parses the HTML, in UTF-16 code units, and rejects
captions longer than 1024 units. So the post caption is cut on the plain text first, never
inside a surrogate pair or a grapheme cluster such as a flag or a ZWJ emoji, and escaped
afterwards, which also keeps `&amp;`-style entities whole.
"""

from __future__ import annotations

import html
import unicodedata
from datetime import datetime
from urllib.parse import urlsplit

__all__ = [
    "CAPTION_LIMIT",
    "ELLIPSIS",
    "build_caption",
    "caption_footer",
    "cut_to_utf16",
    "utf16_length",
]

CAPTION_LIMIT = 1024
ELLIPSIS = "…"
LINK_LABEL = "Open on Instagram"
_SEPARATOR = "\n\n"
_FOOTER_JOINER = " · "
_MAX_WORD_DROP = 30

_ZERO_WIDTH_JOINER = "\u200d"
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F1FF + 1)
_SKIN_TONE_MODIFIERS = range(0x1F3FB, 0x1F3FF + 1)
_TAG_CHARACTERS = range(0xE0020, 0xE007F + 1)
_VARIATION_SELECTORS = (range(0xFE00, 0xFE0F + 1), range(0xE0100, 0xE01EF + 1))


def utf16_length(text: str) -> int:
    """Return the length of `text` in UTF-16 code units, as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def _extends_previous(char: str) -> bool:
    """Return whether `char` belongs to the grapheme cluster before it."""
    code = ord(char)
    if char == _ZERO_WIDTH_JOINER or code in _SKIN_TONE_MODIFIERS or code in _TAG_CHARACTERS:
        return True
    if any(code in selectors for selectors in _VARIATION_SELECTORS):
        return True
    return unicodedata.category(char) in ("Mn", "Me", "Mc")


def _is_regional_indicator(char: str) -> bool:
    return ord(char) in _REGIONAL_INDICATORS


def _safe_cut_index(text: str, end: int) -> int:
    """Move a cut at code point index `end` left until it falls between grapheme clusters."""
    while 0 < end < len(text):
        if _extends_previous(text[end]) or text[end - 1] == _ZERO_WIDTH_JOINER:
            end -= 1
            continue
        # A flag is a pair of regional indicators: an odd run before the cut means the
        # cut would separate the last pair.
        if _is_regional_indicator(text[end]):
            run = 0
            while run < end and _is_regional_indicator(text[end - 1 - run]):
                run += 1
            if run % 2 == 1:
                end -= 1
                continue
        break
    return end


def cut_to_utf16(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` UTF-16 code units without splitting a character.

    The cut never falls inside a surrogate pair, because it counts whole code points, nor
    inside a grapheme cluster such as a flag, a skin-tone emoji or a letter with a
    combining accent. Text that already fits is returned unchanged.
    """
    if limit <= 0:
        return ""
    if utf16_length(text) <= limit:
        return text

    units = 0
    end = 0
    for end, char in enumerate(text):  # noqa: B007 - `end` is the cut index after the loop
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            break
    return text[: _safe_cut_index(text, end)]


def _cut_at_word(text: str, limit: int) -> str:
    """Cut like `cut_to_utf16`, dropping a last word that would be cut in two.

    Only a word of at most `_MAX_WORD_DROP` code points is dropped, so text without spaces,
    such as Chinese or Japanese, still fills the limit.
    """
    cut = cut_to_utf16(text, limit)
    if len(cut) < len(text) and not text[len(cut)].isspace():
        space = cut.rfind(" ", max(0, len(cut) - _MAX_WORD_DROP))
        if space > 0:
            cut = cut[:space]
    return cut.rstrip()


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def caption_footer(timestamp: datetime | None, permalink: str | None) -> tuple[str, int]:
    """Build the date-and-link line as HTML and return it with its visible length."""
    visible_parts: list[str] = []
    html_parts: list[str] = []
    if timestamp is not None:
        date_text = f"{timestamp.day} {timestamp:%b %Y}"
        visible_parts.append(date_text)
        html_parts.append(html.escape(date_text))
    if permalink is not None and _is_web_url(permalink):
        visible_parts.append(LINK_LABEL)
        html_parts.append(f'<a href="{html.escape(permalink, quote=True)}">{LINK_LABEL}</a>')
    return _FOOTER_JOINER.join(html_parts), utf16_length(_FOOTER_JOINER.join(visible_parts))


def build_caption(
    caption: str | None,
    timestamp: datetime | None,
    permalink: str | None,
    *,
    limit: int = CAPTION_LIMIT,
) -> str:
    """Build the HTML caption of a post's first item: its caption, the date and a link.

    The visible text, which Telegram measures after parsing the HTML, is at most `limit`
    UTF-16 code units. A post caption that does not fit is cut and ends with an ellipsis.
    """
    footer_html, footer_length = caption_footer(timestamp, permalink)
    text = (caption or "").strip()
    if not text:
        return footer_html
    if not footer_html:
        budget = limit
        separator = ""
    else:
        budget = limit - footer_length - utf16_length(_SEPARATOR)
        separator = _SEPARATOR
    if budget < utf16_length(ELLIPSIS):
        return footer_html

    if utf16_length(text) > budget:
        text = _cut_at_word(text, budget - utf16_length(ELLIPSIS)) + ELLIPSIS
    return html.escape(text, quote=False) + separator + footer_html
