"""Small, self-contained HTML pages; every value is escaped."""

from __future__ import annotations

from html import escape

from aiohttp import web

__all__ = ["html_page", "html_response"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1a1a1a; }
fieldset { border: 1px solid #bbb; border-radius: 6px; margin: 1rem 0; }
button { font-size: 1rem; padding: 0.5rem 1.25rem; margin-right: 0.5rem; }
img { max-width: 100%; height: auto; }
.error { color: #a00000; }
"""


def html_page(title: str, body_html: str) -> str:
    """Wrap already-escaped body markup in a complete page with an escaped title."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body_html}</main></body></html>"
    )


def html_response(title: str, body_html: str, *, status: int = 200) -> web.Response:
    """Return `html_page` as a text/html response."""
    return web.Response(text=html_page(title, body_html), status=status, content_type="text/html")
