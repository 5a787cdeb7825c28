"""A Hugging Face dataset folder: ``data/train.jsonl`` and a ``README.md`` dataset card.

``datasets.load_dataset(FOLDER)`` loads it (the card's YAML header names the data file under
``configs`` and declares the column types under ``dataset_info.features``, as the Hub's dataset
card documentation describes). One row per example::

    {"id": "run-...", "execution_id": "run-...", "scenario": "...", "mode": "simulation",
     "messages": [{"role": "system", "content": "...", "tool_calls": null, "tool_call_id": null}, ...],
     "tools": "[{\\"type\\": \\"function\\", \\"function\\": {...}}]"}

``messages`` are OpenAI chat messages (see :mod:`llmos.export.formats.openai_chat`) with the same
four keys in every message, ``null`` where unused, and tool-call ``arguments`` as JSON text: an
Arrow column needs one type per field. ``tools`` is the JSON text of the OpenAI tool list, because
each tool's JSON Schema has its own keys, which one Arrow struct type cannot hold without merging
them all; ``json.loads`` it before ``tokenizer.apply_chat_template(messages, tools=...)``.

Rules :func:`validate_hf` checks: ``id`` a non-empty string; ``tools`` JSON text of a list;
``messages`` a list of objects with exactly the four keys; and, with the ``null`` keys dropped and
``tools`` parsed, every rule of :func:`~llmos.export.formats.openai_chat.validate_openai`.
"""

from __future__ import annotations

import json
from typing import Any

from llmos.export.conversation import Conversation
from llmos.export.formats.base import ConversationFormat, Violation
from llmos.export.formats.openai_chat import openai_messages, openai_tools, validate_openai

__all__ = ["DATA_FILE", "HFFormat", "dataset_card", "validate_hf"]

#: The data file inside the folder.
DATA_FILE = "data/train.jsonl"
_KEYS = ("role", "content", "tool_calls", "tool_call_id")
_COLUMNS = ("id", "execution_id", "scenario", "mode", "messages", "tools")

_CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: {data_file}
dataset_info:
  features:
  - name: id
    dtype: string
  - name: execution_id
    dtype: string
  - name: scenario
    dtype: string
  - name: mode
    dtype: string
  - name: messages
    list:
    - name: role
      dtype: string
    - name: content
      dtype: string
    - name: tool_calls
      list:
      - name: id
        dtype: string
      - name: type
        dtype: string
      - name: function
        struct:
        - name: name
          dtype: string
        - name: arguments
          dtype: string
    - name: tool_call_id
      dtype: string
  - name: tools
    dtype: string
tags:
- llmos
- tool-use
- agent-traces
---

# LLM-OS traces ({view} view)

{count} training examples exported by `llmos export --format hf` from LLM-OS run traces
(`system/TrainingDataCollector.md`), one per {unit}.

Columns:

- `id`, `execution_id`, `scenario`, `mode` (execution or simulation): where the example comes from;
- `messages`: OpenAI-style chat messages (`role`, `content`, `tool_calls`, `tool_call_id`; null
  where unused); tool-call `arguments` are JSON text;
- `tools`: JSON text of the OpenAI tool definitions (`json.loads` it before passing it to
  `apply_chat_template`); argument schemas are inferred from the calls in the example.

```python
import json, datasets
ds = datasets.load_dataset("path/to/this/folder", split="train")
row = ds[0]
tools = json.loads(row["tools"])
```

Secrets and e-mail addresses were redacted; {dedupe}.
"""


def dataset_card(count: int, view: str, *, deduplicated: bool = True) -> str:
    """The README.md of an export of ``count`` examples in ``view``."""
    unit = "run" if view == "orchestrator" else "agent step"
    dedupe = "near-duplicates were removed" if deduplicated else "near-duplicates were kept"
    return _CARD.format(data_file=DATA_FILE, count=count, view=view, unit=unit, dedupe=dedupe)


def validate_hf(record: Any) -> list[Violation]:
    """The rules of the module docstring that ``record`` breaks."""
    if not isinstance(record, dict):
        return [Violation("data_type", "the record must be a JSON object")]
    out: list[Violation] = []
    missing = [c for c in _COLUMNS if c not in record]
    if missing:
        out.append(Violation("missing_column", f"missing column(s): {', '.join(missing)}"))
    extra = set(record) - set(_COLUMNS)
    if extra:
        out.append(Violation("unrecognized_column", f"unknown column(s): {', '.join(sorted(extra))}"))
    if not isinstance(record.get("id"), str) or not record["id"]:
        out.append(Violation("id", "id must be a non-empty string"))
    tools: Any = []
    if not isinstance(record.get("tools"), str):
        out.append(Violation("tools_type", "tools must be the JSON text of the tool list"))
    else:
        try:
            tools = json.loads(record["tools"])
        except ValueError as exc:
            out.append(Violation("tools_json", f"tools is not JSON: {exc}"))
    messages = record.get("messages")
    plain: Any = messages
    if isinstance(messages, list):
        plain = []
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or set(msg) != set(_KEYS):
                out.append(Violation("message_keys", f"messages[{i}] must have exactly the keys {', '.join(_KEYS)}"))
            plain.append({k: v for k, v in msg.items() if v is not None} if isinstance(msg, dict) else msg)
    return out + validate_openai({"messages": plain, "tools": tools})


class HFFormat(ConversationFormat):
    """``--format hf``: a dataset folder (see the module docstring)."""

    name = "hf"
    folder = True

    def render(self, conv: Conversation) -> dict[str, Any]:
        return {
            "id": conv.id,
            "execution_id": conv.execution_id,
            "scenario": conv.scenario,
            "mode": conv.mode,
            "messages": openai_messages(conv, uniform=True),
            "tools": json.dumps(openai_tools(conv), ensure_ascii=False),
        }

    def validate(self, record: dict[str, Any]) -> list[Violation]:
        return validate_hf(record)
