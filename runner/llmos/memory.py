"""SmartMemory: the append-only experience log in ``system/SmartMemory.md``, and retrieval from it.

Format. Each run adds one entry under ``## Experiences``: a level-3 heading
(``### <execution_id> · <outcome> · <scenario>``) followed by a fenced ``yaml`` block with the
structured fields (:class:`MemoryEntry`). People read the headings; tools read the YAML.

Appending (:func:`append_entry`). Appenders take a file lock (filelock, ``SmartMemory.md.lock``)
and, under it, check that the id is not recorded yet and append the entry in place with one
``write`` and an ``fsync`` (O(entry), not O(file): the file is not rewritten). So two runs finishing
at once both land, one after the other, and a crash can only cut short the entry being written:
the entries before it are never touched. Readers leave such a torn last entry out with a
:class:`RuntimeWarning` naming its line (after waiting for the lock, in case it is being written),
and the next append cuts it off before writing. Creating the file, or adding a missing
``## Experiences`` section, is an atomic rewrite (temporary file, fsync, rename).

Reading (:func:`load_entries`). Entries are found without the Markdown parser: one regular
expression over the file for ATX headings and fenced blocks (an entry is the first fenced block
under a level-3 heading, as :mod:`llmos._markdown` sees it; setext headings, and fences inside
lists or quotes, are not told apart, and the runner writes neither), and each block is loaded
with libyaml's C loader. 10,000 entries (5.8 MB) load in about 0.9 s; through the document parser
(mistune) they took 40 s. The front matter is still checked by the document parser.

Retrieval (:func:`search_memory`). Entries are ranked by BM25 (Lucene variant, k1 = 1.5,
b = 0.75) with bm25s, over this text of each entry: goal, scenario, outcome, components, errors,
recovery and lessons. Tokens are lower-cased words of two characters or more, without English
stop words, Snowball-stemmed (PyStemmer); identifiers also give their parts
(``RealWebFetchTool``: ``realwebfetchtool``, ``real``, ``web``, ``fetch``, ``tool``). Why bm25s:
it is maintained (releases through 2026), pure Python over numpy (no compiler, no server), scores
a query against 10,000 entries in well under a millisecond from precomputed sparse matrices, and
ships the stemmer as its ``stem`` extra; rank-bm25, the classic, has had no release since 2022
and walks every document in Python for each query term; tantivy is a full search engine with its own
on-disk format, more than a few thousand short entries need.

The index. Building it means parsing every entry (about 1.2 s for 10,000), so it is kept:

* in this process, per file, reused while the file's ``(st_ino, st_size, st_mtime_ns)`` is
  unchanged (a query then costs a ``stat``, the scoring and the YAML of the entries returned:
  well under 1 ms at 10,000 entries);
* on disk, in ``.SmartMemory.md.index.npz`` beside the file (numpy's uncompressed archive: the
  bm25s score matrix, each entry's token ids and byte span, the vocabulary, and the SHA-256 of
  the text indexed), written atomically (temporary file renamed over it). A new process loads it
  and checks it against the file's content by SHA-256: its first search takes about 40 ms at
  10,000 entries, plus about 0.2 s to import numpy, bm25s and PyStemmer;
* when the file only grew (appends: its text up to the last entry indexed is unchanged), only the
  new entries are parsed, and the BM25 matrix is rebuilt from the stored token ids (about 0.2 s
  at 10,000). Any other change (an edited or removed entry) rebuilds it all. A cache of another
  format or bm25s version is ignored and replaced; one that cannot be written is skipped.

Figures: ``python benchmarks/memory_search.py``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmos._atomic import atomic_write_text
from llmos._redact import redact
from llmos.exceptions import DocumentError

__all__ = ["MemoryEntry", "MemoryHit", "append_entry", "load_entries", "search_memory"]

EXPERIENCES = "## Experiences"
_NEW_FILE = "---\nname: SmartMemory\nkind: memory\n---\n\n# SmartMemory\n"


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


@dataclass(frozen=True, kw_only=True)
class MemoryHit:
    """One experience found by :func:`search_memory`.

    Attributes:
        entry: The experience.
        score: Its BM25 score for the query (positive; higher is more relevant; comparable only
            within one query on one file).
        rank: 1 for the best hit, then 2, 3 ...
    """

    entry: MemoryEntry
    score: float
    rank: int

    def to_dict(self) -> dict[str, Any]:
        """``{"rank", "score", "entry": {...the entry's fields}}``, for JSON."""
        return {"rank": self.rank, "score": round(self.score, 4), "entry": asdict(self.entry)}


def load_entries(path: str | Path) -> list[MemoryEntry]:
    """Every experience in a SmartMemory.md, oldest first.

    A last entry cut short by a crash mid-append is left out with a :class:`RuntimeWarning`.

    Raises:
        DocumentError: The file is missing, unreadable or not UTF-8, its front matter is
            malformed, or an entry's YAML is malformed or lacks fields (at the line of the
            entry's opening fence).
    """
    from llmos import _memory_index as index

    file = Path(path)
    try:
        raw, found = index.snapshot(file)
    except FileNotFoundError:
        raise DocumentError("no such document", path=file) from None
    except OSError as exc:
        raise DocumentError(f"cannot read: {exc.strerror}", path=file) from None
    index.check_utf8(raw, file)
    index.check_front_matter(raw, file, found.spans)
    return [index.parse_entry(raw, span, file) for span in found.spans]


def search_memory(path: str | Path, query: str, *, limit: int = 5) -> list[MemoryHit]:
    """The experiences most relevant to ``query`` (a goal, an error), best first.

    Ranked by BM25 over each entry's goal, scenario, outcome, components, errors, recovery and
    lessons (see the module docstring); entries sharing no term with the query are not returned,
    and ties go to the newer entry. The index is reused while the file is unchanged and caught up
    when entries were appended (in this process and through ``.SmartMemory.md.index.npz``).

    Args:
        path: The SmartMemory.md.
        query: Free text; only its words count.
        limit: At most this many hits (at least 1).

    Returns:
        Up to ``limit`` hits; empty when nothing matches or there is no such file.

    Raises:
        ValueError: ``limit`` is below 1.
        DocumentError: The file is not UTF-8 or an entry is malformed (at its line).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    from llmos import _memory_index as index

    file = Path(path)
    found = index.get_index(file)
    if found is None:
        return []
    return [
        MemoryHit(entry=found.entry(number, file), score=score, rank=rank)
        for rank, (number, score) in enumerate(found.top(query, limit), 1)
    ]


def append_entry(path: str | Path, entry: MemoryEntry) -> None:
    """Append one entry to SmartMemory.md (creating the file and section if needed).

    Under the file lock: a torn last entry (a crash mid-append) is cut off, an entry whose id is
    already there is not added again, and the entry is appended in place with one ``write``
    followed by ``fsync``. Safe with several processes appending at once.

    Raises:
        OSError: The file cannot be written (or the lock not taken within 60 s); the entries
            already there are kept (an entry written in part is cut off by the next append).
    """
    from filelock import FileLock

    from llmos import _memory_index as index

    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(index.lock_path(file)), timeout=60):
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            atomic_write_text(file, f"{_NEW_FILE}\n{EXPERIENCES}\n\n{entry.to_markdown()}")
            return
        torn = index.torn_tail(raw)
        if torn is not None:
            _truncate(file, torn)
            raw = raw[:torn]
        if f"\n### {entry.id} · ".encode() in raw:
            return  # already recorded (a resumed run ending a second time)
        if EXPERIENCES.encode() not in raw:
            text = raw.decode("utf-8").rstrip("\n") + f"\n\n{EXPERIENCES}\n\n{entry.to_markdown()}"
            atomic_write_text(file, text)
            return
        newlines = len(raw) - len(raw.rstrip(b"\n"))
        data = b"\n" * max(0, 2 - newlines) + entry.to_markdown().encode("utf-8")
        fd = os.open(file, os.O_WRONLY | os.O_APPEND)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)


def _truncate(file: Path, size: int) -> None:
    """Cut ``file`` to ``size`` bytes, durably."""
    fd = os.open(file, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


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
