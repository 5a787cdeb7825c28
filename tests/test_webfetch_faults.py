"""WebFetch's fault matrix: a loopback server misbehaves on purpose, and every fault ends either in a
recorded retry and success or in a clear recorded error.

Each fault is specified twice:

* what the tool does: the :class:`ToolError` it raises (message and whether a retry may help), or
  the page it returns;
* what a run of a one-step scenario records through the engine: the journal's ``tool_call``
  transitions (attempt and ok/error), the step's attempts, the run's status and error.

The faults: a refused connection; a server that never answers or dribbles bytes forever (only the
total deadline ends those); 500 then 200; a reset in the middle of the body; a body shorter than
its Content-Length; a 50 MB body; a content type that lies; a redirect loop; a charset that is no
text encoding, or that the bytes break. The plain cases of test_webfetch.py (404 and 503, a PDF, an
unknown charset name, the redirect loop and the refused connection seen by the tool alone) are not
repeated here.

Nothing here can hang: tool timeouts are 0.5 s (1 s in runs), the total deadline ends a fetch
whatever the server does, retry backoff is 0.01 s, server sockets time out after 5 s, and every
server stops when its test ends.
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx  # noqa: F401  (imported up front, so that tracemalloc measures a fetch, not an import)
import pytest

from conftest import Server, closed_port, reply
from llmos.engine import RunResult, run_scenario
from llmos.exceptions import ToolError
from llmos.policy import Policy
from llmos.project import Project
from llmos.tools import TOOLS, ToolContext

MB = 2**20
PAGE = b"<html><head><title>Fine</title></head><body><p>All good.</p></body></html>"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
JSON_BODY = b'{"snake_case": [1, 2], "a*b": "<x>"}'


# --- A TCP server that misbehaves on purpose -----------------------------------------------------


class Peer:
    """One accepted connection, as a behaviour sees it."""

    def __init__(self, sock: socket.socket, server: RawServer) -> None:
        self.sock = sock
        self.server = server

    def send(self, data: bytes) -> bool:
        """Write ``data``; ``False`` once the client has gone (hung up, reset, or stopped reading)."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        self.server.sent += len(data)
        return True

    def pause(self, seconds: float) -> bool:
        """Wait; ``False`` when the test has ended meanwhile."""
        return not self.server.stopping.wait(seconds)

    def reset(self) -> None:
        """Abort the connection: with SO_LINGER (on, 0 s), closing sends RST instead of FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


Behaviour = Callable[[Peer], None]


class RawServer:
    """A TCP server on 127.0.0.1: reads each request's head, then plays a behaviour on the socket.

    The n-th connection gets ``behaviours[n]``, the last one repeating. Every response closes its
    connection, so each request (each attempt, each redirect) is a new connection.
    """

    def __init__(self, *behaviours: Behaviour) -> None:
        self.behaviours = behaviours
        self.connections = 0
        self.sent = 0  # bytes written, over all connections
        self.stopping = threading.Event()
        self._idle = threading.Condition()
        self._open = 0
        raw = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                raw.serve(self.request)

        self._tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._tcp.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._tcp.server_address[1]}/"
        threading.Thread(target=self._tcp.serve_forever, args=(0.05,), daemon=True).start()

    def serve(self, sock: socket.socket) -> None:
        with self._idle:
            behaviour = self.behaviours[min(self.connections, len(self.behaviours) - 1)]
            self.connections += 1
            self._open += 1
        try:
            sock.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                data = sock.recv(65536)
                if not data:
                    return
                head += data
            behaviour(Peer(sock, self))
        except OSError:
            pass
        finally:
            with self._idle:
                self._open -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 10) -> bool:
        """Wait until every connection so far has been played to its end."""
        with self._idle:
            return self._idle.wait_for(lambda: self._open == 0, timeout)

    def close(self) -> None:
        self.stopping.set()
        self._tcp.shutdown()
        self._tcp.server_close()


@pytest.fixture
def raw() -> Iterator[Callable[..., RawServer]]:
    """Start a :class:`RawServer` playing the given behaviours; all are stopped when the test ends."""
    servers: list[RawServer] = []

    def start(*behaviours: Behaviour) -> RawServer:
        servers.append(RawServer(*behaviours))
        return servers[-1]

    yield start
    for srv in servers:
        srv.close()


def head(status: str = "200 OK", content_type: str = "text/html; charset=utf-8", length: int | None = None) -> bytes:
    """A response head; without ``length`` the body ends where the connection does."""
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def respond(
    status: str = "200 OK", body: bytes = PAGE, content_type: str = "text/html; charset=utf-8", *extra: str
) -> Behaviour:
    """A well-formed response (``extra`` header lines such as ``Location: /``)."""

    def behave(peer: Peer) -> None:
        response = head(status, content_type, len(body))
        peer.send(response[:-2] + "".join(f"{line}\r\n" for line in extra).encode() + b"\r\n" + body)

    return behave


def never_answer(peer: Peer) -> None:
    """Accept the request and say nothing until the test ends."""
    peer.pause(60)


def dribble_headers(peer: Peer) -> None:
    """A status line, then a header line every 0.1 s forever: each read gets bytes in time."""
    peer.send(b"HTTP/1.1 200 OK\r\n")
    while peer.send(b"X-Slow: y\r\n") and peer.pause(0.1):
        pass


def dribble_body(length: int | None) -> Behaviour:
    """A head, then one body byte every 0.1 s forever."""

    def behave(peer: Peer) -> None:
        peer.send(head(content_type="text/plain", length=length))
        while peer.send(b"x") and peer.pause(0.1):
            pass

    return behave


def reset_mid_body(peer: Peer) -> None:
    """Headers promising 10,000 bytes, 4,000 of them, then a TCP reset."""
    peer.send(head(length=10_000) + b"<p>" + b"x" * 3_997)
    peer.pause(0.05)  # let the client read the head first, so that the reset comes mid-body
    peer.reset()


def truncate_body(peer: Peer) -> None:
    """Headers promising 10,000 bytes, 4,000 of them, then a clean close (FIN, not a reset)."""
    peer.send(head(length=10_000) + b"<p>" + b"x" * 3_997)
    peer.sock.shutdown(socket.SHUT_WR)


def stream(size: int, framing: str) -> Behaviour:
    """A text body of ``size`` bytes in 64 KiB blocks, framed by ``content-length``, ``chunked`` or
    ``close`` (the body ends where the connection does); stops when the client goes."""
    block = b"x" * 65_536

    def behave(peer: Peer) -> None:
        if framing == "chunked":
            start = head(content_type="text/plain")[:-2] + b"Transfer-Encoding: chunked\r\n\r\n"
        else:
            start = head(content_type="text/plain", length=size if framing == "content-length" else None)
        if not peer.send(start):
            return
        for _ in range(size // len(block)):
            if not peer.send(b"%x\r\n%s\r\n" % (len(block), block) if framing == "chunked" else block):
                return
        if framing == "chunked":
            peer.send(b"0\r\n\r\n")

    return behave


# --- The tool ------------------------------------------------------------------------------------


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(policy=Policy(workspace=tmp_path), timeout_s=0.5, max_bytes=200_000)


def fetch(ctx: ToolContext, url: str) -> dict[str, Any]:
    return TOOLS["WebFetch"].run({"url": url}, ctx)


def failure(ctx: ToolContext, url: str) -> ToolError:
    with pytest.raises(ToolError) as info:
        fetch(ctx, url)
    return info.value


def test_a_server_that_never_answers_times_out_retryably(ctx: ToolContext, raw: Callable[..., RawServer]) -> None:
    url = raw(never_answer).url
    error = failure(ctx, url)
    # Whichever fires first, the per-read timeout or the total deadline, both are 0.5 s.
    assert str(error).startswith(f"WebFetch: timed out after 0.5 s fetching {url} (")
    assert error.retryable


@pytest.mark.parametrize(
    "behaviour",
    [
        pytest.param(dribble_headers, id="headers"),
        pytest.param(dribble_body(length=100_000), id="body-with-content-length"),
        # Here the shut-down socket looks like the end of the body: it must not pass for a page.
        pytest.param(dribble_body(length=None), id="body-ending-with-the-connection"),
    ],
)
def test_a_server_dribbling_bytes_forever_is_cut_off_by_the_total_deadline(
    ctx: ToolContext, raw: Callable[..., RawServer], behaviour: Behaviour
) -> None:
    url = raw(behaviour).url
    error = failure(ctx, url)
    assert (str(error), error.retryable) == (f"WebFetch: timed out after 0.5 s fetching {url} (total deadline)", True)


def test_a_reset_mid_body_is_a_retryable_broken_connection(ctx: ToolContext, raw: Callable[..., RawServer]) -> None:
    url = raw(reset_mid_body).url
    error = failure(ctx, url)
    assert str(error).startswith(f"WebFetch: connection broke while reading {url}: ")
    assert "reset" in str(error).lower()
    assert error.retryable


def test_a_body_shorter_than_its_content_length_is_a_retryable_broken_connection(
    ctx: ToolContext, raw: Callable[..., RawServer]
) -> None:
    url = raw(truncate_body).url
    error = failure(ctx, url)
    assert (str(error), error.retryable) == (
        f"WebFetch: connection broke while reading {url}: peer closed connection without sending complete "
        "message body (received 4000 bytes, expected 10000)",
        True,
    )


@pytest.mark.parametrize(
    ("framing", "message"),
    [
        pytest.param(
            "content-length", "page is 52428800 bytes, over the 200000-byte size cap: {url}", id="content-length"
        ),
        pytest.param("chunked", "page is over the 200000-byte size cap: {url}", id="chunked"),
        pytest.param("close", "page is over the 200000-byte size cap: {url}", id="ending-with-the-connection"),
    ],
)
def test_a_50_mb_body_is_refused_at_the_size_cap_without_being_read(
    ctx: ToolContext, raw: Callable[..., RawServer], framing: str, message: str
) -> None:
    srv = raw(stream(50 * MB, framing))
    tracemalloc.start()
    try:
        error = failure(ctx, srv.url)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (str(error), error.retryable) == ("WebFetch: " + message.format(url=srv.url), False)
    assert peak < 5 * MB  # a tenth of the body: it was streamed, never held
    assert srv.wait_idle()
    assert srv.sent < 25 * MB  # the client hung up: the server could not push even half of it


def test_html_served_as_octet_stream_is_refused_as_binary(ctx: ToolContext, server: Server) -> None:
    # The declared type decides: a download is not a page, even when its bytes happen to be HTML.
    server.routes["/page"] = reply(body=PAGE, content_type="application/octet-stream")
    error = failure(ctx, server.url("/page"))
    assert (str(error), error.retryable) == (
        f"WebFetch: not a web page: {server.url('/page')} answered with content type "
        "'application/octet-stream' (binary)",
        False,
    )


def test_binary_bytes_declared_as_html_are_refused(ctx: ToolContext, server: Server) -> None:
    server.routes["/logo"] = reply(body=PNG, content_type="text/html")
    error = failure(ctx, server.url("/logo"))
    assert (str(error), error.retryable) == (
        f"WebFetch: not a web page: {server.url('/logo')} declared 'text/html' but returned binary data",
        False,
    )


def test_utf16_text_is_not_mistaken_for_binary(ctx: ToolContext, server: Server) -> None:
    server.routes["/wide"] = reply(body="wide text\n".encode("utf-16"), content_type="text/plain; charset=utf-16")
    out = fetch(ctx, server.url("/wide"))
    assert (out["content"], out["charset"], out["charset_source"]) == ("wide text\n", "utf-16", "header")


def test_json_declared_as_html_is_returned_as_text_not_mangled_into_markdown(ctx: ToolContext, server: Server) -> None:
    server.routes["/api"] = reply(body=JSON_BODY, content_type="text/html; charset=utf-8")
    assert fetch(ctx, server.url("/api")) == {
        "url": server.url("/api"),
        "final_url": server.url("/api"),
        "status_code": 200,
        "content_type": "text/html",
        "charset": "utf-8",
        "charset_source": "header",
        "title": "",
        "bytes": len(JSON_BODY),
        "content": JSON_BODY.decode(),
        "prompt": "",
    }


def test_bytes_invalid_in_the_declared_charset_are_replaced_and_said_so(ctx: ToolContext, server: Server) -> None:
    server.routes["/latin"] = reply(body="caf\xe9 cr\xe8me".encode("latin-1"), content_type="text/plain; charset=utf-8")
    out = fetch(ctx, server.url("/latin"))
    assert (out["content"], out["charset"], out["charset_source"]) == (
        "caf\ufffd cr\ufffdme",
        "utf-8",
        "header (bytes invalid in utf-8 replaced)",
    )


@pytest.mark.parametrize("charset", ["base64", "rot13", "hex"])
def test_a_charset_naming_a_codec_that_is_no_text_encoding_falls_back_to_detection(
    ctx: ToolContext, server: Server, charset: str
) -> None:
    # Python knows these names, but as bytes-to-bytes codecs: bytes.decode() refuses them.
    server.routes["/odd"] = reply(
        body="déjà vu, encore une fois\n".encode(), content_type=f"text/plain; charset={charset}"
    )
    out = fetch(ctx, server.url("/odd"))
    assert out["content"] == "déjà vu, encore une fois\n"
    assert out["charset_source"] == f"detected (header named unknown charset {charset!r})"


# --- Through the engine --------------------------------------------------------------------------

SCENARIO = """---
name: Fetch_Fault
goal: Fetch one page from a server that misbehaves.
steps:
  - id: fetch
    component: RealWebFetchTool
    inputs:
      url: "{url}"
