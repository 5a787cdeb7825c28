"""The provider interface: who answers an agent step.

The engine builds an :class:`AgentRequest` from the agent document and the step's rendered
inputs, and a provider returns an :class:`AgentResponse`. Providers live behind this one small
interface so the engine never imports an SDK.

Tool calls inside an agent step take one of two routes, recorded the same way:

* a provider that runs tools itself (``claude``: Claude Code executes them) reports each call
  through the :class:`ToolCallHooks` it is given, and asks them first whether the call may run;
* any other provider returns :attr:`AgentResponse.tool_calls`; the runner's agent loop
  (:mod:`llmos.agent_loop`) runs them with its own tools under the same hooks and calls the
  provider again with the results in :attr:`AgentRequest.history`, until the agent answers.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from llmos.exceptions import ProviderError

__all__ = [
    "AgentRequest",
    "AgentResponse",
    "AgentTurn",
    "Provider",
    "ToolCall",
    "ToolCallHooks",
    "ToolResult",
    "parse_json_reply",
    "render_prompt",
    "validate_output",
]


@dataclass(kw_only=True, frozen=True)
class ToolCall:
    """One tool call an agent asks for (an Anthropic ``tool_use`` block, an OpenAI tool call).

    Attributes:
        id: The call's id (Claude Code's ``tool_use_id``; made up by scripts that give none).
        name: The Claude Code tool name (``Read``, ``Write``, ``Bash``, ...).
        input: The tool's inputs, with Claude Code's input names.
    """

    id: str
    name: str
    input: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class ToolResult:
    """What came of one :class:`ToolCall`.

    Attributes:
        call_id: The :attr:`ToolCall.id` answered.
        output: The tool's output: a mapping (the runner's tools, Claude Code's ``tool_response``)
            or text; ``None`` after an error or a denial.
        error: The error or denial message, else ``None``.
        denied: The security policy refused the call before it ran.
        duration_s: Seconds the tool ran.
        source: Provenance of ``output``: ``real``, or in simulation mode ``example`` or ``generated``.
    """

    call_id: str
    output: Any = None
    error: str | None = None
    denied: bool = False
    duration_s: float = 0.0
    source: str = "real"

    @property
    def ok(self) -> bool:
        """Whether the call ran and succeeded."""
        return self.error is None


@dataclass(kw_only=True, frozen=True)
class AgentTurn:
    """One model turn of the runner's agent loop: the calls the model made and what came of them.

    Attributes:
        text: Text the model wrote beside its calls.
        tool_calls: The calls, in order.
        results: One result per call, in the same order.
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    results: tuple[ToolResult, ...] = ()


class ToolCallHooks(Protocol):
    """The engine's side of every tool call an agent makes: the policy gate and the record.

    The same object serves Claude Code's PreToolUse/PostToolUse hooks and the runner's agent loop.
    """

    def before_tool_call(self, call: ToolCall) -> str | None:
        """Called before a call runs. Returns ``None`` to allow it, or the reason it is denied
        (the denial is recorded here; the caller must not run the tool)."""

    def after_tool_call(self, call: ToolCall, result: ToolResult) -> None:
        """Called after an allowed call ran (successfully or not); records it as a transition."""


@dataclass(kw_only=True, frozen=True)
class AgentRequest:
    """One agent step, as a provider sees it.

    Attributes:
        agent: The agent component's name.
        step: The step id.
        system_prompt: The agent document's body.
        prompt: The user message: the step's inputs rendered as Markdown (see :func:`render_prompt`).
        inputs: The step's rendered inputs.
        output_schema: JSON Schema of the expected output object, or ``None`` for free text
            (returned as ``{"text": ...}``).
        model: The model the agent asks for, or ``None`` for the provider's default.
        max_turns: The most model turns allowed.
        tools: Claude Code tools the agent may call.
        timeout_s: Seconds allowed for the whole step.
        workspace: The run's workspace (the working directory for tools), when there is a run.
        budget_usd: US dollars the step may still spend (what remains of the run's budget), or
            ``None`` for no cap.
        history: Earlier turns of this step in the runner's agent loop (tool calls and results).
    """

    agent: str
    step: str
    system_prompt: str
    prompt: str
    inputs: dict[str, Any] = field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    model: str | None = None
    max_turns: int = 10
    tools: tuple[str, ...] = ()
    timeout_s: float = 300.0
    workspace: Path | None = None
    budget_usd: float | None = None
    history: tuple[AgentTurn, ...] = ()


