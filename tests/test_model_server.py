"""The scripted model server (llmos.testing): the Anthropic Messages API, answered from a script."""

from __future__ import annotations

import dataclasses
import json
import math
import queue
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from llmos.exceptions import DocumentError
from llmos.testing import ModelTurn, RecordedRequest, ScriptedModelServer, load_model_script
from llmos.testing._server import serve

MODEL = "claude-sonnet-4-5"
HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219"}
LONG_TEXT = "The quick brown fox jumps over the lazy dog, then naps in the sun."  # 66 chars: 2 text deltas


def request_body(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": "Hi"}], **extra}


def input_tokens(body: dict[str, Any]) -> int:
    payload = {k: body[k] for k in ("system", "messages", "tools") if k in body}
    return max(1, math.ceil(len(json.dumps(payload, ensure_ascii=False)) / 4))


def output_tokens(content: list[dict[str, Any]]) -> int:
    return max(1, math.ceil(len(json.dumps(content, ensure_ascii=False)) / 4))


def post(server: ScriptedModelServer, body: dict[str, Any], path: str = "/v1/messages?beta=true") -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers=HEADERS, timeout=10)


def sse(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The response's events; fails unless every frame is exactly ``event: NAME\\ndata: JSON\\n\\n``."""
    assert response.text.endswith("\n\n")
    events = []
    for frame in response.text[:-2].split("\n\n"):
        event, data = frame.split("\n")
        assert event.startswith("event: ") and data.startswith("data: ")
        events.append((event.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def message_start(body: dict[str, Any], number: int) -> tuple[str, dict[str, Any]]:
    message = {
        "id": f"msg_llmos_scripted_{number}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens(body), "output_tokens": 1},
    }
    return "message_start", {"type": "message_start", "message": message}


def message_end(stop_reason: str, tokens: int) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def tool_use_events(events: list[tuple[str, dict[str, Any]]], index: int) -> tuple[dict[str, Any], Any]:
    """A streamed tool_use block: its content_block_start block and its reassembled input."""
    start = next(d for e, d in events if e == "content_block_start" and d["index"] == index)
    deltas = [d["delta"] for e, d in events if e == "content_block_delta" and d["index"] == index]
    assert {d["type"] for d in deltas} == {"input_json_delta"}
    return start["content_block"], json.loads("".join(d["partial_json"] for d in deltas))


@pytest.fixture
def start() -> Any:
    servers: list[ScriptedModelServer] = []

    def start(script: Any) -> ScriptedModelServer:
        servers.append(ScriptedModelServer(script).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


# --------------------------------------------------------------------------------------------
# Streaming replies.


def test_streamed_text_turn_is_the_messages_api_event_sequence(start: Any) -> None:
    server = start([{"text": LONG_TEXT}])
    body = request_body(stream=True, system="You are a test.")

    response = post(server, body)

    assert (response.status_code, response.headers["content-type"], response.headers["connection"]) == (
        200,
        "text/event-stream; charset=utf-8",
        "close",
    )
    assert response.http_version == "HTTP/1.1"
    content = [{"type": "text", "text": LONG_TEXT}]
    assert sse(response) == [
        message_start(body, 1),
        ("ping", {"type": "ping"}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": LONG_TEXT[:40]}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": LONG_TEXT[40:]}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        *message_end("end_turn", output_tokens(content)),
    ]


def test_streamed_tool_calls_send_input_as_json_deltas_that_reassemble_to_the_input(start: Any) -> None:
    write = {"file_path": "/abs/out.txt", "content": "a long enough content to need several JSON chunks " * 2}
    server = start(
        [
            {
                "text": "Writing.",
                "tool_calls": [
                    {"name": "Write", "input": write},
                    {"name": "Read", "input": {"file_path": "/abs/in"}, "id": "toolu_mine"},
                ],
            }
        ]
    )
    body = request_body(stream=True)

    events = sse(post(server, body))

    assert [e for e, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        *["content_block_delta"] * math.ceil(len(json.dumps(write)) / 40),
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert [tool_use_events(events, 1), tool_use_events(events, 2)] == [
        ({"type": "tool_use", "id": "toolu_1_0", "name": "Write", "input": {}}, write),
        ({"type": "tool_use", "id": "toolu_mine", "name": "Read", "input": {}}, {"file_path": "/abs/in"}),
    ]
    content = [
        {"type": "text", "text": "Writing."},
        {"type": "tool_use", "id": "toolu_1_0", "name": "Write", "input": write},
        {"type": "tool_use", "id": "toolu_mine", "name": "Read", "input": {"file_path": "/abs/in"}},
    ]
    assert events[-2:] == message_end("tool_use", output_tokens(content))


def test_streamed_output_is_a_structured_output_tool_call_when_the_request_offers_that_tool(start: Any) -> None:
    server = start([{"output": {"answer": "x", "score": 3}}])
    tools = [{"name": "StructuredOutput", "description": "Return the output", "input_schema": {"type": "object"}}]
    body = request_body(stream=True, tools=tools)

    events = sse(post(server, body))

    block = {"type": "tool_use", "id": "toolu_1_0", "name": "StructuredOutput", "input": {"answer": "x", "score": 3}}
    assert events == [
        message_start(body, 1),
        ("ping", {"type": "ping"}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {**block, "input": {}}}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": '{"answer": "x", "score": 3}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        *message_end("tool_use", output_tokens([block])),
    ]


def test_streamed_output_is_a_json_text_block_when_the_request_has_no_structured_output_tool(start: Any) -> None:
    server = start([{"output": {"answer": "x"}}])
    body = request_body(stream=True, tools=[{"name": "Write", "input_schema": {"type": "object"}}])

    events = sse(post(server, body))

    text = '{"answer": "x"}'
    assert events == [
        message_start(body, 1),
        ("ping", {"type": "ping"}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        *message_end("end_turn", output_tokens([{"type": "text", "text": text}])),
    ]


# --------------------------------------------------------------------------------------------
# JSON replies, token counts, usage.


def test_non_streaming_request_gets_a_json_message(start: Any) -> None:
    server = start([{"text": "Hello", "tool_calls": [{"name": "Bash", "input": {"command": "ls"}}]}])
    body = request_body(stream=False)

    response = post(server, body, path="/v1/messages")

    content = [
        {"type": "text", "text": "Hello"},
        {"type": "tool_use", "id": "toolu_1_0", "name": "Bash", "input": {"command": "ls"}},
    ]
    assert (response.status_code, response.headers["content-type"]) == (200, "application/json")
    assert response.json() == {
        "id": "msg_llmos_scripted_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens(body), "output_tokens": output_tokens(content)},
    }


def test_turn_usage_and_stop_reason_override_the_defaults(start: Any) -> None:
    server = start(
        [{"text": "cut", "usage": {"input_tokens": 1000, "output_tokens": 200}, "stop_reason": "max_tokens"}]
    )

    reply = post(server, request_body()).json()

    assert (reply["usage"], reply["stop_reason"]) == ({"input_tokens": 1000, "output_tokens": 200}, "max_tokens")


def test_turns_are_taken_in_order_and_message_ids_follow_the_turn_number(start: Any) -> None:
    server = start({"turns": [{"text": "one"}, {"text": "two"}, {"text": "three"}]})

    replies = [post(server, request_body()).json() for _ in range(3)]

    assert [(r["id"], r["content"]) for r in replies] == [
        ("msg_llmos_scripted_1", [{"type": "text", "text": "one"}]),
        ("msg_llmos_scripted_2", [{"type": "text", "text": "two"}]),
        ("msg_llmos_scripted_3", [{"type": "text", "text": "three"}]),
    ]
    assert (server.turns_used, server.turns_left) == (3, 0)


def test_count_tokens_replies_the_estimate_and_takes_no_turn(start: Any) -> None:
    server = start([{"text": "kept"}])
    body = request_body(system="You are a test.", tools=[{"name": "Write", "input_schema": {"type": "object"}}])

    response = post(server, body, path="/v1/messages/count_tokens?beta=true")

    assert (response.status_code, response.json()) == (200, {"input_tokens": input_tokens(body)})
    assert (server.turns_used, server.turns_left) == (0, 1)


def test_chunked_request_body_is_read(start: Any) -> None:
    server = start([{"text": "hi"}])
    chunks = [b'{"model": "claude-sonnet-4-5", ', b'"max_tokens": 16, "messages": []}']

    response = httpx.post(server.url + "/v1/messages", content=iter(chunks), timeout=10)

    assert (response.status_code, server.requests[0].body) == (
        200,
        {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": []},
    )


# --------------------------------------------------------------------------------------------
# Errors.


@pytest.mark.parametrize(
    ("turn", "status", "headers", "error"),
    [
        (
            {"error": 429},
            429,
            {"retry-after": "0"},
            {"type": "rate_limit_error", "message": "scripted model server: scripted 429 rate_limit_error"},
        ),
        (
            {"error": 429, "retry_after": 7, "message": "slow down"},
            429,
            {"retry-after": "7"},
            {"type": "rate_limit_error", "message": "slow down"},
        ),
        (
            {"error": 529, "message": "Overloaded"},
            529,
            {},
            {"type": "overloaded_error", "message": "Overloaded"},
        ),
        (
            {"error": 500},
            500,
            {},
            {"type": "api_error", "message": "scripted model server: scripted 500 api_error"},
        ),
        (
            {"error": 401, "message": "invalid x-api-key"},
            401,
            {},
            {"type": "authentication_error", "message": "invalid x-api-key"},
        ),
    ],
)
def test_error_turn_replies_its_status_with_an_anthropic_error_body(
    start: Any, turn: dict[str, Any], status: int, headers: dict[str, str], error: dict[str, str]
) -> None:
    server = start([turn])

    response = post(server, request_body(stream=True))

    assert response.status_code == status
    assert {k: response.headers[k] for k in ("retry-after", "content-type") if k in response.headers} == {
        **headers,
        "content-type": "application/json",
    }
    assert response.json() == {"type": "error", "error": error}


def test_exhausted_script_replies_500_saying_so(start: Any) -> None:
    server = start([{"text": "only"}])
    post(server, request_body())

    response = post(server, request_body())

    assert (response.status_code, response.json()) == (
        500,
        {
            "type": "error",
            "error": {"type": "api_error", "message": "scripted model server: the script has no turn left (1 used)"},
        },
    )


def test_unknown_path_replies_404_not_found_error(start: Any) -> None:
    server = start([{"text": "unused"}])

    response = httpx.get(server.url + "/v1/models", timeout=10)

    assert (response.status_code, response.json()) == (
        404,
        {
            "type": "error",
            "error": {"type": "not_found_error", "message": "scripted model server: no route for GET /v1/models"},
        },
    )
    assert server.turns_left == 1


# --------------------------------------------------------------------------------------------
# Delays and the request record.


def test_delay_s_holds_the_reply_back(start: Any) -> None:
    server = start([{"delay_s": 0.5, "text": "late"}])

    began = time.monotonic()
    response = post(server, request_body())
    elapsed = time.monotonic() - began

    assert (response.json()["content"], elapsed >= 0.45) == ([{"type": "text", "text": "late"}], True)


def test_every_request_is_recorded_with_its_reply(start: Any) -> None:
    server = start([{"text": "Hello", "usage": {"input_tokens": 12, "output_tokens": 3}}])
    body = request_body(stream=True)
    before = time.time()

    post(server, body)
    post(server, body, path="/v1/messages/count_tokens")
    post(server, body)

    assert [dataclasses.replace(r, headers={k: r.headers[k] for k in HEADERS}, at=0.0) for r in server.requests] == [
        RecordedRequest(
            method="POST",
            path="/v1/messages?beta=true",
            headers=HEADERS,
            body=body,
            status=200,
            turn=0,
            usage={"input_tokens": 12, "output_tokens": 3},
        ),
        RecordedRequest(
            method="POST",
            path="/v1/messages/count_tokens",
            headers=HEADERS,
            body=body,
            status=200,
            turn=None,
            usage={"input_tokens": input_tokens(body)},
        ),
        RecordedRequest(
            method="POST", path="/v1/messages?beta=true", headers=HEADERS, body=body, status=500, turn=None, usage=None
        ),
    ]
    assert [before <= r.at <= time.time() for r in server.requests] == [True, True, True]


def test_server_lifecycle_url_and_env() -> None:
    server = ScriptedModelServer([{"text": "hi"}])
    with server:
        assert (server.url, server.env()) == (
            f"http://127.0.0.1:{server.port}",
            {
                "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{server.port}",
                "ANTHROPIC_API_KEY": "sk-llmos-scripted-model-server",
            },
        )
        assert post(server, request_body()).status_code == 200
    with pytest.raises(httpx.ConnectError):
        post(server, request_body())
    server.stop()  # stopping twice is harmless


def test_serve_blocks_serving_and_reports_each_request() -> None:
    started: queue.Queue[ScriptedModelServer] = queue.Queue()
    seen: list[tuple[int, int | None]] = []
    thread = threading.Thread(
        target=serve,
        args=([{"text": "hi"}],),
        kwargs={
            "host": "127.0.0.1",
            "port": 0,
            "on_request": lambda r: seen.append((r.status, r.turn)),
            "on_start": started.put,
        },
    )
    thread.start()
    server = started.get(timeout=10)

    response = post(server, request_body())
    server.stop()
    thread.join(timeout=10)

    assert (response.json()["content"], seen, thread.is_alive()) == (
        [{"type": "text", "text": "hi"}],
        [(200, 0)],
        False,
    )


# --------------------------------------------------------------------------------------------
# The script.


def test_script_file_loads_into_turns(tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(
        "turns:\n"
        "  - text: Hello\n"
        "  - tool_calls:\n"
        "      - {name: Write, input: {file_path: /abs/out.txt, content: hi}}\n"
        "  - output: {answer: x}\n"
        "  - error: 529\n"
        "    message: busy\n"
        "  - delay_s: 2.5\n"
        "    text: late\n"
    )

    assert load_model_script(script) == [
        ModelTurn(index=0, text="Hello", line=2),
        ModelTurn(
            index=1,
            tool_calls=({"id": "toolu_2_0", "name": "Write", "input": {"file_path": "/abs/out.txt", "content": "hi"}},),
            line=3,
        ),
        ModelTurn(index=2, output={"answer": "x"}, line=5),
        ModelTurn(index=3, error=529, message="busy", line=6),
        ModelTurn(index=4, delay_s=2.5, text="late", line=8),
    ]


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        (
            "s.yaml",
            "- text: hi\n- text: there\n  stop: end_turn\n",
            3,
            "turn 2: unknown key 'stop' (allowed: text, tool_calls, output, error, message, retry_after, delay_s, "
            "usage, stop_reason)",
        ),
        ("s.yaml", "- text: hi\n- delay_s: fast\n  text: x\n", 2, "turn 2: delay_s must be a number of seconds >= 0"),
        ("s.yaml", "- delay_s: 1\n", 1, "turn 1: a turn needs one of text, tool_calls, output or error"),
        (
            "s.yaml",
            "- text: hi\n  output: {a: 1}\n",
            2,
            "turn 1: text and output cannot be combined (only text and tool_calls can)",
        ),
        (
            "s.yaml",
            "- tool_calls:\n    - {name: Write}\n    - {name: Read, inputs: {}}\n",
            3,
            "turn 1: tool call 2: unknown key 'inputs' (allowed: name, input, id)",
        ),
        (
            "s.yaml",
            "- tool_calls: [{name: A, id: t1}]\n- tool_calls: [{name: B, id: t1}]\n",
            2,
            "turn 2: tool call 1: id 't1' is used twice",
        ),
        ("s.yaml", "- error: 200\n", 1, "turn 1: error must be an HTTP status from 400 to 599"),
        (
            "s.yaml",
            "- text: hi\n  usage: {input_tokens: many}\n",
            2,
            "turn 1: usage: input_tokens must be an integer >= 0",
        ),
        ("s.yaml", "- text: [unclosed\n", 2, "malformed YAML: expected ',' or ']', but got '<stream end>'"),
        ("s.yaml", "text: hi\n", 1, "a model script mapping has exactly one key, 'turns' (unknown: text)"),
        ("s.json", '[\n  {"text": "hi"},\n  {"text": 3}\n]\n', 3, "turn 2: text must be a string"),
        ("s.json", '[\n  {"text": "hi"},\n]\n', 3, "malformed JSON: Expecting value"),
    ],
)
def test_bad_script_file_is_a_document_error_naming_file_and_line(
    tmp_path: Path, name: str, text: str, line: int, message: str
) -> None:
    script = tmp_path / name
    script.write_text(text)

    with pytest.raises(DocumentError) as info:
        ScriptedModelServer(script)

    assert (info.value.path, info.value.line, info.value.message) == (script, line, message)


def test_bad_script_given_as_python_data_is_a_document_error_without_a_file() -> None:
    with pytest.raises(DocumentError) as info:
        load_model_script([{"text": "hi"}, {"output": "not a mapping"}])

    assert (info.value.path, info.value.line, info.value.message) == (
        None,
        None,
        "turn 2: output must be a mapping (a JSON object)",
    )


# --------------------------------------------------------------------------------------------
# The pytest fixture.


def test_model_server_fixture_starts_servers(model_server: Any, tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text("- text: from a file\n")

    from_file, from_list = model_server(script), model_server([{"text": "from a list"}])

    assert [post(s, request_body()).json()["content"] for s in (from_file, from_list)] == [
        [{"type": "text", "text": "from a file"}],
        [{"type": "text", "text": "from a list"}],
    ]


def test_model_server_fixture_is_available_to_any_pytest_run_and_stops_servers(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            f"""
            import httpx

            def test_uses_fixture(model_server):
                server = model_server([{{"text": "hi"}}])
                open({str(port_file)!r}, "w").write(str(server.port))
                reply = httpx.post(server.url + "/v1/messages", json={{"model": "m", "messages": []}})
                assert reply.json()["content"] == [{{"type": "text", "text": "hi"}}]
            """
        )
    )

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert (run.returncode, "1 passed" in run.stdout) == (0, True), run.stdout + run.stderr
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", int(port_file.read_text())))


# --------------------------------------------------------------------------------------------
# End to end: the real Claude Code CLI (bundled in claude-agent-sdk), offline.


def test_claude_code_cli_runs_a_script_against_the_server(tmp_path: Path) -> None:
    from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query

    ws = tmp_path / "ws"
    ws.mkdir()
    target = ws / "out.txt"
    script = [
        {"tool_calls": [{"name": "Write", "input": {"file_path": str(target), "content": "hi from the script"}}]},
        {"text": "Done."},
    ]
    with ScriptedModelServer(script) as server:
        options = ClaudeAgentOptions(
            system_prompt="You are a test.",
            setting_sources=[],
            cwd=str(ws),
            permission_mode="dontAsk",
            allowed_tools=["Write"],
            tools=["Write"],
            max_turns=5,
            model=MODEL,
            env={
                **server.env(),
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "HOME": str(tmp_path / "home"),
                "CLAUDE_CODE_MAX_RETRIES": "0",
            },
        )
        messages: list[Any] = []

        async def run() -> None:
            async for message in query(prompt="Write the file.", options=options):
                messages.append(message)

        anyio.run(run)

    result = messages[-1]
    usage = [r.usage for r in server.requests]
    assert isinstance(result, ResultMessage)
    assert (result.is_error, result.result, target.read_text()) == (False, "Done.", "hi from the script")
    assert [(r.path, r.status, r.turn, r.body["stream"]) for r in server.requests] == [
        ("/v1/messages?beta=true", 200, 0, True),
        ("/v1/messages?beta=true", 200, 1, True),
    ]
    input_total = sum(u["input_tokens"] for u in usage if u)
    output_total = sum(u["output_tokens"] for u in usage if u)
    assert result.total_cost_usd == pytest.approx(input_total * 3e-6 + output_total * 15e-6)
