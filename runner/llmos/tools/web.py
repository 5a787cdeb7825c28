"""WebFetch: fetch a URL with httpx and return it as Markdown.

* Redirects are followed up to ``ctx.extra["max_redirects"]`` (default 5).
* ``ctx.timeout_s`` bounds connecting and each read; the body is streamed and cut off at
  ``ctx.max_bytes`` (the size cap), checking ``Content-Length`` first.
* The charset comes from the Content-Type header, else from the HTML's ``<meta charset>``, else
  from charset-normalizer's detection; an unknown charset name falls back to detection.
* HTML becomes Markdown with markdownify: only the ``<main>`` or ``<article>`` element when the
  page has one; scripts, styles, comments, ``nav``/``aside`` and navigation bars removed.
  ``text/*``, JSON and XML are returned as text; anything else (PDF, images, archives) is refused
  as binary.

Network failures, timeouts, resets and 5xx answers raise a retryable
:class:`~llmos.exceptions.ToolError`; 4xx answers, redirect loops, binary bodies and pages over the
cap raise a non-retryable one.
"""

from __future__ import annotations

import codecs
import re
from typing import Any
from urllib.parse import urlsplit

from llmos import __version__
from llmos.exceptions import ToolError
from llmos.tools.base import Param, Tool, ToolContext

__all__ = ["WebFetchTool", "html_to_markdown"]

_TEXT_TYPES = {
    "application/json",
    "application/xml",
    "application/xhtml+xml",
    "application/ld+json",
    "application/javascript",
    "application/x-yaml",
    "application/yaml",
}
_DROP_TAGS = ["script", "style", "noscript", "template", "iframe", "svg", "canvas", "form", "button", "nav", "aside"]
# Navigation bars of generated documentation (DocBook's navheader/navfooter, skip links).
_CHROME_CLASSES = ["navheader", "navfooter", "skip-link", "skiplink"]


def html_to_markdown(html: str) -> tuple[str, str]:
    """Convert an HTML page to Markdown.

    Returns:
        ``(markdown, title)``; the title is ``""`` when the page has none.
    """
    from bs4 import BeautifulSoup
    from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(html, "html.parser")
    title = " ".join(soup.title.get_text(" ", strip=True).split()) if soup.title else ""
    for node in soup.find_all(string=lambda s: isinstance(s, (Comment, Declaration, Doctype, ProcessingInstruction))):
        node.extract()
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    for tag in [*soup.find_all(role="navigation"), *soup.find_all(class_=_CHROME_CLASSES)]:
        tag.decompose()
    if soup.head is not None:
        soup.head.decompose()
    main = soup.find("main") or soup.find("article") or soup
    markdown = MarkdownConverter(heading_style="ATX", bullets="-", strip=["img"]).convert_soup(main)
    markdown = re.sub(r"[ \t]+\n", "\n", markdown)
    markdown = re.sub(r"\n{3,}", "\n\n", markdown).strip() + "\n"
    return markdown, title


