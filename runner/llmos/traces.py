"""Training traces: one JSON record per run, appended to ``workspace/datasets/traces.jsonl``.

The record is built from the run's journal, the complete record of what happened, rather than
from in-memory bookkeeping. Its fields are listed in ``system/TrainingDataCollector.md`` and follow the
seed's trace shape (``execution_id``, ``goal``, ``tool_calls[{tool, inputs, outputs,
performance{cost_usd, duration_s, success}}]``, ``state_transitions``, ``final_outcome``,
``total_cost_usd``, ``execution_time_s``, ``quality_metrics``), with provenance (``mode``,
``source``) on every call.

Large values that the state keeps as artifact references are inlined again here (up to
:data:`TRACE_VALUE_LIMIT` characters each) so a trace line stands on its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmos._atomic import append_line
from llmos._redact import redact
from llmos.planning import plan_metrics
from llmos.state import RunState, Transition

__all__ = ["TOOL_CALL_FIELDS", "TRACE_FIELDS", "TRACE_SCHEMA_VERSION", "append_trace", "build_trace"]

TRACE_SCHEMA_VERSION = 1
#: Characters kept per inlined value; longer ones are cut and marked.
TRACE_VALUE_LIMIT = 100_000

#: Fields of a trace record, in order (TrainingDataCollector.md lists the same).
TRACE_FIELDS = (
    "schema_version",
    "execution_id",
    "scenario",
    "goal",
    "mode",
    "provider",
    "inputs",
    "started_at",
    "tool_calls",
    "agent_steps",
    "state_transitions",
    "final_outcome",
    "error",
    "human_feedback",
    "plan",
    "total_cost_usd",
    "execution_time_s",
    "quality_metrics",
)
#: Fields of one tool call or agent step in a trace.
TOOL_CALL_FIELDS = (
    "seq",
    "step",
    "component",
    "tool",
    "call_id",
    "runtime",
    "attempt",
    "inputs",
    "outputs",
    "performance",
    "error",
    "mode",
    "source",
)


def _inline(value: Any, run_dir: Path) -> Any:
    if isinstance(value, dict):
        if set(value) >= {"artifact", "chars", "sha256"}:
            path = run_dir / value["artifact"]
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                return value
            if len(text) > TRACE_VALUE_LIMIT:
                return text[:TRACE_VALUE_LIMIT] + f"\n[... {len(text) - TRACE_VALUE_LIMIT} more characters in {path}]"
            return text
        return {k: _inline(v, run_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_inline(v, run_dir) for v in value]
    return value


def _call(t: Transition, run_dir: Path, mode: str) -> dict[str, Any]:
    d = t.data
    return {
        "seq": t.seq,
        "step": t.step,
        "component": d.get("component"),
        "tool": d.get("tool"),
        "call_id": d.get("call_id"),
        "runtime": d.get("runtime", "llmos"),
        "attempt": d.get("attempt", 1),
        "inputs": _inline(d.get("inputs", {}), run_dir),
        "outputs": _inline(d.get("outputs"), run_dir) if t.target == "ok" else None,
        "performance": {
            "cost_usd": d.get("cost_usd", 0.0),
            "duration_s": d.get("duration_s", 0.0),
            "success": t.target == "ok",
        },
        "error": None if t.target == "ok" else t.detail,
        "mode": d.get("mode", mode),
        "source": d.get("source", "real"),
    }


def build_trace(state: RunState, journal: list[Transition], run_dir: Path, quality: dict[str, Any]) -> dict[str, Any]:
    """The trace record of a finished run.

    Args:
        state: The run state at the end of the run.
        journal: Every transition of the run, in order.
        run_dir: The run's folder (artifacts are read from it).
        quality: The run's quality metrics (see :mod:`llmos.quality`).

    Returns:
        A dict with exactly :data:`TRACE_FIELDS`, secrets redacted.
    """
    tool_calls = [_call(t, run_dir, state.mode) for t in journal if t.kind == "tool_call"]
    agent_steps = []
    for t in journal:
        if t.kind != "agent_call":
            continue
        call = _call(t, run_dir, state.mode)
        call["tool"] = None
        call["provider"] = t.data.get("provider")
        call["model"] = t.data.get("model")
        call["system_prompt"] = _inline(t.data.get("system_prompt"), run_dir)
        call["quality_metrics"] = t.data.get("quality_metrics")
        call["prompt"] = _inline(t.data.get("prompt"), run_dir)
        call["usage"] = t.data.get("usage")
        agent_steps.append(call)
    transitions = [
        {
            "seq": t.seq,
            "at": t.at,
            "kind": t.kind,
            "from": t.source,
            "to": t.target,
            **({"step": t.step} if t.step else {}),
        }
        for t in journal
    ]
    record = {
        "schema_version": TRACE_SCHEMA_VERSION,
        "execution_id": state.execution_id,
        "scenario": state.scenario,
        "goal": state.goal,
        "mode": state.mode,
        "provider": state.provider,
        "inputs": state.inputs,
        "started_at": state.started_at,
        "tool_calls": tool_calls,
        "agent_steps": agent_steps,
        "state_transitions": transitions,
        "final_outcome": "success" if state.error is None else "failure",
        "error": state.error,
        "human_feedback": [
            {
                "seq": t.seq,
                "at": t.at,
                "step": t.step,
                "question": t.data.get("question"),
                "action": t.data.get("action"),
                "reason": t.data.get("reason", ""),
                "by": t.data.get("by"),
            }
            for t in journal
            if t.kind == "decision"
        ],
        "plan": plan_metrics(state.planning, steps=len(state.steps), cost_usd=state.cost_usd),
        "total_cost_usd": round(state.cost_usd, 6),
        "execution_time_s": round(state.duration_s, 3),
        "quality_metrics": quality,
    }
    return redact(record)


def append_trace(path: Path, record: dict[str, Any]) -> None:
    """Append one trace record as a JSON line (durably) to ``path``."""
    append_line(path, json.dumps(record, ensure_ascii=False, default=str))
