"""SmartMemory: the append-only experience log in ``system/SmartMemory.md``.

Each run adds one entry under ``## Experiences``: a level-3 heading
(``### <execution_id> · <outcome> · <scenario>``) followed by a fenced ``yaml`` block with the
structured fields (:class:`MemoryEntry`). People read the headings; tools read the YAML.

Appends are atomic and serialised: a file lock (filelock) around read, append, and an atomic
rename, so two runs finishing at once both land and a crash leaves the old file whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmos._atomic import atomic_write_text
from llmos._redact import redact
from llmos.documents import load_document
from llmos.exceptions import DocumentError

__all__ = ["MemoryEntry", "append_entry", "load_entries"]

EXPERIENCES = "## Experiences"


@dataclass(kw_only=True)
class MemoryEntry:
    """One experience: what a run tried, what happened and what it teaches.

    Attributes:
        id: The run's execution id.
        time: UTC ISO time the run ended.
        goal: The run's goal.
        scenario: Scenario name.
        mode: ``execution`` or ``simulation``.
        provider: Who answered agent steps.
        outcome: ``completed`` or ``failed``.
        cost_usd: US dollars spent.
        duration_s: Seconds the run took.
        components: Components used, in order of first use.
        errors: ``"<step>: <message>"`` for each failed call.
        recovery: Actions taken after errors (retries, skips).
        lessons: Factual notes for the next plan, derived from the run (never invented).
    """

    id: str
    time: str
    goal: str
    scenario: str
    mode: str
    provider: str
    outcome: str
    cost_usd: float
    duration_s: float
    components: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    recovery: list[str] = field(default_factory=list)
    lessons: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        """The entry as it appears in SmartMemory.md: heading plus fenced YAML."""
        data = redact(asdict(self))
        body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
        return f"### {self.id} · {self.outcome} · {self.scenario}\n\n```yaml\n{body}```\n"


def load_entries(path: str | Path) -> list[MemoryEntry]:
    """Every experience in a SmartMemory.md, oldest first.

    Raises:
        DocumentError: An entry's YAML is malformed or lacks fields (with its line).
    """
    doc = load_document(path)
    entries: list[MemoryEntry] = []
    for section in doc.sections:
        if section.level != 3:
            continue
        for block in section.code_blocks[:1]:
            try:
                data = yaml.safe_load(block.code)
                entries.append(MemoryEntry(**data))
            except (yaml.YAMLError, TypeError) as exc:
                raise DocumentError(f"malformed memory entry: {exc}", path=doc.path, line=block.line) from None
    return entries


def append_entry(path: str | Path, entry: MemoryEntry) -> None:
    """Append one entry to SmartMemory.md atomically (creating the file and section if needed).

    An entry whose id is already there is not added again.

    Raises:
        OSError: The file cannot be written; the old content is kept.
    """
    from filelock import FileLock

    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(file) + ".lock", timeout=60):
        text = (
            file.read_text(encoding="utf-8")
            if file.exists()
            else ("---\nname: SmartMemory\nkind: memory\n---\n\n# SmartMemory\n")
        )
        if f"\n### {entry.id} · " in text:
            return  # already recorded (a resumed run ending a second time)
        if EXPERIENCES not in text:
            text = text.rstrip("\n") + f"\n\n{EXPERIENCES}\n"
        atomic_write_text(file, text.rstrip("\n") + "\n\n" + entry.to_markdown())


def lessons_from(state_steps: list[Any], outcome: str, duration_s: float, cost_usd: float) -> list[str]:
    """Factual lessons from a run's step states: failures, retries and the successful path."""
    lessons: list[str] = []
    for step in state_steps:
        if step.status == "failed" and step.error:
            lessons.append(
                f"{step.component} ({step.tool or step.kind}) failed in step {step.id}: "
                f"{step.error.splitlines()[0][:200]}"
            )
        elif step.attempts > 1 and step.status == "completed":
            lessons.append(f"{step.component} in step {step.id} succeeded after {step.attempts} attempts")
        elif step.status == "skipped":
            lessons.append(f"step {step.id} ({step.component}) was skipped after an error")
    if outcome == "completed":
        names = [f"{s.component}" + (f".{s.tool}" if s.tool else "") for s in state_steps]
        if len(names) > 12:
            names = [*names[:6], f"... ({len(names) - 12} more)", *names[-6:]]
        chain = " -> ".join(names)
        lessons.append(f"{chain} completed in {duration_s:.1f} s for ${cost_usd:.4f}")
    return lessons
