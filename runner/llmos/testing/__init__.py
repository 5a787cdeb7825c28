"""Testing helpers: a scripted model server that stands in for the Anthropic API.

:class:`ScriptedModelServer` is a local HTTP server speaking the Anthropic Messages API
(``POST /v1/messages``, streamed or not, and ``POST /v1/messages/count_tokens``) whose assistant
turns come from a script. Point any Anthropic client at it, in particular the real Claude Code CLI
that ``claude-agent-sdk`` bundles, to run agents offline and deterministically::

    from llmos.testing import ScriptedModelServer

    script = [
        {"tool_calls": [{"name": "Write", "input": {"file_path": "/abs/out.txt", "content": "hi"}}]},
        {"text": "Done."},
    ]
    with ScriptedModelServer(script) as server:
        options = ClaudeAgentOptions(env={**server.env(), "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}, ...)
        ...  # run claude_agent_sdk.query(prompt=..., options=options)
    assert [r.turn for r in server.requests] == [0, 1]

In pytest, the ``model_server`` fixture (registered through the ``pytest11`` entry point, see
:mod:`llmos.testing.pytest_plugin`) starts servers and stops them at teardown:
``server = model_server("script.yaml")``.

Script format (a YAML or JSON file, or the same data in Python): a list of turns, or a mapping
``{turns: [...]}``. Each ``POST /v1/messages`` takes the next turn::

    - text: "Hello"                     # one text block
    - tool_calls:                       # tool_use blocks (with text: the text block comes first)
        - name: Write
          input: {file_path: /abs/out.txt, content: "hi"}
          id: toolu_custom              # optional; default toolu_<turn number>_<call index>
    - output: {answer: "x"}             # a StructuredOutput tool_use when the request offers that
                                        # tool (SDK output_format), else a text block of the JSON
    - error: 529                        # an HTTP error with an Anthropic error body; 429 sends
      message: "optional message"       # retry-after (0, or retry_after: SECONDS)
    - delay_s: 2.5                      # wait before replying; combines with any turn
      text: "late"

Optional on non-error turns: ``usage: {input_tokens: N, output_tokens: M}`` (default estimates:
about four characters per token of the request's system, messages and tools, and of the reply's
content blocks) and ``stop_reason`` (default ``tool_use`` when a tool_use block is sent, else
``end_turn``). The script is validated when loaded: problems raise
:class:`~llmos.exceptions.DocumentError` with the file and line.

Streamed replies follow the Messages API streaming events: ``message_start``, ``ping``,
``content_block_start`` / ``content_block_delta`` (``text_delta``, ``input_json_delta``) /
``content_block_stop`` per block, ``message_delta``, ``message_stop``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ModelTurn", "RecordedRequest", "ScriptedModelServer", "load_model_script"]

if TYPE_CHECKING:
    from llmos.testing._server import ModelTurn, RecordedRequest, ScriptedModelServer, load_model_script


def __getattr__(name: str) -> Any:
    # Loaded on first use so that importing llmos.testing.pytest_plugin stays cheap.
    if name not in __all__:
        raise AttributeError(f"module 'llmos.testing' has no attribute {name!r}")
    from llmos.testing import _server

    return getattr(_server, name)