def _known_charset(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _decode(body: bytes, header_charset: str | None, is_html: bool) -> tuple[str, str, str]:
    """Return (text, charset, how it was chosen)."""
    charset = _known_charset(header_charset)
    how = "header"
    if charset is None and is_html:
        from bs4.dammit import EncodingDetector

        charset = _known_charset(EncodingDetector.find_declared_encoding(body, is_html=True))
        how = "meta"
    if charset is None:
        from charset_normalizer import from_bytes

        best = from_bytes(body).best()
        charset = best.encoding if best is not None else "utf-8"
        how = "detected" if header_charset is None else f"detected (header named unknown charset {header_charset!r})"
    return body.decode(charset, errors="replace"), charset, how


class WebFetchTool(Tool):
    """Fetch a web page (Claude Code ``WebFetch``).

    Outputs: ``url`` (asked), ``final_url`` (after redirects), ``status_code``, ``content_type``,
    ``charset``, ``charset_source`` (header, meta or detected), ``title``, ``bytes`` (body size),
    ``content`` (Markdown or text), ``prompt`` (echoed: Claude Code applies it with a small model;
    the runner passes the whole page on and leaves the question to the next agent step).
    """

    name = "WebFetch"
    params = {
        "url": Param(type="string", required=True, description="http or https URL"),
        "prompt": Param(type="string", description="what to look for in the page"),
    }

    def run(self, inputs: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        import httpx

        url = inputs["url"].strip()
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise ToolError(f"not a valid URL: {url!r} ({exc})", tool=self.name, step=ctx.step) from None
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ToolError(f"not an http(s) URL: {url!r}", tool=self.name, step=ctx.step)
        cap = ctx.max_bytes
        timeout = httpx.Timeout(ctx.timeout_s, connect=min(ctx.timeout_s, 10.0))
        headers = {
            "User-Agent": f"llmos/{__version__} (document runtime; WebFetch)",
            "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
        }
        try:
            with (
                httpx.Client(
                    follow_redirects=True,
                    max_redirects=int(ctx.extra.get("max_redirects", 5)),
                    timeout=timeout,
                    headers=headers,
                ) as client,
                client.stream("GET", url) as response,
            ):
                status = response.status_code
                if status >= 400:
                    raise ToolError(
                        f"HTTP {status} {response.reason_phrase} from {url}",
                        tool=self.name,
                        step=ctx.step,
                        retryable=status >= 500 or status == 429,
                    )
                content_type = response.headers.get("content-type", "")
                mime = content_type.split(";")[0].strip().lower()
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise ToolError(
                        f"page is {int(declared)} bytes, over the {cap}-byte size cap: {url}",
                        tool=self.name,
                        step=ctx.step,
                    )
                if mime and not (
                    mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith("+xml") or mime.endswith("+json")
                ):
                    raise ToolError(
                        f"not a web page: {url} answered with content type {mime!r} (binary)",
                        tool=self.name,
                        step=ctx.step,
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > cap:
                        raise ToolError(f"page is over the {cap}-byte size cap: {url}", tool=self.name, step=ctx.step)
                    chunks.append(chunk)
                final_url = str(response.url)
                header_charset = response.charset_encoding
        except httpx.TooManyRedirects:
            raise ToolError(
                f"too many redirects (a redirect loop?) from {url}", tool=self.name, step=ctx.step
            ) from None
        except httpx.TimeoutException as exc:
            raise ToolError(
                f"timed out after {ctx.timeout_s:g} s fetching {url} ({type(exc).__name__})",
                tool=self.name,
                step=ctx.step,
                retryable=True,
            ) from None
        except httpx.ConnectError as exc:
            raise ToolError(
                f"cannot connect to {parts.netloc}: {exc}", tool=self.name, step=ctx.step, retryable=True
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise ToolError(
                f"connection broke while reading {url}: {exc}", tool=self.name, step=ctx.step, retryable=True
            ) from None
        except httpx.HTTPError as exc:
            raise ToolError(f"request to {url} failed: {exc}", tool=self.name, step=ctx.step, retryable=True) from None
        except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
            raise ToolError(f"not a valid URL: {url!r} ({exc})", tool=self.name, step=ctx.step) from None
        body = b"".join(chunks)
        if not mime and b"\x00" in body[:2048]:
            raise ToolError(f"not a web page: {url} returned binary data", tool=self.name, step=ctx.step)
        is_html = mime in {"text/html", "application/xhtml+xml"} or (not mime and b"<html" in body[:4096].lower())
        text, charset, how = _decode(body, header_charset, is_html)
        title = ""
        if is_html:
            content, title = html_to_markdown(text)
        else:
            content = text
        return {
            "url": url,
            "final_url": final_url,
            "status_code": status,
            "content_type": mime or "unknown",
            "charset": charset,
            "charset_source": how,
            "title": title,
            "bytes": len(body),
            "content": content,
            "prompt": inputs.get("prompt") or "",
        }
