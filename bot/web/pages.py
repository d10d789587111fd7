"""The small HTML pages that people see in their browser after a redirect or a link."""

from __future__ import annotations

import html

from aiohttp import web

__all__ = ["render_page"]

# The OAuth callback URL carries the code and state, so no page may leak it as a Referer.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Gramlink</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto;
       padding: 0 1rem; line-height: 1.5; color: #222; }}
h1 {{ font-size: 1.4rem; }}
a.button {{ display: inline-block; padding: .6rem 1rem; border-radius: .4rem;
           background: #2481cc; color: #fff; text-decoration: none; }}
</style>
</head>
<body>
<h1>{title}</h1>
{paragraphs}
{link}
</body>
</html>
"""


def render_page(
    title: str,
    paragraphs: list[str],
    *,
    status: int = 200,
    link: tuple[str, str] | None = None,
) -> web.Response:
    """Build an HTML response; the title, paragraphs and link (label, URL) are escaped."""
    body = "\n".join(f"<p>{html.escape(paragraph)}</p>" for paragraph in paragraphs)
    link_html = ""
    if link is not None:
        label, url = link
        link_html = (
            f'<p><a class="button" href="{html.escape(url, quote=True)}">'
            f"{html.escape(label)}</a></p>"
        )
    text = _TEMPLATE.format(title=html.escape(title), paragraphs=body, link=link_html)
    return web.Response(
        text=text, status=status, content_type="text/html", charset="utf-8", headers=_PAGE_HEADERS
    )
