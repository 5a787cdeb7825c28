"""Training-data exporters and dataset statistics for LLM-OS traces.

Input: trace records (``system/TrainingDataCollector.md``), one JSON line per run in
``workspace/datasets/traces.jsonl`` or any folder of such files, read as a stream
(:mod:`~llmos.export.reader`).

**The conversation mapping.** An example is the conversation a model would have to produce:

* ``--view orchestrator`` (default): one example per run, seen from SystemAgent. The system message
  is a short SystemAgent instruction naming the scenario and the mode; the user message is the goal
  plus the run's inputs; then, in ``seq`` order, every step call (retries included) is an assistant
  tool call (a tool step is named after its Claude Code tool, ``WebFetch``, ``Read``, ``Write`` ...,
  an agent step after its agent component, and the call's inputs are the arguments) followed by its
  result (the outputs as JSON text, or the error text of a failed call); a final assistant message
  states the outcome and the files written. An agent's inner tool calls (those with a ``call_id``)
  are its own work and stay out of this view.
* ``--view agent``: one example per successful agent step, seen from the agent: its system prompt,
  the prompt it was given, its inner tool calls with their results, and its JSON output as the final
  assistant message.

Tool definitions are built from the calls present in the example, their argument schemas inferred
from the argument values (:mod:`~llmos.export.schemas`): traces do not carry the components'
declared schemas.

**Formats** (:mod:`~llmos.export.formats`): ``seed`` (the seed document's per-run JSON), ``openai``
(chat fine-tuning JSONL), ``anthropic`` (Messages JSONL), ``sharegpt`` (LLaMA-Factory) and ``hf`` (a
folder ``datasets.load_dataset`` loads). Each format validates every record against its published
rules before writing it; an invalid record is refused, counted and reported with its id and the
rules it breaks, never written.

**Filters and cleaning**: ``mode`` and ``min_quality`` (:mod:`~llmos.export.filters`), redaction of
secrets and e-mail addresses in every string (:mod:`~llmos.export.redaction`), near-duplicate
removal with MinHash LSH (:mod:`~llmos.export.dedupe`). The output is written atomically
(:mod:`~llmos.export.writer`), and :func:`export_traces` returns an :class:`ExportSummary`.

:func:`dataset_stats` summarises a set of traces (:mod:`~llmos.export.stats`).
"""

from __future__ import annotations

from llmos.export.conversation import VIEWS, Conversation, ToolCall, build_conversations
from llmos.export.filters import MODES, RunFilter, quality_score
from llmos.export.formats import (
    FORMATS,
    Example,
    Format,
    Violation,
    get_format,
    validate_anthropic,
    validate_hf,
    validate_openai,
    validate_seed,
    validate_sharegpt,
)
from llmos.export.pipeline import ExportSummary, export_traces
from llmos.export.reader import TraceReader, is_trace
from llmos.export.redaction import Redactor
from llmos.export.stats import DatasetStats, dataset_stats

__all__ = [
    "FORMATS",
    "MODES",
    "VIEWS",
    "Conversation",
    "DatasetStats",
    "Example",
    "ExportSummary",
    "Format",
    "Redactor",
    "RunFilter",
    "ToolCall",
    "TraceReader",
    "Violation",
    "build_conversations",
    "dataset_stats",
    "export_traces",
    "get_format",
    "is_trace",
    "quality_score",
    "validate_anthropic",
    "validate_hf",
    "validate_openai",
    "validate_seed",
    "validate_sharegpt",
]
