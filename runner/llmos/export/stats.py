"""Statistics of a set of traces: what a dataset exported from them would hold.

Counts (runs, tool calls, an agent's inner tool calls, agent steps), the mix of modes, sources
(per call: real, replayed, example, generated), scenarios and outcomes, the distribution of the
quality score (see :mod:`llmos.export.filters`), the cost and duration totals, and the size of each
example in tokens.

Tokens are **estimated**, not counted: the characters of the example's OpenAI-format JSON line
(orchestrator view, see :mod:`llmos.export.formats.openai_chat`) divided by four, rounded up. Four
characters a token is the usual rule of thumb for English text with BPE tokenizers; the exact
figure depends on the model's tokenizer (JSON punctuation and non-English text run above it). No
tokenizer is loaded: the ones that match the models need a download.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmos.export.conversation import build_conversations, is_inner_call
from llmos.export.filters import quality_score
from llmos.export.formats.openai_chat import openai_messages, openai_tools
from llmos.export.reader import TraceReader

__all__ = ["TOKEN_METHOD", "DatasetStats", "dataset_stats", "distribution", "estimate_tokens"]

#: How tokens are estimated (printed with the figures).
TOKEN_METHOD = "estimate: characters of the OpenAI-format example (orchestrator view) / 4, rounded up"
_BINS = 10


def distribution(values: list[float]) -> dict[str, Any]:
    """``count``, ``min``, ``q1``, ``median``, ``q3``, ``max`` and ``mean`` of ``values`` (``None`` when empty)."""
    if not values:
        return {"count": 0, "min": None, "q1": None, "median": None, "q3": None, "max": None, "mean": None}
    ordered = sorted(values)
    if len(ordered) > 1:
        q1, median, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = median = q3 = ordered[0]
    return {
        "count": len(ordered),
        "min": ordered[0],
        "q1": round(q1, 4),
        "median": round(median, 4),
        "q3": round(q3, 4),
        "max": ordered[-1],
        "mean": round(statistics.fmean(ordered), 4),
    }


def _histogram(scores: list[float]) -> list[dict[str, Any]]:
    counts = [0] * _BINS
    for score in scores:
        counts[min(_BINS - 1, max(0, int(score * _BINS)))] += 1
    return [{"from": i / _BINS, "to": (i + 1) / _BINS, "count": n} for i, n in enumerate(counts)]


@dataclass
class DatasetStats:
    """Statistics of the traces found in :attr:`inputs` (see the module docstring).

    Attributes:
        inputs: The paths read.
        files: Trace files read.
        runs: Trace records.
        lines_skipped: Lines that were not trace records.
        warnings: ``file:line: reason`` of the first skipped lines.
        tool_calls: The orchestrator's tool calls (retries included).
        inner_tool_calls: Tool calls agents made inside their steps.
        agent_steps: Agent calls.
        modes: Runs per mode.
        sources: Calls (all three kinds) per source.
        scenarios: Runs per scenario.
        outcomes: Runs per final outcome.
        quality: :func:`distribution` of the runs' quality scores plus ``missing`` (runs without one)
            and ``histogram`` (ten bins of width 0.1 over [0, 1]).
        tokens: :func:`distribution` of estimated tokens per example, plus ``total`` and ``method``.
        cost_usd: Total cost of the runs in US dollars.
        duration_s: Total duration of the runs in seconds.
    """

    inputs: list[str]
    files: int = 0
    runs: int = 0
    lines_skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    tool_calls: int = 0
    inner_tool_calls: int = 0
    agent_steps: int = 0
    modes: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    scenarios: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, Any] = field(default_factory=dict)
    cost_usd: float = 0.0
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The statistics as a JSON-ready dict."""
        return asdict(self)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def estimate_tokens(trace: dict[str, Any]) -> int:
    """Estimated tokens of the trace's orchestrator-view OpenAI example (see the module docstring)."""
    [conv] = build_conversations(trace, "orchestrator")
    line = json.dumps({"messages": openai_messages(conv), "tools": openai_tools(conv)}, ensure_ascii=False)
    return math.ceil(len(line) / 4)


def dataset_stats(paths: Iterable[str | Path]) -> DatasetStats:
    """The statistics of the trace records found in ``paths`` (files or folders, read as a stream).

    Raises:
        FileNotFoundError: A path does not exist.
    """
    inputs = [str(p) for p in paths]
    reader = TraceReader(inputs)
    modes: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    scenarios: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    scores: list[float] = []
    tokens: list[float] = []
    out = DatasetStats(inputs=inputs)
    missing = 0
    for _origin, trace in reader:
        modes[str(trace.get("mode"))] += 1
        scenarios[str(trace.get("scenario"))] += 1
        outcomes[str(trace.get("final_outcome"))] += 1
        for call in trace.get("tool_calls") or []:
            if isinstance(call, dict):
                if is_inner_call(call):
                    out.inner_tool_calls += 1
                else:
                    out.tool_calls += 1
                sources[str(call.get("source"))] += 1
        for step in trace.get("agent_steps") or []:
            if isinstance(step, dict):
                out.agent_steps += 1
                sources[str(step.get("source"))] += 1
        score = quality_score(trace)
        if score is None:
            missing += 1
        else:
            scores.append(score)
        tokens.append(estimate_tokens(trace))
        out.cost_usd += _number(trace.get("total_cost_usd"))
        out.duration_s += _number(trace.get("execution_time_s"))
    out.files, out.runs, out.lines_skipped = reader.files, reader.records, reader.skipped
    out.warnings = list(reader.warnings)
    out.modes, out.sources = dict(modes.most_common()), dict(sources.most_common())
    out.scenarios, out.outcomes = dict(scenarios.most_common()), dict(outcomes.most_common())
    out.quality = {**distribution(scores), "missing": missing, "histogram": _histogram(scores)}
    out.tokens = {**distribution(tokens), "total": int(sum(tokens)), "method": TOKEN_METHOD}
    out.cost_usd, out.duration_s = round(out.cost_usd, 6), round(out.duration_s, 3)
    return out
