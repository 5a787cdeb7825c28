"""Quality metrics computed from what a run actually produced (never self-reported by a model).

Defined in ``system/TrainingDataCollector.md``:

* ``step_success_rate``: completed steps / planned steps.
* ``errors``, ``retries``: failed steps and extra attempts.
* ``cost_usd``, ``duration_s``: US dollars and seconds spent in the steps.
* ``outputs_match_schema``: every agent output validated against its declared outputs.
* Summaries (agent outputs with a ``summary``):

  * ``compression_ratio``: summary words / source words;
  * ``grounding``: the share of the summary's sentences and key points that the source supports
    lexically: a sentence is supported when its ROUGE-L precision against some window of up to
    :data:`WINDOW` consecutive source sentences is at least :data:`SUPPORTED` (the longest common
    subsequence of content words, those of four letters or more, over the sentence's content
    words; computed with rapidfuzz's LCSseq);
  * ``word_overlap``: the share of the summary's content words that occur anywhere in the source;
  * ``key_points``: how many there are.

* ``score``: one number in [0, 1] for filtering exports: ``step_success_rate`` × (1 if
  ``outputs_match_schema`` else 0) × the mean ``grounding`` of the run's summaries (1 when it has
  none).
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["SUPPORTED", "WINDOW", "grounding", "run_metrics", "summary_metrics"]

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
# Sentence ends: . ! ? followed by space, or line breaks (lists, headings, table rows).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")

#: ROUGE-L precision at which a summary sentence counts as supported by a source window.
SUPPORTED = 0.5
#: Consecutive source sentences a summary sentence may draw on (one sentence may fuse a few).
WINDOW = 3


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _content(text: str) -> list[str]:
    return [w for w in _words(text) if len(w) >= 4]


def _sentences(text: str) -> list[list[str]]:
    """Content words of each sentence of ``text`` (sentences without any are dropped)."""
    return [words for part in _SENTENCE_END.split(text) if (words := _content(part))]


def grounding(source: str, claims: list[str]) -> float:
    """The share of ``claims`` (sentences) the source supports: ROUGE-L precision of the claim's
    content words against a window of up to :data:`WINDOW` source sentences, at least :data:`SUPPORTED`.

    Returns:
        A ratio in [0, 1], rounded to 4 places; 0.0 when there are no claims with content words.
    """
    from rapidfuzz.distance import LCSseq

    claim_words = [words for claim in claims for words in _sentences(claim)]
    if not claim_words:
        return 0.0
    source_sentences = _sentences(source)
    windows = [
        [w for sentence in source_sentences[i : i + WINDOW] for w in sentence]
        for i in range(max(len(source_sentences) - WINDOW + 1, 1))
    ]
    vocab = set(_content(source))
    supported = 0
    for words in claim_words:
        needed = math.ceil(SUPPORTED * len(words))
        if sum(1 for w in words if w in vocab) < needed:  # cannot reach the threshold: skip the LCS
            continue
        if any(LCSseq.similarity(words, window, score_cutoff=needed) for window in windows):
            supported += 1
    return round(supported / len(claim_words), 4)


def summary_metrics(source: str, summary: str, key_points: list[Any] | None = None) -> dict[str, Any]:
    """Metrics of one summary against its source text.

    Returns:
        ``{"source_words", "summary_words", "compression_ratio", "grounding", "word_overlap",
        "key_points"}``; ratios are in [0, 1] rounded to 4 places (``compression_ratio`` may exceed
        1 when the summary is longer than the source).
    """
    src, summ = _words(source), _words(summary)
    content = [w for w in summ if len(w) >= 4]
    vocab = set(src)
    overlap = sum(1 for w in content if w in vocab)
    points = [str(p) for p in key_points or []]
    return {
        "source_words": len(src),
        "summary_words": len(summ),
        "compression_ratio": round(len(summ) / len(src), 4) if src else 0.0,
        "grounding": grounding(source, [summary, *points]),
        "word_overlap": round(overlap / len(content), 4) if content else 0.0,
        "key_points": len(points),
    }


def run_metrics(steps: list[Any], agent_metrics: dict[str, list[dict[str, Any]]], schema_ok: bool) -> dict[str, Any]:
    """The run-level metrics of a trace from its step states and per-step summary metrics."""
    planned = len(steps)
    completed = sum(1 for s in steps if s.status == "completed")
    success = round(completed / planned, 4) if planned else 0.0
    groundings = [m["grounding"] for metrics in agent_metrics.values() for m in metrics]
    mean_grounding = sum(groundings) / len(groundings) if groundings else 1.0
    return {
        "steps_planned": planned,
        "steps_completed": completed,
        "step_success_rate": success,
        "errors": sum(1 for s in steps if s.error),
        "retries": sum(max(s.attempts - 1, 0) for s in steps),
        "cost_usd": round(sum(s.cost_usd for s in steps), 6),
        "duration_s": round(sum(s.duration_s for s in steps), 3),
        "outputs_match_schema": schema_ok,
        "summaries": agent_metrics,
        "score": round(success * (1.0 if schema_ok else 0.0) * mean_grounding, 4),
    }
