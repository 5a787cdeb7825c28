"""Quality metrics computed from what a run actually produced (never self-reported by a model).

Defined in ``system/TrainingDataCollector.md``:

* ``step_success_rate``: completed steps / planned steps.
* ``errors``, ``retries``: failed calls and extra attempts.
* ``outputs_match_schema``: every agent output validated against its declared outputs.
* Summaries (agent outputs with a ``summary``): ``compression_ratio`` (summary words / source
  words), ``grounding`` (share of the summary's content words, four letters or more, that occur in
  the source), ``key_points`` (count).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["run_metrics", "summary_metrics"]

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def summary_metrics(source: str, summary: str, key_points: list[Any] | None = None) -> dict[str, Any]:
    """Metrics of one summary against its source text.

    Returns:
        ``{"source_words", "summary_words", "compression_ratio", "grounding", "key_points"}``;
        ratios are in [0, 1] rounded to 4 places (``compression_ratio`` may exceed 1 when the
        summary is longer than the source).
    """
    src, summ = _words(source), _words(summary)
    content = [w for w in summ if len(w) >= 4]
    vocab = set(src)
    grounded = sum(1 for w in content if w in vocab)
    return {
        "source_words": len(src),
        "summary_words": len(summ),
        "compression_ratio": round(len(summ) / len(src), 4) if src else 0.0,
        "grounding": round(grounded / len(content), 4) if content else 0.0,
        "key_points": len(key_points or []),
    }


def run_metrics(steps: list[Any], agent_metrics: dict[str, list[dict[str, Any]]], schema_ok: bool) -> dict[str, Any]:
    """The run-level metrics of a trace from its step states and per-step summary metrics."""
    planned = len(steps)
    completed = sum(1 for s in steps if s.status == "completed")
    return {
        "steps_planned": planned,
        "steps_completed": completed,
        "step_success_rate": round(completed / planned, 4) if planned else 0.0,
        "errors": sum(1 for s in steps if s.error),
        "retries": sum(max(s.attempts - 1, 0) for s in steps),
        "outputs_match_schema": schema_ok,
        "summaries": agent_metrics,
    }
