"""The seed document's per-run JSON (``execution_id``, ``goal``, ``tool_calls``, ...), one run per line.

The original LLM-OS vision (``shared/seeds/000`` and ``001``, "Training Data Generation") keeps one
JSON object per execution: ``execution_id``, ``goal``, ``tool_calls`` each with ``tool``, inputs,
outputs and ``performance`` (cost, time, success), ``state_transitions``, ``final_outcome``, total cost,
execution time and ``quality_metrics``. This format writes that object from a trace, with the
numbers as numbers (``cost_usd``, ``duration_s``, ``total_cost_usd``, ``execution_time_s``) rather
than the seed's strings (``"$0.012"``, ``"8.3s"``)::

    {"execution_id": "run-...", "goal": "...", "scenario": "...", "mode": "simulation", "inputs": {...},
     "tool_calls": [{"seq": 5, "step": "fetch", "kind": "tool", "tool": "WebFetch",
                     "component": "RealWebFetchTool", "call_id": null, "inputs": {...}, "outputs": {...},
                     "performance": {"cost_usd": 0.0, "duration_s": 0.4, "success": true},
                     "error": null, "mode": "simulation", "source": "example"}, ...],
     "state_transitions": [...], "final_outcome": "success", "error": null,
     "total_cost_usd": 0.0, "execution_time_s": 1.2, "quality_metrics": {...}}

``tool_calls`` holds every call in ``seq`` order: the tool calls (``kind: tool``, ``tool`` the
Claude Code tool), the agent steps (``kind: agent``, ``tool`` the agent component) and the calls an
agent made inside its step (``kind: tool`` with their ``call_id``). The format is per run, so only
the orchestrator view applies.

Rules :func:`validate_seed` checks: the fields above are present with their types
(``execution_id`` a non-empty string, ``final_outcome`` success or failure, costs and times
non-negative numbers, ``quality_metrics`` an object); each call has a non-empty ``tool``, object
``inputs`` and a ``performance`` object with non-negative ``cost_usd`` and ``duration_s`` and a
boolean ``success``; a successful call has no error, a failed one has an error text and no outputs;
``seq`` increases; ``mode`` and ``source`` take their documented values; a failed run names its
error and a successful one has none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from llmos.export.formats.base import Example, Format, Violation
from llmos.export.redaction import Redactor

__all__ = ["SeedFormat", "seed_record", "seed_text", "validate_seed"]

_MODES = ("execution", "simulation")
_SOURCES = ("real", "replayed", "example", "generated")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _seq(call: dict[str, Any]) -> int:
    seq = call.get("seq")
    return seq if isinstance(seq, int) else 0


def seed_record(trace: dict[str, Any]) -> dict[str, Any]:
    """The seed-shaped record of one trace (not redacted)."""
    calls = []
    tools = [(c, False) for c in trace.get("tool_calls") or [] if isinstance(c, dict)]
    agents = [(c, True) for c in trace.get("agent_steps") or [] if isinstance(c, dict)]
    for call, agent in sorted(tools + agents, key=lambda pair: _seq(pair[0])):
        raw = call.get("performance")
        perf: dict[str, Any] = raw if isinstance(raw, dict) else {}
        calls.append(
            {
                "seq": call.get("seq"),
                "step": call.get("step"),
                "kind": "agent" if agent else "tool",
                "tool": (call.get("component") if agent else call.get("tool") or call.get("component")),
                "component": call.get("component"),
                "call_id": call.get("call_id"),
                "inputs": call.get("inputs") if isinstance(call.get("inputs"), dict) else {},
                "outputs": call.get("outputs"),
                "performance": {
                    "cost_usd": perf.get("cost_usd", 0.0),
                    "duration_s": perf.get("duration_s", 0.0),
                    "success": perf.get("success", call.get("error") is None),
                },
                "error": call.get("error"),
                "mode": call.get("mode") or trace.get("mode"),
                "source": call.get("source"),
            }
        )
    return {
        "execution_id": trace.get("execution_id"),
        "goal": trace.get("goal"),
        "scenario": trace.get("scenario"),
        "mode": trace.get("mode"),
        "inputs": trace.get("inputs") or {},
        "tool_calls": calls,
        "state_transitions": trace.get("state_transitions") or [],
        "final_outcome": trace.get("final_outcome"),
        "error": trace.get("error"),
        "total_cost_usd": trace.get("total_cost_usd"),
        "execution_time_s": trace.get("execution_time_s"),
        "quality_metrics": trace.get("quality_metrics") or {},
    }


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def seed_text(record: dict[str, Any]) -> str:
    """The text of a seed record, for near-duplicate detection."""
    parts = [str(record.get("goal") or ""), _dump(record.get("inputs"))]
    for call in record.get("tool_calls") or []:
        parts += [
            str(call.get("tool")),
            _dump(call.get("inputs")),
            _dump(call.get("outputs")),
            str(call.get("error") or ""),
        ]
    parts.append(str(record.get("final_outcome")))
    return "\n".join(parts)


def _check_call(call: Any, where: str, out: list[Violation]) -> None:
    if not isinstance(call, dict):
        out.append(Violation("tool_call_type", f"{where} must be an object"))
        return
    if not isinstance(call.get("tool"), str) or not call["tool"]:
        out.append(Violation("tool_name", f"{where}.tool must be a non-empty string"))
    if not isinstance(call.get("inputs"), dict):
        out.append(Violation("tool_inputs", f"{where}.inputs must be an object"))
    perf = call.get("performance")
    if not isinstance(perf, dict):
        out.append(Violation("performance", f"{where}.performance must be an object"))
        return
    for key in ("cost_usd", "duration_s"):
        if not _number(perf.get(key)):
            out.append(Violation("performance_number", f"{where}.performance.{key} must be a non-negative number"))
    success = perf.get("success")
    if not isinstance(success, bool):
        out.append(Violation("performance_success", f"{where}.performance.success must be a boolean"))
    elif success and call.get("error") is not None:
        out.append(Violation("success_with_error", f"{where} succeeded but has an error"))
    elif not success and (not isinstance(call.get("error"), str) or call.get("outputs") is not None):
        out.append(Violation("failure_shape", f"{where} failed: it needs an error text and no outputs"))
    if call.get("mode") is not None and call["mode"] not in _MODES:
        out.append(Violation("mode", f"{where}.mode {call['mode']!r} must be execution or simulation"))
    if call.get("source") is not None and call["source"] not in _SOURCES:
        out.append(Violation("source", f"{where}.source {call['source']!r} must be one of {', '.join(_SOURCES)}"))


def validate_seed(record: Any) -> list[Violation]:
    """The rules of the module docstring that ``record`` breaks."""
    out: list[Violation] = []
    if not isinstance(record, dict):
        return [Violation("data_type", "the record must be a JSON object")]
    if not isinstance(record.get("execution_id"), str) or not record["execution_id"]:
        out.append(Violation("execution_id", "execution_id must be a non-empty string"))
    if not isinstance(record.get("goal"), str):
        out.append(Violation("goal", "goal must be a string"))
    if record.get("mode") not in _MODES:
        out.append(Violation("mode", f"mode {record.get('mode')!r} must be execution or simulation"))
    for key in ("inputs", "quality_metrics"):
        if not isinstance(record.get(key), dict):
            out.append(Violation(key, f"{key} must be an object"))
    for key in ("tool_calls", "state_transitions"):
        if not isinstance(record.get(key), list):
            out.append(Violation(key, f"{key} must be a list"))
    for key in ("total_cost_usd", "execution_time_s"):
        if not _number(record.get(key)):
            out.append(Violation(key, f"{key} must be a non-negative number"))
    outcome = record.get("final_outcome")
    if outcome not in ("success", "failure"):
        out.append(Violation("final_outcome", f"final_outcome {outcome!r} must be success or failure"))
    elif outcome == "failure" and not record.get("error"):
        out.append(Violation("failure_without_error", "a failed run must name its error"))
    elif outcome == "success" and record.get("error"):
        out.append(Violation("success_with_error", "a successful run has no error"))
    last = None
    calls = record.get("tool_calls")
    for i, call in enumerate(calls if isinstance(calls, list) else []):
        _check_call(call, f"tool_calls[{i}]", out)
        seq = call.get("seq") if isinstance(call, dict) else None
        if isinstance(seq, int):
            if last is not None and seq <= last:
                out.append(Violation("seq_order", f"tool_calls[{i}].seq {seq} does not increase"))
            last = seq
    return out


class SeedFormat(Format):
    """``--format seed``: one seed-shaped run object per line."""

    name = "seed"
    views = ("orchestrator",)

    def examples(self, trace: dict[str, Any], view: str, redactor: Redactor) -> Iterator[Example]:
        record = redactor.value(seed_record(trace))
        redactor.forget()
        yield Example(str(record.get("execution_id")), record, seed_text(record), record.get("mode"))

    def validate(self, record: dict[str, Any]) -> list[Violation]:
        return validate_seed(record)
