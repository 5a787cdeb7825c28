"""One trace turned into format-neutral conversations (the two views).

The trace shape is ``system/TrainingDataCollector.md``'s: ``tool_calls`` and ``agent_steps`` are
lists of calls ordered by ``seq``. A call an agent made inside its step (a Claude Code tool call,
reported by the agent loop or Claude Code's hooks) carries a ``call_id`` (and ``runtime:
claude_code`` when Claude Code ran it); the orchestrator's own calls have ``call_id: null``.

**Orchestrator view** (``orchestrator``, the default; one conversation per run):

* system: a short SystemAgent instruction naming the scenario and the mode;
* user: the run's goal and its inputs;
* for each step call in ``seq`` order (the orchestrator's tool calls and the agent steps, retries
  included): an assistant tool call, named after the Claude Code tool (``WebFetch``, ``Read``,
  ``Write`` ...) for a tool step or after the agent component for an agent step, with the call's
  inputs as arguments; then its result: the outputs as JSON text, or the error text of a failed call;
* a final assistant message stating the outcome and the files written.

An agent's inner tool calls stay out of this view: they are the agent's work, not the orchestrator's.

**Agent view** (``agent``; one conversation per successful agent step):

* system: the agent's system prompt (its document body), user: the prompt it was given;
* its inner tool calls (those recorded in the same step, between the previous agent call of that
  step and this one) with their results;
* a final assistant message: the agent's JSON output.

Tool definitions are built from the calls present (see :mod:`llmos.export.schemas`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from llmos.export.schemas import ToolSpec, describe_tool, safe_tool_name

__all__ = ["VIEWS", "Conversation", "ToolCall", "build_conversations", "is_inner_call", "step_calls"]

#: The views :func:`build_conversations` offers.
VIEWS = ("orchestrator", "agent")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass
class ToolCall:
    """One tool call and its result inside a conversation.

    Attributes:
        id: The call's id (``call_<seq>``, or the agent's ``call_id`` for an inner call).
        name: The tool or agent name (a valid function name).
        arguments: The call's inputs (a JSON object).
        output: What the call returned (any JSON value), when it succeeded.
        error: The error text, when it failed.
        agent: The call is an agent step (not a tool).
    """

    id: str
    name: str
    arguments: dict[str, Any]
    output: Any = None
    error: str | None = None
    agent: bool = False

    @property
    def is_error(self) -> bool:
        """The call failed."""
        return self.error is not None

    @cached_property
    def arguments_json(self) -> str:
        """The arguments as JSON text."""
        return _json(self.arguments)

    @cached_property
    def result(self) -> str:
        """The result as a model reads it: the outputs as JSON text, or ``error: <text>``."""
        if self.error is not None:
            return f"error: {self.error}"
        if isinstance(self.output, str) and self.output.strip():
            return self.output
        return _json(self.output)


@dataclass
class Conversation:
    """A format-neutral training example.

    Attributes:
        id: Unique in an export: the execution id (orchestrator view) or
            ``<execution_id>:<step>:<seq>`` (agent view).
        execution_id: The run it comes from.
        view: ``orchestrator`` or ``agent``.
        scenario: The scenario's name.
        mode: ``execution`` or ``simulation``.
        system: The system prompt.
        user: The first user message.
        calls: The tool calls, in order, each answered by its result.
        final: The final assistant message.
    """

    id: str
    execution_id: str
    view: str
    scenario: str | None
    mode: str | None
    system: str
    user: str
    calls: list[ToolCall] = field(default_factory=list)
    final: str = ""

    def tools(self) -> list[ToolSpec]:
        """One definition per distinct tool name, in first-call order, its schema inferred from its calls."""
        grouped: dict[str, list[ToolCall]] = {}
        for call in self.calls:
            grouped.setdefault(call.name, []).append(call)
        return [
            ToolSpec.from_calls(name, describe_tool(name, agent=calls[0].agent), (c.arguments for c in calls))
            for name, calls in grouped.items()
        ]

    def text(self) -> str:
        """All the text of the conversation (for near-duplicate detection)."""
        parts = [self.system, self.user]
        for call in self.calls:
            parts += [call.name, call.arguments_json, call.result]
        parts.append(self.final)
        return "\n".join(parts)


def is_inner_call(call: dict[str, Any]) -> bool:
    """The call was made by an agent inside its step (it has a ``call_id``, or Claude Code ran it)."""
    return bool(call.get("call_id")) or call.get("runtime") == "claude_code"


def _seq(call: dict[str, Any]) -> int:
    seq = call.get("seq")
    return seq if isinstance(seq, int) else 0


def _calls(trace: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = trace.get(key)
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


def step_calls(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The orchestrator's calls: its own tool calls and the agent steps, in ``seq`` order."""
    tools = [c for c in _calls(trace, "tool_calls") if not is_inner_call(c)]
    agents = [dict(c, _agent=True) for c in _calls(trace, "agent_steps")]
    return sorted(tools + agents, key=_seq)


def _arguments(call: dict[str, Any]) -> dict[str, Any]:
    inputs = call.get("inputs")
    if isinstance(inputs, dict):
        return inputs
    return {} if inputs is None else {"input": inputs}


def _failed(call: dict[str, Any]) -> bool:
    perf = call.get("performance")
    return (isinstance(perf, dict) and perf.get("success") is False) or call.get("error") is not None


