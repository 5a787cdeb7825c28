"""The scripted model server: an Anthropic Messages API endpoint whose replies come from a script.

The wire format follows the Anthropic Messages API (``POST /v1/messages``, its server-sent events
for ``"stream": true``, its error bodies) and ``POST /v1/messages/count_tokens``. Everything here
is the standard library plus PyYAML; see :mod:`llmos.testing` for the script format.
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from llmos._yaml_lines import Key, key_lines
from llmos.exceptions import DocumentError
from llmos.providers.claude import SCRIPTED_MESSAGE_ID_PREFIX

__all__ = ["API_KEY", "ModelTurn", "RecordedRequest", "ScriptedModelServer", "load_model_script", "serve"]

#: The API key :meth:`ScriptedModelServer.env` hands to clients. The server accepts any key.
API_KEY = "sk-llmos-scripted-model-server"

#: Characters per ``text_delta`` and ``input_json_delta`` chunk in streamed replies.
CHUNK_CHARS = 40

#: Anthropic error ``type`` per HTTP status (other 4xx: ``invalid_request_error``, other 5xx: ``api_error``).
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

#: The ``stop_reason`` values of the Messages API, accepted as a turn's ``stop_reason`` override.
STOP_REASONS = frozenset(
    {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", "model_context_window_exceeded"}
)

#: Name of the tool Claude Code offers the model when the SDK option ``output_format`` is set.
STRUCTURED_OUTPUT_TOOL = "StructuredOutput"

_TURN_KEYS = ("text", "tool_calls", "output", "error", "message", "retry_after", "delay_s", "usage", "stop_reason")
_CALL_KEYS = ("name", "input", "id")
_USAGE_KEYS = ("input_tokens", "output_tokens")
_TOOL_ID = re.compile(r"^[A-Za-z0-9_-]+$")

#: How often the serving loop checks for stop() (the stdlib default, 0.5 s, makes every stop slow).
_POLL_S = 0.05


# --------------------------------------------------------------------------------------------
# The script.


@dataclass(frozen=True, kw_only=True)
class ModelTurn:
    """One scripted assistant turn: the reply to one ``POST /v1/messages``.

    Exactly one of ``text``/``tool_calls`` (both may be set: text first), ``output`` or ``error``
    defines the reply. Build turns with :func:`load_model_script`, which validates them.

    Attributes:
        index: 0-based position in the script.
        text: A text block's text.
        tool_calls: ``tool_use`` blocks, each ``{"id": str, "name": str, "input": dict}``; ids default
            to ``toolu_<turn number>_<call index>`` (``toolu_1_0`` is the first call of the first turn).
        output: A structured output (a JSON object): a ``tool_use`` of ``StructuredOutput`` when the
            request offers that tool, else a text block holding the object as JSON.
        error: An HTTP status to reply with an Anthropic error body instead of a message.
        message: The error message (``error`` turns only).
        retry_after: The ``retry-after`` header in seconds (``error`` turns; 429 sends ``0`` by default).
        delay_s: Seconds to wait before replying.
        usage: Token counts overriding the estimates: ``{"input_tokens"?: int, "output_tokens"?: int}``.
        stop_reason: Overrides the default (``tool_use`` when a ``tool_use`` block is sent, else ``end_turn``).
        line: The turn's 1-based line in the script file, or ``None``.
    """

    index: int
    text: str | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()
    output: dict[str, Any] | None = None
    error: int | None = None
    message: str | None = None
    retry_after: float | None = None
    delay_s: float = 0.0
    usage: dict[str, int] | None = None
    stop_reason: str | None = None
    line: int | None = None

    @property
    def kind(self) -> str:
        """``"error"``, ``"output"``, ``"tool_calls"`` (with or without text) or ``"text"``."""
        if self.error is not None:
            return "error"
        if self.output is not None:
            return "output"
        return "tool_calls" if self.tool_calls else "text"

    def content(self, *, structured_output_tool: bool) -> list[dict[str, Any]]:
        """The reply's content blocks, as in a Messages API ``Message``.

        Args:
            structured_output_tool: Whether the request offers a tool named ``StructuredOutput``.

        Returns:
            ``[{"type": "text", "text": str} | {"type": "tool_use", "id": str, "name": str, "input": dict}]``;
            empty for an ``error`` turn.
        """
        blocks: list[dict[str, Any]] = []
        if self.output is not None:
            if structured_output_tool:
                call_id = f"toolu_{self.index + 1}_0"
                blocks.append({"type": "tool_use", "id": call_id, "name": STRUCTURED_OUTPUT_TOOL, "input": self.output})
            else:
                blocks.append({"type": "text", "text": json.dumps(self.output, ensure_ascii=False)})
            return blocks
        if self.text is not None:
            blocks.append({"type": "text", "text": self.text})
        blocks.extend({"type": "tool_use", **call} for call in self.tool_calls)
        return blocks


def load_model_script(script: str | Path | Sequence[Any] | Mapping[str, Any]) -> list[ModelTurn]:
    """Load and validate a model script.

    Args:
        script: A YAML or JSON file (``.json`` files are read as JSON, others as YAML), or the
            parsed script: a list of turn mappings, or ``{"turns": [...]}``.

    Returns:
        The turns, in order.

    Raises:
        DocumentError: The file cannot be read or parsed, or a turn is wrong (unknown key, wrong
            type, no or conflicting content). Names the file and line; ``path`` is ``None`` for a
            script given as Python data.
    """
    if isinstance(script, str | Path):
        path = Path(script)
        data, lines = _read_script(path)
        return _Checker(path, lines).script(data)
    return _Checker(None, {}).script(script)


def _read_script(path: Path) -> tuple[Any, dict[Key, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DocumentError("no such model script", path=path) from None
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from None
    except OSError as exc:
        raise DocumentError(f"cannot read the model script: {exc.strerror}", path=path) from None
    lines: dict[Key, int] = {}
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DocumentError(f"malformed JSON: {exc.msg}", path=path, line=exc.lineno) from None
        try:  # JSON is (nearly always) YAML: borrow YAML's node marks for the line numbers.
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            root = None
    else:
        try:
            data = yaml.safe_load(text)
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "invalid YAML"
            raise DocumentError(
                f"malformed YAML: {problem}", path=path, line=mark.line + 1 if mark is not None else None
            ) from None
        except yaml.YAMLError as exc:
            raise DocumentError(f"malformed YAML: {exc}", path=path) from None
    if root is not None:
        key_lines(root, (), lines)
    return data, lines


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class _Checker:
    """Validates parsed script data, reporting problems at their file lines."""

    path: Path | None
    lines: dict[Key, int]
    ids: set[str] = field(default_factory=set)

    def error(self, message: str, key: Key) -> DocumentError:
        line: int | None = None
        if self.path is not None:
            probe = key
            while probe and probe not in self.lines:
                probe = probe[:-1]
            line = self.lines.get(probe, 1)
        return DocumentError(message, path=self.path, line=line)

    def script(self, data: Any) -> list[ModelTurn]:
        prefix: Key = ()
        if isinstance(data, Mapping):
            extra = sorted(str(k) for k in data if k != "turns")
            if extra or "turns" not in data:
                raise self.error(
                    "a model script mapping has exactly one key, 'turns'"
                    + (f" (unknown: {', '.join(extra)})" if extra else ""),
                    (extra[0],) if extra else (),
                )
            data, prefix = data["turns"], ("turns",)
        if isinstance(data, str | bytes) or not isinstance(data, Sequence):
            found = "nothing" if data is None else type(data).__name__
            raise self.error(f"a model script is a list of turns or a mapping {{turns: [...]}}, not {found}", prefix)
        return [self.turn(item, index, (*prefix, index)) for index, item in enumerate(data)]

    def turn(self, item: Any, index: int, key: Key) -> ModelTurn:
        where = f"turn {index + 1}"
        if not isinstance(item, Mapping):
            raise self.error(f"{where}: a turn is a mapping, not {type(item).__name__}", key)
        for name in item:
            if name not in _TURN_KEYS:
                raise self.error(f"{where}: unknown key {name!r} (allowed: {', '.join(_TURN_KEYS)})", (*key, str(name)))
        content = [k for k in ("text", "tool_calls", "output", "error") if k in item]
        if not content:
            raise self.error(f"{where}: a turn needs one of text, tool_calls, output or error", key)
        if len(content) > 1 and set(content) != {"text", "tool_calls"}:
            raise self.error(
                f"{where}: {' and '.join(content)} cannot be combined (only text and tool_calls can)",
                (*key, content[1]),
            )
        text = item.get("text")
        if "text" in item and not isinstance(text, str):
            raise self.error(f"{where}: text must be a string", (*key, "text"))
        tool_calls = self.tool_calls(item["tool_calls"], index, (*key, "tool_calls")) if "tool_calls" in item else ()
        output = item.get("output")
        if "output" in item and not isinstance(output, Mapping):
            raise self.error(f"{where}: output must be a mapping (a JSON object)", (*key, "output"))
        error: Any = item.get("error")
        if "error" in item and not (_is_int(error) and 400 <= error <= 599):
            raise self.error(f"{where}: error must be an HTTP status from 400 to 599", (*key, "error"))
        for name in ("message", "retry_after"):
            if name in item and "error" not in item:
                raise self.error(f"{where}: {name} belongs to error turns", (*key, name))
        for name in ("usage", "stop_reason"):
            if name in item and "error" in item:
                raise self.error(f"{where}: an error turn has no {name}", (*key, name))
        message = item.get("message")
        if "message" in item and not isinstance(message, str):
            raise self.error(f"{where}: message must be a string", (*key, "message"))
        retry_after: Any = item.get("retry_after")
        if "retry_after" in item and not (_is_number(retry_after) and retry_after >= 0):
            raise self.error(f"{where}: retry_after must be a number of seconds >= 0", (*key, "retry_after"))
        delay_s = item.get("delay_s", 0)
        if not (_is_number(delay_s) and delay_s >= 0):
            raise self.error(f"{where}: delay_s must be a number of seconds >= 0", (*key, "delay_s"))
        usage = self.usage(item["usage"], where, (*key, "usage")) if "usage" in item else None
        stop_reason = item.get("stop_reason")
        if "stop_reason" in item and stop_reason not in STOP_REASONS:
            raise self.error(
                f"{where}: stop_reason must be one of {', '.join(sorted(STOP_REASONS))}", (*key, "stop_reason")
            )
        return ModelTurn(
            index=index,
            text=text,
            tool_calls=tool_calls,
            output=dict(output) if output is not None else None,
            error=error,
            message=message,
            retry_after=retry_after,
            delay_s=float(delay_s),
            usage=usage,
            stop_reason=stop_reason,
            line=self.lines.get(key) if self.path is not None else None,
        )

    def tool_calls(self, value: Any, turn: int, key: Key) -> tuple[dict[str, Any], ...]:
        where = f"turn {turn + 1}"
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
            raise self.error(f"{where}: tool_calls must be a non-empty list of {{name, input, id?}}", key)
        calls = []
        for position, call in enumerate(value):
            at: Key = (*key, position)
            if not isinstance(call, Mapping):
                raise self.error(f"{where}: tool call {position + 1} must be a mapping {{name, input, id?}}", at)
            for name in call:
                if name not in _CALL_KEYS:
                    raise self.error(
                        f"{where}: tool call {position + 1}: unknown key {name!r} (allowed: {', '.join(_CALL_KEYS)})",
                        (*at, str(name)),
                    )
            if not isinstance(call.get("name"), str) or not call["name"]:
                raise self.error(f"{where}: tool call {position + 1}: name must be a non-empty string", (*at, "name"))
            call_input = call.get("input", {})
            if not isinstance(call_input, Mapping):
                raise self.error(f"{where}: tool call {position + 1}: input must be a mapping", (*at, "input"))
            call_id = call.get("id", f"toolu_{turn + 1}_{position}")
            if not isinstance(call_id, str) or not _TOOL_ID.match(call_id):
                raise self.error(
                    f"{where}: tool call {position + 1}: id must be a string of letters, digits, _ and -", (*at, "id")
                )
            if call_id in self.ids:
                raise self.error(f"{where}: tool call {position + 1}: id {call_id!r} is used twice", (*at, "id"))
            self.ids.add(call_id)
            calls.append({"id": call_id, "name": call["name"], "input": dict(call_input)})
        return tuple(calls)

    def usage(self, value: Any, where: str, key: Key) -> dict[str, int]:
        if not isinstance(value, Mapping):
            raise self.error(f"{where}: usage must be a mapping {{input_tokens?, output_tokens?}}", key)
        for name, count in value.items():
            if name not in _USAGE_KEYS:
                raise self.error(
                    f"{where}: usage: unknown key {name!r} (allowed: {', '.join(_USAGE_KEYS)})", (*key, str(name))
                )
            if not (_is_int(count) and count >= 0):
                raise self.error(f"{where}: usage: {name} must be an integer >= 0", (*key, str(name)))
        return {str(k): int(v) for k, v in value.items()}


# --------------------------------------------------------------------------------------------
# The server.


@dataclass(kw_only=True)
class RecordedRequest:
    """One request the server received, with what it replied.

    Attributes:
        method: ``"POST"``, ``"GET"``, ...
        path: The request target as sent, query string included (``/v1/messages?beta=true``).
        headers: Request headers, names lower-cased (``x-api-key``, ``anthropic-version``, ``anthropic-beta``).
        body: The JSON body, parsed; ``None`` when absent or not JSON.
        status: The HTTP status replied.
        turn: The 0-based index of the script turn that answered, or ``None`` (count_tokens, 404,
            exhausted script, malformed request).
        usage: The usage replied: ``{"input_tokens": int, "output_tokens": int}`` for a message,
            ``{"input_tokens": int}`` for count_tokens, ``None`` otherwise.
        at: When the request arrived (``time.time()``).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    turn: int | None = None
    usage: dict[str, int] | None = None
    at: float = 0.0


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """The scripted input token count: ``max(1, ceil(len(json.dumps(x)) / 4))``.

    ``x`` is ``{"system": ..., "messages": ..., "tools": ...}`` with the keys the request has,
    dumped with ``ensure_ascii=False``.
    """
    payload = {k: body[k] for k in ("system", "messages", "tools") if k in body}
    return max(1, math.ceil(len(json.dumps(payload, ensure_ascii=False)) / 4))


