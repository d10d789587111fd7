"""Bot API text rules: UTF-16 lengths, the HTML parse mode and bot_command entities."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

__all__ = ["EntityParseError", "command_entities", "parse_formatted", "utf16_length"]

# Tag name → entity type for the HTML subset that the Bot API accepts.
_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}

_COMMAND_PATTERN = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![^\s])")


class EntityParseError(ValueError):
    """Text in the HTML parse mode that the Bot API would reject."""


def utf16_length(text: str) -> int:
    """Return the length of text in UTF-16 code units, the unit of Bot API limits and offsets."""
    return len(text.encode("utf-16-le")) // 2


class _EntityParser(HTMLParser):
    """Collect visible text and entities from Bot API HTML, rejecting unsupported tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.entities: list[dict[str, Any]] = []
        self.open_tags: list[tuple[str, dict[str, Any]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        entity_type = _HTML_ENTITY_TYPES.get(tag)
        attributes = dict(attrs)
        if tag == "span" and attributes.get("class") != "tg-spoiler":
            entity_type = None
        if entity_type is None:
            raise EntityParseError(f'Unsupported start tag "{tag}"')

        entity: dict[str, Any] = {"type": entity_type, "offset": self.length}
        if tag == "a":
            entity["url"] = attributes.get("href") or ""
        elif tag == "tg-emoji":
            entity["custom_emoji_id"] = attributes.get("emoji-id") or ""
        elif tag == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        elif tag == "code":
            entity["language"] = _language_of(attributes.get("class") or "")
        self.open_tags.append((tag, entity))

    def handle_endtag(self, tag: str) -> None:
        if not self.open_tags:
            raise EntityParseError(f'Unexpected end tag "{tag}"')
        open_tag, entity = self.open_tags.pop()
        if open_tag != tag:
            raise EntityParseError(f'Unmatched end tag "{tag}", expected "</{open_tag}>"')

        entity["length"] = self.length - entity["offset"]
        language = entity.pop("language", "") if entity["type"] == "code" else ""
        # A code block inside pre gives the pre entity its language instead of a second entity.
        if language and self.open_tags and self.open_tags[-1][0] == "pre":
            self.open_tags[-1][1]["language"] = language
            return
        if entity["length"] > 0:
            self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.length += utf16_length(data)


def _language_of(css_class: str) -> str:
    return css_class.removeprefix("language-") if css_class.startswith("language-") else ""


def parse_formatted(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Return the visible text and its entities, as the Bot API stores a formatted text.

    Only the HTML parse mode is parsed. Markdown modes keep the raw text and no entities.
    Raises EntityParseError for unsupported or unbalanced HTML tags.
    """
    # NOTE: Markdown and MarkdownV2 are not parsed, so their markup counts towards length limits.
    if parse_mode is None or parse_mode.lower() != "html":
        return text, []

    parser = _EntityParser()
    parser.feed(text)
    parser.close()
    if parser.open_tags:
        tag = parser.open_tags[-1][0]
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{tag}"')

    entities = sorted(parser.entities, key=lambda entity: (entity["offset"], -entity["length"]))
    return "".join(parser.parts), entities


def command_entities(text: str) -> list[dict[str, Any]]:
    """Return bot_command entities for every /command in text, with UTF-16 offsets."""
    entities = []
    for match in _COMMAND_PATTERN.finditer(text):
        entities.append(
            {
                "type": "bot_command",
                "offset": utf16_length(text[: match.start()]),
                "length": utf16_length(match.group()),
            }
        )
    return entities