def _tool_call(call: dict[str, Any], *, agent: bool, call_id: str | None = None) -> ToolCall:
    name = call.get("component") if agent else (call.get("tool") or call.get("component"))
    error = None
    if _failed(call):
        error = str(call.get("error") or "the call failed")
    return ToolCall(
        id=call_id or f"call_{_seq(call)}",
        name=safe_tool_name(name if isinstance(name, str) else None),
        arguments=_arguments(call),
        output=None if error is not None else call.get("outputs"),
        error=error,
        agent=agent,
    )


_WRITERS = {"Write", "Edit", "MultiEdit", "NotebookEdit"}


def _files_written(trace: dict[str, Any]) -> list[str]:
    files: list[str] = []
    for call in sorted(_calls(trace, "tool_calls"), key=_seq):
        inputs = call.get("inputs")
        if call.get("tool") in _WRITERS and not _failed(call) and isinstance(inputs, dict):
            path = inputs.get("file_path") or inputs.get("notebook_path")
            if isinstance(path, str) and path not in files:
                files.append(path)
    return files


def _system(trace: dict[str, Any]) -> str:
    mode = str(trace.get("mode") or "execution")
    world = (
        "tools are simulated and never touch the world"
        if mode == "simulation"
        else "tools run for real in the workspace"
    )
    scenario = trace.get("scenario") or "a planned scenario"
    return (
        f"You are SystemAgent, the LLM-OS orchestrator, running the scenario {scenario} in "
        f"{mode.upper()} mode ({world}). Reach the goal one step at a time: call one tool or agent, read "
        "its result, then decide the next call. When done, state the outcome and the files written."
    )


def _user(trace: dict[str, Any]) -> str:
    goal = str(trace.get("goal") or "").strip() or "Run the scenario."
    inputs = trace.get("inputs")
    if isinstance(inputs, dict) and inputs:
        return f"{goal}\n\nInputs:\n{json.dumps(inputs, ensure_ascii=False, indent=2, default=str)}"
    return goal


def _final(trace: dict[str, Any]) -> str:
    files = _files_written(trace)
    written = f"Files written: {', '.join(files)}." if files else "No files were written."
    if trace.get("final_outcome") == "success":
        metrics = trace.get("quality_metrics")
        quality: dict[str, Any] = metrics if isinstance(metrics, dict) else {}
        done, planned = quality.get("steps_completed"), quality.get("steps_planned")
        steps = f" {done} of {planned} steps completed." if isinstance(done, int) and isinstance(planned, int) else ""
        return f"Outcome: success.{steps} {written}"
    error = trace.get("error")
    if isinstance(error, dict):
        where = f" at step '{error['step']}'" if error.get("step") else ""
        reason = f"{where}: {error.get('message') or 'unknown error'}"
    else:
        reason = f": {error}" if error else "."
    return f"Outcome: failure. The run failed{reason.rstrip('.')}. {written}"


def _orchestrator(trace: dict[str, Any]) -> Conversation:
    execution_id = str(trace.get("execution_id"))
    return Conversation(
        id=execution_id,
        execution_id=execution_id,
        view="orchestrator",
        scenario=trace.get("scenario"),
        mode=trace.get("mode"),
        system=_system(trace),
        user=_user(trace),
        calls=[_tool_call(c, agent=bool(c.get("_agent"))) for c in step_calls(trace)],
        final=_final(trace),
    )


def _agents(trace: dict[str, Any]) -> list[Conversation]:
    execution_id = str(trace.get("execution_id"))
    inner = sorted((c for c in _calls(trace, "tool_calls") if is_inner_call(c)), key=_seq)
    previous: dict[Any, int] = {}  # step id -> seq of its previous agent call
    out = []
    for step in sorted(_calls(trace, "agent_steps"), key=_seq):
        seq, step_id, component = _seq(step), step.get("step"), step.get("component")
        after = previous.get(step_id, -1)
        previous[step_id] = seq
        if _failed(step):
            continue  # no output to learn from
        mine = [
            c
            for c in inner
            if c.get("step") == step_id and after < _seq(c) < seq and c.get("component") in (component, None)
        ]
        calls, ids = [], set()
        for c in mine:
            call_id = safe_tool_name(str(c.get("call_id") or ""), f"call_{_seq(c)}")
            if call_id in ids:  # ids must be unique within an example
                call_id = f"{call_id}_{_seq(c)}"
            ids.add(call_id)
            calls.append(_tool_call(c, agent=False, call_id=call_id))
        system = step.get("system_prompt")
        prompt = step.get("prompt")
        outputs = step.get("outputs")
        out.append(
            Conversation(
                id=f"{execution_id}:{step_id}:{seq}",
                execution_id=execution_id,
                view="agent",
                scenario=trace.get("scenario"),
                mode=step.get("mode") or trace.get("mode"),
                system=system if isinstance(system, str) and system.strip() else f"You are {component}.",
                user=prompt if isinstance(prompt, str) and prompt.strip() else _json(_arguments(step)),
                calls=calls,
                final=outputs if isinstance(outputs, str) else _json(outputs),
            )
        )
    return out


def build_conversations(trace: dict[str, Any], view: str = "orchestrator") -> list[Conversation]:
    """The conversations of one trace record in ``view`` (see the module docstring).

    Args:
        trace: A trace record (``TrainingDataCollector.md``).
        view: ``orchestrator`` (one per run) or ``agent`` (one per successful agent step).

    Raises:
        ValueError: ``view`` is not one of :data:`VIEWS`.
    """
    if view == "orchestrator":
        return [_orchestrator(trace)]
    if view == "agent":
        return _agents(trace)
    raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