def estimate_output_tokens(content: Sequence[Mapping[str, Any]]) -> int:
    """The scripted output token count: ``max(1, ceil(len(json.dumps(content, ensure_ascii=False)) / 4))``."""
    return max(1, math.ceil(len(json.dumps(list(content), ensure_ascii=False)) / 4))


def error_type(status: int) -> str:
    """The Anthropic error ``type`` for an HTTP status (see :data:`ERROR_TYPES`)."""
    return ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str) -> dict[str, Any]:
    """An Anthropic error body: ``{"type": "error", "error": {"type": error_type(status), "message": message}}``."""
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


def _chunks(text: str) -> Iterator[str]:
    for start in range(0, len(text), CHUNK_CHARS):
        yield text[start : start + CHUNK_CHARS]


def stream_events(message: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The Messages API streaming events for a complete ``Message``, as ``(event name, data)``.

    ``message_start`` (the message with empty content and ``output_tokens: 1``), ``ping``, per
    content block ``content_block_start`` / ``content_block_delta``... / ``content_block_stop``
    (``text_delta`` chunks of text; a ``tool_use`` starts with ``input: {}`` and sends its input as
    ``input_json_delta`` chunks of JSON), ``message_delta`` (stop reason, output tokens), ``message_stop``.
    """
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {"input_tokens": usage["input_tokens"], "output_tokens": 1}
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(message["content"]):
        if block["type"] == "tool_use":
            yield (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
            )
            for part in _chunks(json.dumps(block["input"], ensure_ascii=False)):
                delta = {"type": "input_json_delta", "partial_json": part}
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        else:
            yield (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {**block, "text": ""}},
            )
            for part in _chunks(block["text"]):
                delta = {"type": "text_delta", "text": part}
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield "message_stop", {"type": "message_stop"}


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, sent with ``Content-Length`` or chunked."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        parts = []
        while size := int(handler.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
        while handler.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
            pass
        return b"".join(parts)
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    return handler.rfile.read(length) if length > 0 else b""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for clients that keep a connection open
    model: ScriptedModelServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a timed-out attempt, a killed CLI) is not the server's error.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.server.model._handle(self)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST


_Reply = tuple[int, dict[str, str], dict[str, Any] | None, list[tuple[str, dict[str, Any]]] | None]


class ScriptedModelServer:
    """A local HTTP server speaking the Anthropic Messages API, replying from a script.

    Each ``POST /v1/messages`` (any query string) takes the next turn of the script, in order, and
    replies with it: a JSON ``Message``, or server-sent events when the body has ``"stream": true``,
    or an error. ``POST /v1/messages/count_tokens`` replies ``{"input_tokens": n}`` and takes no turn.
    Other paths reply 404; once the script is used up, every message request replies 500.

    Args:
        script: A script file or the script as Python data (see :func:`load_model_script`).
        host: The interface to listen on.
        port: The port; ``0`` picks a free one (see :attr:`port`).

    Raises:
        DocumentError: The script is invalid (at construction).

    Attributes:
        turns: The script's turns (:class:`ModelTurn`), in order.
        requests: Every request received, in arrival order (:class:`RecordedRequest`), appended
            before its reply is sent.
        on_request: Called after each reply with its record, in the server's thread; ``None`` by default.

    Example::

        with ScriptedModelServer([{"text": "Hello"}]) as server:
            env = server.env()  # ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY for the client
            ...
            assert server.turns_left == 0
    """

    def __init__(
        self,
        script: str | Path | Sequence[Any] | Mapping[str, Any],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.turns: list[ModelTurn] = load_model_script(script)
        self.requests: list[RecordedRequest] = []
        self.on_request: Callable[[RecordedRequest], None] | None = None
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._used = 0
        self._serving = False
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def bind(self) -> ScriptedModelServer:
        """Open the listening socket (done by :meth:`start` and :meth:`serve_forever`); returns self."""
        if self._httpd is None:
            httpd = _HTTPServer((self._host, self._port), _Handler)
            httpd.model = self
            self._httpd = httpd
            self._stopping.clear()
        return self

    def start(self) -> ScriptedModelServer:
        """Serve in a daemon thread; returns self."""
        self.bind()
        if self._thread is None:
            assert self._httpd is not None
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(_POLL_S,), name="scripted-model-server", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` is called from another thread.

        ``KeyboardInterrupt`` propagates; the socket is closed either way.
        """
        self.bind()
        assert self._httpd is not None
        self._serving = True
        try:
            self._httpd.serve_forever(_POLL_S)
        finally:
            self._serving = False
            self._close()

    def stop(self) -> None:
        """Stop serving and close the socket; a pending ``delay_s`` ends early. Safe to call twice."""
        self._stopping.set()
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        if thread is not None:
            httpd.shutdown()
            thread.join()
            self._close()
        elif self._serving:  # serve_forever() runs in another thread: end it; it closes the socket itself
            httpd.shutdown()
        else:  # bound, never served
            self._close()

    def _close(self) -> None:
        if self._httpd is not None:
            self._httpd.server_close()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The listening port (the one chosen when ``port=0``); the requested port before binding."""
        return int(self._httpd.server_address[1]) if self._httpd is not None else self._port

    @property
    def url(self) -> str:
        """The base URL, ``http://HOST:PORT``, for ``ANTHROPIC_BASE_URL``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for an Anthropic client or the Claude Code CLI: ``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY``."""
        return {"ANTHROPIC_BASE_URL": self.url, "ANTHROPIC_API_KEY": API_KEY}

    # -- script progress ---------------------------------------------------------------------

    @property
    def turns_used(self) -> int:
        """How many turns have been taken by message requests."""
        with self._lock:
            return self._used

    @property
    def turns_left(self) -> int:
        """How many turns remain."""
        with self._lock:
            return len(self.turns) - self._used

    # -- requests ----------------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        at = time.time()
        raw = _read_body(handler)
        headers: dict[str, str] = {}
        for name, value in handler.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        record = RecordedRequest(method=handler.command, path=handler.path, headers=headers, body=body, status=0, at=at)
        status, reply_headers, payload, events = self._reply(handler.command, handler.path, body, record)
        record.status = status
        with self._lock:
            self.requests.append(record)
            number = len(self.requests)
        try:
            self._send(handler, number, status, reply_headers, payload, events)
        except (BrokenPipeError, ConnectionResetError):  # the client went away
            pass
        if self.on_request is not None:
            self.on_request(record)

    def _reply(self, method: str, target: str, body: Any, record: RecordedRequest) -> _Reply:
        path = target.split("?", 1)[0].rstrip("/")
        if method != "POST" or path not in ("/v1/messages", "/v1/messages/count_tokens"):
            return self._error(404, f"scripted model server: no route for {method} {path or '/'}")
        if not isinstance(body, dict):
            return self._error(400, "scripted model server: the request body must be a JSON object")
        if path == "/v1/messages/count_tokens":
            count = estimate_input_tokens(body)
            record.usage = {"input_tokens": count}
            return 200, {}, {"input_tokens": count}, None
        with self._lock:
            turn = self.turns[self._used] if self._used < len(self.turns) else None
            if turn is not None:
                self._used += 1
            used = self._used
        if turn is None:
            return self._error(500, f"scripted model server: the script has no turn left ({used} used)")
        record.turn = turn.index
        if turn.delay_s:
            self._stopping.wait(turn.delay_s)
        if turn.error is not None:
            headers = {}
            if turn.retry_after is not None or turn.error == 429:
                seconds = turn.retry_after or 0
                headers["retry-after"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
            default = f"scripted model server: scripted {turn.error} {error_type(turn.error)}"
            return turn.error, headers, error_body(turn.error, turn.message or default), None
        tools = body.get("tools")
        structured = isinstance(tools, list) and any(
            isinstance(t, dict) and t.get("name") == STRUCTURED_OUTPUT_TOOL for t in tools
        )
        content = turn.content(structured_output_tool=structured)
        usage = {"input_tokens": estimate_input_tokens(body), "output_tokens": estimate_output_tokens(content)}
        usage.update(turn.usage or {})
        record.usage = usage
        stop_reason = turn.stop_reason or ("tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn")
        message = {
            "id": f"{SCRIPTED_MESSAGE_ID_PREFIX}{turn.index + 1}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model") or "claude-scripted",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        if body.get("stream") is True:
            return 200, {}, None, list(stream_events(message))
        return 200, {}, message, None

    @staticmethod
    def _error(status: int, message: str) -> _Reply:
        return status, {}, error_body(status, message), None

    def _send(
        self,
        handler: _Handler,
        number: int,
        status: int,
        headers: dict[str, str],
        payload: dict[str, Any] | None,
        events: list[tuple[str, dict[str, Any]]] | None,
    ) -> None:
        handler.close_connection = True
        handler.send_response(status)
        handler.send_header("Connection", "close")
        handler.send_header("request-id", f"req_scripted_{number}")
        for name, value in headers.items():
            handler.send_header(name, value)
        if events is None:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Cache-Control", "no-cache")
        handler.end_headers()
        for name, data_ in events:
            frame = f"event: {name}\ndata: {json.dumps(data_, ensure_ascii=False)}\n\n"
            handler.wfile.write(frame.encode("utf-8"))
            handler.wfile.flush()


def serve(
    script: str | Path | Sequence[Any] | Mapping[str, Any],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_request: Callable[[RecordedRequest], None] | None = None,
    on_start: Callable[[ScriptedModelServer], None] | None = None,
) -> None:
    """Serve a script in the calling thread until ``KeyboardInterrupt`` (for ``llmos serve-script``).

    Prints nothing: report through the callbacks.

    Args:
        script: A script file or the script as Python data (see :func:`load_model_script`).
        host: The interface to listen on.
        port: The port; ``0`` picks a free one.
        on_request: Called after each reply with its :class:`RecordedRequest` (in the server's thread).
        on_start: Called once the socket listens, with the server (``server.url``, ``server.env()``).

    Raises:
        DocumentError: The script is invalid.
        OSError: The address cannot be bound.
    """
    server = ScriptedModelServer(script, host=host, port=port)
    server.on_request = on_request
    server.bind()
    if on_start is not None:
        on_start(server)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return
