"""The ``scripted`` provider: deterministic answers for tests, demos and docs.

With a script file (``--script FILE``, YAML or JSON), answers come from the script; without one,
each agent step gets a schema-valid placeholder built from the agent's declared outputs (like
pydantic-ai's ``TestModel``).

Script format: a list of answers (or ``{"answers": [...]}``). Each answer may name the ``step``
and/or ``agent`` it answers, and gives ``output`` (a mapping, the structured output), ``text``
(the raw reply, parsed as JSON when the agent declares outputs) or ``tool_calls`` (calls the
runner's agent loop makes with its own tools before asking again; see
:mod:`llmos.agent_loop`). ``cost_usd``, ``model`` and ``source`` are optional. Each model turn
takes the first unused answer that matches its step::

    - step: report
      tool_calls:
        - {name: Write, input: {file_path: report.md, content: "# Report"}}
        - {name: Bash, input: {command: "wc -c report.md"}}
    - step: report
      output: {summary: "...", key_points: ["..."]}
    - agent: RealSummarizationAgent
      text: '{"summary": "...", "key_points": []}'

A tool call is ``{name, input}`` with Claude Code's tool and input names, and an optional ``id``
(default ``call_N``, numbered over the provider's life so that ids stay unique within a run).

Answers are labelled ``source: generated`` unless the script says otherwise: they are not the
words of a model.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import yaml

from llmos.exceptions import DocumentError, ProviderError
from llmos.providers.base import (
    AgentRequest,
    AgentResponse,
    Provider,
    ToolCall,
    ToolCallHooks,
    parse_json_reply,
    validate_output,
)

__all__ = ["ScriptedProvider", "placeholder"]

# Parsed scripts by (resolved path, mtime_ns, size): see ScriptedProvider._load_cached.
_SCRIPTS: dict[tuple[str, int, int], list[dict[str, Any]]] = {}


def placeholder(schema: dict[str, Any], name: str = "value") -> Any:
    """A value valid against a JSON Schema fragment, built from its type and bounds.

    Strings honour ``enum``, ``minLength`` and ``maxLength``; arrays honour ``minItems`` (at least
    one item); numbers honour ``minimum``; objects fill every declared property.
    """
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "string")
    if kind == "string":
        text = f"placeholder {name}"
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        while len(text) < low:
            text += f" {name}"
        return text[: int(high)] if high is not None else text
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0.0))
    if kind == "boolean":
        return False
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 1)
        if schema.get("maxItems") is not None:
            count = min(count, int(schema["maxItems"]))
        return [placeholder(schema.get("items", {"type": "string"}), f"{name} {i + 1}") for i in range(count)]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: placeholder(v, k) for k, v in props.items()}
    return None


class ScriptedProvider(Provider):
    """Answers from a script file, or schema-valid placeholders.

    Args:
        script: Path of the script file, or ``None`` for placeholders.

    Raises:
        DocumentError: The script file is unreadable or not a list of answers (naming the file).
    """

    name = "scripted"

    def __init__(self, script: str | Path | None = None) -> None:
        self.script = Path(script) if script else None
        self._answers: list[dict[str, Any]] = []
        self._used: set[int] = set()
        self._lock = threading.Lock()
        self._calls = 0
        #: Every request answered, in order (tests assert on the prompts an agent received).
        self.requests: list[AgentRequest] = []
        if self.script is not None:
            self._answers = self._load_cached(self.script)

    @classmethod
    def _load_cached(cls, path: Path) -> list[dict[str, Any]]:
        """:meth:`_load`, parsed once per process while the file stays the same (a simulation batch
        makes one provider per run); each provider gets its own copy of the answers."""
        try:
            info = path.stat()
            key = (str(path.resolve()), info.st_mtime_ns, info.st_size)
        except OSError:
            return cls._load(path)  # the error message comes from _load
        answers = _SCRIPTS.get(key)
        if answers is None:
            answers = cls._load(path)
            if len(_SCRIPTS) >= 16:
                _SCRIPTS.clear()
            _SCRIPTS[key] = answers
        return copy.deepcopy(answers)

    @staticmethod
    def _load(path: Path) -> list[dict[str, Any]]:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DocumentError(f"cannot read the script: {exc.strerror}", path=path) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise DocumentError(
                f"script is not valid YAML/JSON: {getattr(exc, 'problem', exc)}",
                path=path,
                line=mark.line + 1 if mark else None,
            ) from None
        if isinstance(data, dict) and "answers" in data:
            data = data["answers"]
        if not isinstance(data, list) or not all(isinstance(a, dict) for a in data):
            raise DocumentError("a script is a list of answers (mappings)", path=path, line=1)
        for index, answer in enumerate(data):
            if not {"output", "text", "tool_calls"} & set(answer):
                raise DocumentError(f"answer {index + 1} needs 'output', 'text' or 'tool_calls'", path=path)
            calls = answer.get("tool_calls", [])
            if not isinstance(calls, list) or not all(
                isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("input", {}), dict)
                for c in calls
            ):
                raise DocumentError(
                    f"answer {index + 1}: tool_calls is a list of {{name: TOOL, input: {{...}}}} mappings", path=path
                )
        return data

    def describe(self) -> str:
        return f"scripted ({self.script})" if self.script else "scripted (placeholders)"

    def _take(self, request: AgentRequest) -> dict[str, Any] | None:
        with self._lock:
            for index, answer in enumerate(self._answers):
                if index in self._used:
                    continue
                if answer.get("step") not in (None, request.step) or answer.get("agent") not in (None, request.agent):
                    continue
                self._used.add(index)
                return answer
        return None

    def complete(self, request: AgentRequest, *, hooks: ToolCallHooks | None = None) -> AgentResponse:
        with self._lock:
            self.requests.append(request)
        if self.script is None:
            output = (
                placeholder(request.output_schema, request.agent)
                if request.output_schema
                else {"text": f"placeholder answer of {request.agent}"}
            )
            return AgentResponse(
                output=output,
                text=json.dumps(output),
                provider=self.name,
                model="placeholder",
                source="generated",
                notes=["placeholder built from the agent's declared outputs"],
            )
        answer = self._take(request)
        if answer is None:
            raise ProviderError(
                f"the script {self.script} has no answer left for this step", provider=self.name, step=request.step
            )
        model = str(answer.get("model", "script"))
        if answer.get("tool_calls"):
            calls = []
            for call in answer["tool_calls"]:
                with self._lock:
                    self._calls += 1
                    default_id = f"call_{self._calls}"
                calls.append(
                    ToolCall(id=str(call.get("id") or default_id), name=call["name"], input=call.get("input", {}))
                )
            return AgentResponse(
                output={},
                text=str(answer.get("text", "")),
                provider=self.name,
                model=model,
                source=str(answer.get("source", "generated")),
                cost_usd=float(answer.get("cost_usd", 0.0)),
                tool_calls=calls,
            )
        if "output" in answer:
            output = answer["output"]
            text = json.dumps(output, ensure_ascii=False)
            if not isinstance(output, dict):
                raise ProviderError("script answer 'output' must be a mapping", provider=self.name, step=request.step)
        else:
            text = str(answer["text"])
            output = (
                parse_json_reply(text, provider=self.name, step=request.step)
                if request.output_schema
                else {"text": text}
            )
        validate_output(output, request.output_schema, provider=self.name, step=request.step)
        return AgentResponse(
            output=output,
            text=text,
            provider=self.name,
            model=model,
            source=str(answer.get("source", "generated")),
            cost_usd=float(answer.get("cost_usd", 0.0)),
        )
