"""WebFetch: fetch a URL with httpx and return it as Markdown.

* Redirects are followed up to ``ctx.extra["max_redirects"]`` (default 5).
* ``ctx.timeout_s`` bounds each connect and each read, and it is also a total deadline for the
  whole fetch (every redirect, the headers and the body): httpx's timeouts are per read, so a
  server that dribbles a byte at a time would otherwise keep a fetch alive forever. When the
  deadline passes, a timer shuts the fetch's sockets down, which ends even a blocked read. Only a
  connect that starts just before the deadline (after a redirect) can overrun it, by at most its
  own connect timeout.
* The body is streamed and cut off at ``ctx.max_bytes`` (the size cap), checking
  ``Content-Length`` first, so an endless or huge body is never held in memory.
* The charset comes from the Content-Type header, else from the HTML's ``<meta charset>``, else
  from charset-normalizer's detection. A charset name Python does not know as a text encoding
  (``klingon``, ``base64``) falls back to detection; bytes invalid in the chosen charset are
  replaced with U+FFFD, as browsers do, and ``charset_source`` says so.
* HTML becomes Markdown with markdownify: only the ``<main>`` or ``<article>`` element when the
  page has one; scripts, styles, comments, ``nav``/``aside`` and navigation bars removed. A body
  declared HTML that is in fact JSON is returned as text (Markdown conversion would mangle it).
  ``text/*``, JSON and XML are returned as text. The declared type decides what is binary: any
  other type (PDF, images, archives, ``application/octet-stream``, even when the bytes are HTML) is
  refused, and so is a body with NUL bytes near its start whatever type it claims (unless its
  charset is UTF-16 or UTF-32).

Failure classes (each a :class:`~llmos.exceptions.ToolError` whose message names the URL):

* retryable: connection refused or unreachable, timeouts (per read or the total deadline), a
  connection reset or closed before the whole body arrived (a body shorter than its
  ``Content-Length``), HTTP 5xx and 429;
* not retryable: HTTP 4xx, a redirect loop, a binary body, a page over the size cap, a URL that
  is not http(s).
"""

from __future__ import annotations

import codecs
import json
import re
import socket
import threading
import time
from types import TracebackType
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
    """The codec name for a charset name, or ``None`` when Python knows no text encoding by it
    (``base64`` and ``rot13`` are codecs, but not text encodings: ``bytes.decode`` refuses them)."""
    if not name:
        return None
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    return info.name if info._is_text_encoding else None


def _is_wide(charset: str | None, body: bytes) -> bool:
    """Whether the text is UTF-16 or UTF-32 (by its charset or its BOM), where NUL bytes are normal."""
    name = _known_charset(charset) or ""
    return name.startswith(("utf-16", "utf-32")) or body.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
    )


def _is_json(text: str) -> bool:
    if not re.match(r"\s*[\[{]", text):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


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
    try:
        return body.decode(charset), charset, how
    except UnicodeDecodeError:
        return body.decode(charset, errors="replace"), charset, f"{how} (bytes invalid in {charset} replaced)"


class _Deadline:
    """Ends a fetch that runs past ``seconds`` in total, whatever the server does.

    Passed to httpx as the ``trace`` request extension, it learns every socket the fetch opens
    (redirects may open more); a timer shuts them down when the deadline passes, which wakes a read
    blocked on them. The fetch then fails (or a body delimited by the connection's end looks
    complete), so the caller checks :attr:`expired` and reports a timeout instead.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._timer.cancel()

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.ends

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        # TLS wraps the TCP socket in a new socket object, so both events are watched.
        if event in {"connection.connect_tcp.complete", "connection.start_tls.complete"}:
            sock = info["return_value"].get_extra_info("socket")
            with self._lock:
                self._sockets.append(sock)
                if self.expired:
                    _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed (the fetch ended meanwhile), or detached by TLS
        pass


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

        def fail(message: str, *, retryable: bool = False) -> ToolError:
            return ToolError(message, tool=self.name, step=ctx.step, retryable=retryable)

        def timed_out(how: str) -> ToolError:
            return fail(f"timed out after {ctx.timeout_s:g} s fetching {url} ({how})", retryable=True)

        deadline = _Deadline(ctx.timeout_s)
        try:
            with (
                deadline,
                httpx.Client(
                    follow_redirects=True,
                    max_redirects=int(ctx.extra.get("max_redirects", 5)),
                    timeout=timeout,
                    headers=headers,
                ) as client,
                client.stream("GET", url, extensions={"trace": deadline}) as response,
            ):
                status = response.status_code
                if status >= 400:
                    raise fail(
                        f"HTTP {status} {response.reason_phrase} from {url}", retryable=status >= 500 or status == 429
                    )
                content_type = response.headers.get("content-type", "")
                mime = content_type.split(";")[0].strip().lower()
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise fail(f"page is {int(declared)} bytes, over the {cap}-byte size cap: {url}")
                if mime and not (
                    mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith("+xml") or mime.endswith("+json")
                ):
                    raise fail(f"not a web page: {url} answered with content type {mime!r} (binary)")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > cap:
                        raise fail(f"page is over the {cap}-byte size cap: {url}")
                    if deadline.passed():
                        raise timed_out("total deadline")
                    chunks.append(chunk)
                if deadline.expired:  # the shut-down socket may have looked like the end of the body
                    raise timed_out("total deadline")
                final_url = str(response.url)
                header_charset = response.charset_encoding
        except httpx.HTTPError as exc:
            if deadline.expired:
                raise timed_out("total deadline") from None
            if isinstance(exc, httpx.TooManyRedirects):
                raise fail(f"too many redirects (a redirect loop?) from {url}") from None
            if isinstance(exc, httpx.TimeoutException):
                raise timed_out(type(exc).__name__) from None
            if isinstance(exc, httpx.ConnectError):
                raise fail(f"cannot connect to {parts.netloc} to fetch {url}: {exc}", retryable=True) from None
            if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
                raise fail(f"connection broke while reading {url}: {exc}", retryable=True) from None
            raise fail(f"request to {url} failed: {exc}", retryable=True) from None
        except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
            raise fail(f"not a valid URL: {url!r} ({exc})") from None
        body = b"".join(chunks)
        if b"\x00" in body[:2048] and not _is_wide(header_charset, body):
            claimed = f"declared {mime!r} but " if mime else ""
            raise fail(f"not a web page: {url} {claimed}returned binary data")
        is_html = mime in {"text/html", "application/xhtml+xml"} or (not mime and b"<html" in body[:4096].lower())
        text, charset, how = _decode(body, header_charset, is_html)
        title = ""
        if is_html and not _is_json(text):
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