---
"""


@pytest.fixture
def fetch_project(project: Path) -> Path:
    """A throw-away project whose RealWebFetchTool times out after 1 s and retries after 0.01 s."""
    tool = project / "components" / "tools" / "RealWebFetchTool.md"
    text = tool.read_text()
    for old, new in [("timeout_s: 30", "timeout_s: 1"), ("backoff_s: 1}", "backoff_s: 0.01}")]:
        assert old in text
        text = text.replace(old, new)
    tool.write_text(text)
    Project.load(project).sync_library()
    return project


def run_fetch(project: Path, url: str) -> RunResult:
    path = project / "scenarios" / "Fetch_Fault.md"
    path.write_text(SCENARIO.format(url=url))
    return run_scenario(path, provider="scripted")


def tool_calls(result: RunResult) -> list[dict[str, Any]]:
    lines = (result.run_dir / "journal.jsonl").read_text().splitlines()
    return [t for t in map(json.loads, lines) if t["kind"] == "tool_call"]


def attempts(result: RunResult) -> list[tuple[int, str]]:
    """``(attempt, ok/error)`` of each recorded tool call."""
    return [(t["data"]["attempt"], t["target"]) for t in tool_calls(result)]


def test_run_retries_a_refused_connection_until_its_attempts_run_out(fetch_project: Path) -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}/"
    result = run_fetch(fetch_project, url)
    assert (result.status, result.error_type, result.steps[0]["attempts"]) == ("failed", "ToolError", 3)
    assert attempts(result) == [(1, "error"), (2, "error"), (3, "error")]
    cause = f"step 'fetch': WebFetch: cannot connect to 127.0.0.1:{port} to fetch {url}: "
    assert all(t["detail"].startswith(cause) for t in tool_calls(result))
    assert result.error is not None and result.error.startswith(cause)


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        pytest.param(respond("500 Internal Server Error"), "HTTP 500 Internal Server Error from {url}", id="500"),
        pytest.param(never_answer, "timed out after 1 s fetching {url} (", id="never-answers"),
        pytest.param(dribble_body(length=None), "timed out after 1 s fetching {url} (total deadline)", id="dribbles"),
        pytest.param(reset_mid_body, "connection broke while reading {url}: ", id="reset-mid-body"),
        pytest.param(truncate_body, "connection broke while reading {url}: peer closed connection", id="truncated"),
    ],
)
def test_run_retries_a_transient_fault_and_completes_when_the_server_recovers(
    fetch_project: Path, raw: Callable[..., RawServer], fault: Behaviour, cause: str
) -> None:
    srv = raw(fault, respond())
    result = run_fetch(fetch_project, srv.url)
    assert (result.status, result.error, result.steps[0]["attempts"]) == ("completed", None, 2)
    assert attempts(result) == [(1, "error"), (2, "ok")]
    failed, succeeded = tool_calls(result)
    assert failed["detail"].startswith("step 'fetch': WebFetch: " + cause.format(url=srv.url))
    assert (succeeded["data"]["outputs"]["status_code"], succeeded["data"]["outputs"]["title"]) == (200, "Fine")
    assert srv.connections == 2


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        pytest.param(
            respond("302 Found", b"", "text/html", "Location: /"),
            "too many redirects (a redirect loop?) from {url}",
            id="redirect-loop",
        ),
        pytest.param(
            stream(50 * MB, "content-length"),
            "page is 52428800 bytes, over the 5000000-byte size cap: {url}",
            id="50MB-with-content-length",
        ),
        pytest.param(
            stream(50 * MB, "close"), "page is over the 5000000-byte size cap: {url}", id="50MB-without-content-length"
        ),
        pytest.param(
            respond("200 OK", PAGE, "application/octet-stream"),
            "not a web page: {url} answered with content type 'application/octet-stream' (binary)",
            id="html-as-octet-stream",
        ),
        pytest.param(
            respond("200 OK", PNG, "text/html"),
            "not a web page: {url} declared 'text/html' but returned binary data",
            id="png-as-html",
        ),
    ],
)
def test_run_fails_at_once_on_a_fault_a_retry_cannot_mend(
    fetch_project: Path, raw: Callable[..., RawServer], fault: Behaviour, cause: str
) -> None:
    srv = raw(fault)
    result = run_fetch(fetch_project, srv.url)
    error = "step 'fetch': WebFetch: " + cause.format(url=srv.url)
    assert (result.status, result.error_type, result.error, result.steps[0]["attempts"]) == (
        "failed",
        "ToolError",
        error,
        1,
    )
    assert [(t["data"]["attempt"], t["target"], t["detail"]) for t in tool_calls(result)] == [(1, "error", error)]


@pytest.mark.parametrize(
    ("fault", "content", "charset_source"),
    [
        pytest.param(
            respond("200 OK", JSON_BODY, "text/html; charset=utf-8"),
            JSON_BODY.decode(),
            "header",
            id="json-as-html",
        ),
        pytest.param(
            respond("200 OK", "café crème".encode("latin-1"), "text/plain; charset=utf-8"),
            "caf\ufffd cr\ufffdme",
            "header (bytes invalid in utf-8 replaced)",
            id="latin-1-bytes-as-utf-8",
        ),
        pytest.param(
            respond("200 OK", "déjà vu, encore une fois".encode(), "text/plain; charset=base64"),
            "déjà vu, encore une fois",
            "detected (header named unknown charset 'base64')",
            id="charset-base64",
        ),
    ],
)
def test_run_completes_on_a_page_whose_headers_lie_and_records_how_it_was_read(
    fetch_project: Path, raw: Callable[..., RawServer], fault: Behaviour, content: str, charset_source: str
) -> None:
    result = run_fetch(fetch_project, raw(fault).url)
    assert (result.status, result.error, result.steps[0]["attempts"]) == ("completed", None, 1)
    [call] = tool_calls(result)
    assert (call["data"]["attempt"], call["target"]) == (1, "ok")
    outputs = call["data"]["outputs"]
    assert (outputs["content"], outputs["charset_source"]) == (content, charset_source)