@dataclass(kw_only=True)
class AgentResponse:
    """A provider's answer to one agent step.

    Attributes:
        output: The structured output (valid against the request's schema).
        text: The raw reply text.
        provider: The provider's name.
        model: The model that answered.
        source: Provenance: ``real`` for a model that answered, ``generated`` for placeholders
            and scripted answers in tests are ``real`` only if the script says so (see the
            scripted provider).
        cost_usd: US dollars the call cost.
        input_tokens: Prompt tokens, when known.
        output_tokens: Completion tokens, when known.
        duration_s: Seconds the call took.
        notes: Provider remarks worth recording (truncated prompt, retries).
        tool_calls: Tool calls the agent asks the runner to make before it answers; when not
            empty, ``output`` is not final and the agent loop calls the provider again.
        turns: Model turns the answer took (Claude Code's ``num_turns``).
    """

    output: dict[str, Any]
    text: str
    provider: str
    model: str
    source: str = "real"
    cost_usd: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    turns: int = 1


class Provider(ABC):
    """Answers agent steps. Subclasses set :attr:`name` and implement :meth:`complete`.

    Attributes:
        name: The provider's name (``--provider``).
        runs_tools: The provider executes tool calls itself (Claude Code does) and reports them
            through the hooks, instead of returning them to the runner's agent loop.
    """

    name: str = "provider"
    runs_tools: bool = False

    def describe(self) -> str:
        """One line saying what answers (model, endpoint) for the run summary."""
        return self.name

    @abstractmethod
    def complete(self, request: AgentRequest, *, hooks: ToolCallHooks | None = None) -> AgentResponse:
        """Answer one agent step, or one turn of it (see :attr:`AgentResponse.tool_calls`).

        Args:
            request: The step.
            hooks: Where a provider that runs tools itself asks for permission and reports each
                call; providers that return tool calls to the runner ignore it.

        Raises:
            ProviderError: The provider failed or replied with output that does not match the
                request's schema (``cost_usd`` says what was spent anyway).
            BudgetExceeded: The step hit :attr:`AgentRequest.budget_usd`.
        """


def render_prompt(inputs: dict[str, Any], schema: dict[str, Any] | None, *, max_chars: int | None = None) -> str:
    """The user message for an agent step: each input under a heading, then the answer format.

    Args:
        inputs: The step's rendered inputs.
        schema: The output JSON Schema, described at the end so any model knows the format.
        max_chars: When set, long inputs are cut so the whole message stays near this size; a cut
            is marked ``[... truncated N characters]``.
    """
    parts = []
    budget = None
    if max_chars is not None:
        fixed = sum(len(k) + 8 for k in inputs) + (len(json.dumps(schema)) + 200 if schema else 0)
        budget = max((max_chars - fixed) // max(len(inputs), 1), 200)
    for key, value in inputs.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)
        if budget is not None and len(text) > budget:
            text = text[:budget] + f"\n[... truncated {len(text) - budget} characters]"
        parts.append(f"## {key}\n\n{text.strip()}\n")
    if schema:
        props = schema.get("properties", {})
        fields = ", ".join(f'"{k}" ({v.get("type", "any")})' for k, v in props.items())
        parts.append(f"Answer with one JSON object with the fields {fields}, and nothing else.")
    return "\n".join(parts)


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(?P<body>.*?)\n\s*```\s*$", re.DOTALL)


def parse_json_reply(text: str, *, provider: str, step: str) -> dict[str, Any]:
    """Parse a model's reply as one JSON object (a surrounding ```json fence is allowed).

    Raises:
        ProviderError: Not valid JSON, or not an object; ``raw`` holds the reply.
    """
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group("body")
    try:
        value = json.loads(body, strict=False)
    except json.JSONDecodeError as exc:
        preview = text.strip().replace("\n", " ")[:120]
        raise ProviderError(
            f"returned invalid JSON ({exc.msg} at char {exc.pos}): {preview!r}",
            provider=provider,
            step=step,
            raw=text,
            invalid_output=True,
        ) from None
    if not isinstance(value, dict):
        raise ProviderError(
            f"returned JSON {type(value).__name__}, not an object",
            provider=provider,
            step=step,
            raw=text,
            invalid_output=True,
        )
    return value


def validate_output(output: dict[str, Any], schema: dict[str, Any] | None, *, provider: str, step: str) -> None:
    """Check a structured output against the agent's output schema (JSON Schema 2020-12).

    Raises:
        ProviderError: The output does not match; the message gives the first problem's path.
    """
    if not schema:
        return
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(output), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        raise ProviderError(
            f"output does not match the agent's declared outputs at {where}: {first.message}",
            provider=provider,
            step=step,
            raw=json.dumps(output, ensure_ascii=False)[:2000],
            invalid_output=True,
        )
