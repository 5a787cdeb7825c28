"""WebFetch against a loopback server: real pages, charsets and every way a fetch fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FIXTURES, Server, closed_port, reply
from llmos.exceptions import ToolError
from llmos.policy import Policy
from llmos.tools import TOOLS, ToolContext


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(policy=Policy(workspace=tmp_path), timeout_s=2, max_bytes=200_000)


def fetch(ctx: ToolContext, url: str) -> dict:
    return TOOLS["WebFetch"].run({"url": url}, ctx)


def test_real_debian_page_becomes_markdown(ctx: ToolContext, server: Server) -> None:
    out = fetch(ctx, server.url("/page.html"))
    assert out["status_code"] == 200
    assert out["content_type"] == "text/html"
    assert out["title"] == "Chapter 8. I18N and L10N"
    assert out["bytes"] == (FIXTURES / "pages" / "page.html").stat().st_size
    assert "I18N and L10N" in out["content"].splitlines()[0]
    assert "<p>" not in out["content"] and "<script" not in out["content"]


def test_meta_charset_is_used_when_the_header_names_none(ctx: ToolContext, server: Server) -> None:
    body = "<html><head><meta charset='iso-8859-1'><title>Caf\xe9</title></head><body><p>na\xefve</p></body></html>"
    server.routes["/latin"] = reply(body=body.encode("latin-1"), content_type="text/html")
    out = fetch(ctx, server.url("/latin"))
    assert (out["charset"], out["charset_source"], out["title"]) == ("iso8859-1", "meta", "Café")
    assert "naïve" in out["content"]


def test_an_unknown_charset_name_falls_back_to_detection(ctx: ToolContext, server: Server) -> None:
    server.routes["/odd"] = reply(
        body="<p>déjà vu, encore une fois</p>".encode(), content_type="text/html; charset=klingon"
    )
    out = fetch(ctx, server.url("/odd"))
    assert out["charset_source"] == "detected (header named unknown charset 'klingon')"
    assert "déjà vu" in out["content"]


def test_plain_text_is_returned_as_is(ctx: ToolContext, server: Server) -> None:
    server.routes["/t"] = reply(body=b"just text\n", content_type="text/plain; charset=utf-8")
    assert fetch(ctx, server.url("/t"))["content"] == "just text\n"


def test_redirects_are_followed(ctx: ToolContext, server: Server) -> None:
    server.routes["/old"] = reply(status=301, headers={"Location": "/page.html"}, content_type=None)
    assert fetch(ctx, server.url("/old"))["final_url"] == server.url("/page.html")


def test_redirect_loop_is_a_clear_error(ctx: ToolContext, server: Server) -> None:
    server.routes["/loop"] = reply(status=302, headers={"Location": "/loop"}, content_type=None)
    with pytest.raises(ToolError, match="too many redirects") as info:
        fetch(ctx, server.url("/loop"))
    assert not info.value.retryable


def test_binary_content_is_refused(ctx: ToolContext, server: Server) -> None:
    server.routes["/doc.pdf"] = reply(body=b"%PDF-1.7\x00\x01", content_type="application/pdf")
    with pytest.raises(ToolError, match="content type 'application/pdf' \\(binary\\)"):
        fetch(ctx, server.url("/doc.pdf"))


def test_page_over_the_size_cap_is_refused(ctx: ToolContext, server: Server) -> None:
    server.routes["/big"] = reply(body=b"<p>" + b"x" * 300_000 + b"</p>")
    with pytest.raises(ToolError, match="over the 200000-byte size cap"):
        fetch(ctx, server.url("/big"))


def test_http_errors_say_the_status_and_5xx_is_retryable(ctx: ToolContext, server: Server) -> None:
    server.routes["/gone"] = reply(status=404, body=b"no")
    server.routes["/boom"] = reply(status=503, body=b"no")
    with pytest.raises(ToolError, match="HTTP 404") as gone:
        fetch(ctx, server.url("/gone"))
    with pytest.raises(ToolError, match="HTTP 503") as boom:
        fetch(ctx, server.url("/boom"))
    assert (gone.value.retryable, boom.value.retryable) == (False, True)


def test_unreachable_host_is_a_retryable_error(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="cannot connect to 127.0.0.1") as info:
        fetch(ctx, f"http://127.0.0.1:{closed_port()}/")
    assert info.value.retryable


def test_slow_server_times_out(tmp_path: Path, server: Server) -> None:
    server.routes["/slow"] = reply(body=b"late", delay_s=1.5)
    ctx = ToolContext(policy=Policy(workspace=tmp_path), timeout_s=0.5)
    with pytest.raises(ToolError, match="timed out after 0.5 s"):
        fetch(ctx, server.url("/slow"))


def test_non_http_urls_are_refused(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="not an http\\(s\\) URL"):
        fetch(ctx, "file:///etc/passwd")
