"""Shared fixtures: a throw-away project root and a loopback HTTP server."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llmos._resources import copy_project
from llmos.project import Project

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh project root (the shipped documents) with an empty SmartMemory."""
    root = tmp_path / "project"
    copy_project(root)
    return root


# A tool-using agent for the agent-loop and Claude provider tests. `model` names a real Claude
# model so Claude Code prices its usage (Sonnet: $3 / $15 per million input / output tokens).
AGENT = """---
name: NoteTakerAgent
kind: agent
real: true
description: Writes a note in the workspace, checks it with Bash and reads it back.
tools: [Write, Bash, Read, Glob]
model: claude-sonnet-4-5
max_turns: 6
inputs:
  topic: {type: string, required: true, description: what the note is about}
outputs:
  path: {type: string, description: the note's path}
  lines: {type: integer, description: lines in the note}
cost_usd: 0.05
latency_s: 10
side_effects: writes one file in the workspace
error_modes: [model unavailable]
timeout_s: 60
retry: {attempts: 2, backoff_s: 0.05}
idempotent: false
---

You are NoteTakerAgent. Write a short note about `topic` into notes/note.md, count its lines with
`wc -l`, read it back, then answer with its path and line count.
"""

SCENARIO = """---
name: Note_Task
goal: Write a note about a topic.
inputs:
  topic: {type: string, default: state machines, description: the note's topic}
steps:
  - id: note
    component: NoteTakerAgent
    inputs:
      topic: "{{ inputs.topic }}"
---
"""


@pytest.fixture
def note_project(project: Path) -> Path:
    (project / "components" / "agents" / "NoteTakerAgent.md").write_text(AGENT)
    (project / "scenarios" / "Note_Task.md").write_text(SCENARIO)
    Project.load(project).sync_library()
    return project


@dataclass
class Server:
    """A loopback HTTP server: serves ``routes`` (path -> handler) and files from ``folder``."""

    base: str
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


def _serve(routes: dict[str, Handler], requests: list[str], folder: Path) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, format, *args):  # type: ignore[no-untyped-def]
            pass

        def do_GET(self) -> None:
            requests.append(self.path)
            route = routes.get(self.path.split("?")[0])
            if route is not None:
                route(self)
            else:
                super().do_GET()

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    """A threaded HTTP server on 127.0.0.1 serving tests/fixtures/pages plus custom routes."""
    routes: dict[str, Handler] = {}
    requests: list[str] = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _serve(routes, requests, FIXTURES / "pages"))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(base=f"http://127.0.0.1:{httpd.server_address[1]}", routes=routes, requests=requests)
    finally:
        httpd.shutdown()
        httpd.server_close()


def reply(
    status: int = 200,
    body: bytes = b"",
    content_type: str | None = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
    delay_s: float = 0.0,
) -> Handler:
    """A route handler answering with a fixed response."""

    def handle(request: http.server.BaseHTTPRequestHandler) -> None:
        if delay_s:
            time.sleep(delay_s)
        request.send_response(status)
        if content_type:
            request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(body)

    return handle


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
