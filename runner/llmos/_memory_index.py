"""SmartMemory's fast reader and BM25 index (private: the public face is :mod:`llmos.memory`).

Three parts:

* :func:`scan` finds the entries of a SmartMemory.md in its bytes without a Markdown parser: ATX
  headings and fenced code blocks, line by line (one regular expression over the file), the way
  :func:`llmos._markdown.parse_sections` sees them for files the runner writes. An entry is the
  first fenced block under a level-3 heading. A last entry cut short by a crash mid-append is
  reported as ``torn`` rather than read.
* :func:`parse_entry` loads one entry's YAML with libyaml's C loader when PyYAML has it (ten times
  the pure-Python loader: 10,000 entries in about 0.8 s instead of 7 s).
* :class:`Index`: every entry's token ids, the bm25s index over them, the file's bytes and where
  each entry's YAML lies, so a query parses only the entries it returns. :func:`get_index` keeps
  one per file in this process, keyed on ``(st_ino, st_size, st_mtime_ns)``, and one on disk
  beside the file (:func:`cache_path`), checked against the file's content by SHA-256. When the
  file only grew (appends), the index catches up from its last heading instead of starting over.

numpy, bm25s and PyStemmer are imported inside the functions that need them, so
``import llmos.memory`` (which the engine does at the end of every run) stays light.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml

from llmos._atomic import atomic_write_bytes
from llmos.exceptions import DocumentError
from llmos.memory import MemoryEntry

if TYPE_CHECKING:
    import numpy as np

#: Bumped whenever the tokenizer, the index text or the file layout changes: older caches are rebuilt.
FORMAT = 1
#: BM25 parameters (Lucene's variant of the scoring, bm25s's default).
K1, B, METHOD = 1.5, 0.75, "lucene"

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# A heading (1-6 '#', then a blank or the line's end) or a fence (3+ backticks or tildes), each
# indented at most 3 spaces: the CommonMark rules for the two block kinds that matter here.
_BLOCK = rb" {0,3}(?:(#{1,6})(?=[ \t\r\n]|\Z)|(`{3,}|~{3,}))"
_AT_LINE = re.compile(_BLOCK)
_AFTER_NEWLINE = re.compile(rb"\n" + _BLOCK)
_FRONT_MATTER = re.compile(rb"^-{3,}\s*$", re.MULTILINE)  # python-frontmatter's boundary
_ENTRY_MARK = " · ".encode()


class Span(NamedTuple):
    """Where one entry lies in the file (byte offsets; ``line`` is 1-based).

    Attributes:
        heading: Offset of the entry's ``### `` line.
        start: Offset of the first byte of its YAML (the line after the opening fence).
        end: Offset just past its YAML (the start of the closing fence line).
        line: File line of the opening fence (where errors point).
    """

    heading: int
    start: int
    end: int
    line: int


@dataclass(slots=True)
class Scan:
    """What :func:`scan` found.

    Attributes:
        spans: The complete entries, in file order.
        resume: Offset of the last heading line (or where the body starts when there is none): a
            later scan of the same file grown by appends can restart there.
        resume_line: The 1-based line at ``resume``.
        torn: Offset of a last entry cut short (heading written, YAML not closed), or ``None``.
        torn_line: Its 1-based line.
    """

    spans: list[Span]
    resume: int
    resume_line: int
    torn: int | None = None
    torn_line: int | None = None


def _body_start(raw: bytes) -> int:
    """Offset just past the front matter (python-frontmatter's boundaries), or 0 without one."""
    first = _FRONT_MATTER.match(raw)
    if first is None:
        return 0
    second = _FRONT_MATTER.search(raw, first.end())
    return second.end() if second is not None else 0


def _block_lines(raw: bytes, pos: int) -> Iterator[tuple[int, re.Match[bytes]]]:
    """``(line start, match)`` for every heading or fence line at or after ``pos``."""
    if pos == 0 or raw[pos - 1 : pos] == b"\n":
        first = _AT_LINE.match(raw, pos)
        if first is not None:
            yield pos, first
    for match in _AFTER_NEWLINE.finditer(raw, pos):
        yield match.start() + 1, match


def scan(raw: bytes, start: int | None = None, line: int = 1) -> Scan:
    """Find the entries in a SmartMemory.md's bytes.

    Args:
        raw: The file's bytes (UTF-8).
        start: Where to begin: ``None`` for the whole file (skipping front matter), or a
            :attr:`Scan.resume` offset of an earlier scan of a prefix of ``raw``.
        line: The 1-based line at ``start`` (with ``start``).

    Returns:
        The complete entries after ``start`` and where a later scan may resume.
    """
    pos = _body_start(raw) if start is None else start
    lineno = line + (raw.count(b"\n", 0, pos) if start is None else 0)
    last = pos
    spans: list[Span] = []
    resume, resume_line = pos, lineno
    level = 0  # level of the section we are in (0: before any heading)
    heading, heading_line, has_block = pos, lineno, False
    fence: tuple[bytes, int] | None = None  # (character, length) of the open fence
    capture = False  # the open fence is an entry's block
    block_start, fence_line = 0, 0
    for begin, match in _block_lines(raw, pos):
        lineno += raw.count(b"\n", last, begin)
        last = begin
        eol = raw.find(b"\n", begin)
        eol = len(raw) if eol < 0 else eol
        marks = match.group(2)
        if fence is not None:
            if marks and marks[:1] == fence[0] and len(marks) >= fence[1] and not raw[match.end() : eol].strip():
                if capture:
                    spans.append(Span(heading=heading, start=block_start, end=begin, line=fence_line))
                fence, capture = None, False
            continue
        if match.group(1):
            level = len(match.group(1))
            heading, heading_line, has_block = begin, lineno, False
            resume, resume_line = begin, lineno
            continue
        if marks[:1] == b"`" and b"`" in raw[match.end() : eol]:
            continue  # backticks in the info string: inline code, not a fence
        fence = (marks[:1], len(marks))
        capture = level == 3 and not has_block
        has_block = True
        block_start, fence_line = min(eol + 1, len(raw)), lineno
    result = Scan(spans=spans, resume=resume, resume_line=resume_line)
    if level == 3 and (capture if fence is not None else not has_block) and _is_torn(raw, heading, fence is not None):
        result.torn, result.torn_line = heading, heading_line
    elif level in (1, 2) and fence is None and raw[heading:] in (b"#", b"##"):
        result.torn, result.torn_line = heading, heading_line  # the first bytes of a "### " heading
    return result


def _is_torn(raw: bytes, heading: int, unclosed: bool) -> bool:
    """Whether the last level-3 section is an entry cut short by a crash mid-append.

    An entry is written in one ``write``: a crash leaves a prefix of it. That is an opening fence
    never closed, or an entry heading (``### id · outcome · scenario``, or any heading the file
    ends inside) followed by nothing but a start of the fence. (A file ending in ``#`` or ``##``
    without a newline, the start of a heading, is caught by :func:`scan`.)
    """
    if unclosed:
        return True
    eol = raw.find(b"\n", heading)
    if eol < 0:
        return True  # the file ends inside the heading line
    rest = raw[eol:].strip(b"\n")
    return _ENTRY_MARK in raw[heading:eol] and b"```yaml".startswith(rest)


# A whole entry as the runner writes it, at the end of the file: heading, blank line, a ```yaml
# block whose lines do not start with ``` and its closing fence.
_WHOLE_LAST_ENTRY = re.compile(rb"### [^\n]*\n\n```yaml\n(?:(?!```)[^\n]*\n)*```[ \t]*\n?\Z")


def torn_tail(raw: bytes) -> int | None:
    """Offset of a torn last entry in ``raw`` (see :func:`scan`), or ``None``.

    When the file ends with a whole entry in the runner's own format (the usual case), that is
    known from the last few hundred bytes; otherwise the whole file is scanned.
    """
    last = raw.rfind(b"\n### ")
    if last >= 0 and _WHOLE_LAST_ENTRY.match(raw, last + 1):
        return None
    return scan(raw).torn


def parse_entry(raw: bytes, span: Span, path: Path | None) -> MemoryEntry:
    """One entry from its YAML.

    Raises:
        DocumentError: The YAML is malformed, is not a mapping, lacks fields or has unknown ones
            (at the line of the entry's opening fence).
    """
    try:
        data = yaml.load(raw[span.start : span.end].decode("utf-8"), Loader=_LOADER)
        return MemoryEntry(**data)
    except (yaml.YAMLError, TypeError, UnicodeDecodeError) as exc:
        raise DocumentError(f"malformed memory entry: {exc}", path=path, line=span.line) from None


# -- reading ------------------------------------------------------------------------------------


Key = tuple[int, int, int]


def lock_path(path: Path) -> Path:
    """The lock appenders hold (``SmartMemory.md.lock``)."""
    return path.with_name(path.name + ".lock")


def cache_path(path: Path) -> Path:
    """The on-disk index of ``path``: ``.SmartMemory.md.index.npz`` beside it."""
    return path.with_name(f".{path.name}.index.npz")


def read(path: Path) -> tuple[bytes, Key]:
    """The file's bytes and its ``(st_ino, st_size, st_mtime_ns)`` when they were read.

    Raises:
        FileNotFoundError: No such file.
        OSError: It cannot be read.
    """
    for _ in range(5):
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            raw = handle.read(st.st_size)
        if len(raw) == st.st_size:
            break  # else it was cut (a torn entry removed) while we read: read again
    return raw, (st.st_ino, st.st_size, st.st_mtime_ns)


def wait_for_appenders(path: Path, timeout: float = 10.0) -> None:
    """Wait until no process holds the append lock (an entry seen cut short may be mid-write)."""
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(lock_path(path)), timeout=timeout):
            pass
    except (Timeout, OSError):
        pass  # a read-only folder, or a stuck appender: take the file as it is


def warn_torn(path: Path, line: int | None, stacklevel: int = 2) -> None:
    """Warn (:class:`RuntimeWarning`) that the last entry of ``path``, at ``line``, is left out."""
    warnings.warn(
        f"{path}:{line}: the last experience was cut short (a run stopped while appending it); "
        "it is left out, and the next append removes it",
        RuntimeWarning,
        stacklevel=stacklevel + 1,
    )


def snapshot(path: Path, *, stacklevel: int = 2) -> tuple[bytes, Scan]:
    """Read and scan the whole of ``path``.

    A last entry that looks cut short may be one being appended: the appenders' lock is waited
    for and the file read again. One still cut short is left out, with a :class:`RuntimeWarning`.

    Raises:
        FileNotFoundError: No such file.
        OSError: It cannot be read.
    """
    raw, _ = read(path)
    found = scan(raw)
    if found.torn is not None:
        wait_for_appenders(path)
        raw, _ = read(path)
        found = scan(raw)
        if found.torn is not None:
            warn_torn(path, found.torn_line, stacklevel + 1)
    return raw, found


def recent(path: Path, limit: int) -> list[MemoryEntry]:
    """The last ``limit`` entries of ``path``, newest first (only those are parsed).

    Raises:
        FileNotFoundError: No such file.
        DocumentError: One of them is malformed.
    """
    raw, found = snapshot(path)
    spans = found.spans[-limit:] if limit > 0 else []
    return [parse_entry(raw, span, path) for span in reversed(spans)]


def check_utf8(raw: bytes, path: Path) -> None:
    """Raises :class:`DocumentError` (as :func:`llmos.documents.load_document` does) for non-UTF-8."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from None


def check_front_matter(raw: bytes, path: Path, spans: list[Span]) -> None:
    """Parse the part before the first entry as a document, for its front matter errors."""
    from llmos.documents import parse_document

    end = spans[0].heading if spans else len(raw)
    parse_document(raw[:end].decode("utf-8"), path=path)


# -- tokens -------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


class Tokenizer:
    """Lower-case words of two characters or more, English stop words out, Snowball-stemmed.

    Identifiers also give their parts: ``RealWebFetchTool`` gives ``realwebfetchtool``, ``real``,
    ``web``, ``fetch``, ``tool``; ``Document_Digest_Task`` gives the whole and ``document``,
    ``digest``, ``task``. Stemming needs PyStemmer (``bm25s[stem]``); without it words are kept
    whole. The stopword list is bm25s's English one.
    """

    def __init__(self) -> None:
        from bm25s.stopwords import STOPWORDS_EN

        try:
            import Stemmer

            self._stem: Callable[[str], str] | None = Stemmer.Stemmer("english").stemWord
            self.name = "snowball-english"
        except ImportError:  # pragma: no cover - bm25s[stem] is a dependency
            self._stem, self.name = None, "none"
        self._stop = frozenset(STOPWORDS_EN)
        self._memo: dict[str, tuple[str, ...]] = {}

    def _term(self, word: str) -> str | None:
        low = word.lower()
        if len(low) < 2 or low in self._stop:
            return None
        return self._stem(low) if self._stem else low

    def _terms(self, word: str) -> tuple[str, ...]:
        terms = [self._term(word)]
        parts = _PART.findall(word)
        if len(parts) > 1:
            terms.extend(map(self._term, parts))
        return tuple(t for t in terms if t is not None)

    def __call__(self, text: str) -> list[str]:
        """The terms of ``text``, in order (repeated terms repeated)."""
        out: list[str] = []
        memo = self._memo
        for word in _WORD.findall(text):
            terms = memo.get(word)
            if terms is None:
                if len(memo) >= 500_000:
                    memo.clear()  # bounded: numbers and ids make most words unique
                terms = memo[word] = self._terms(word)
            out.extend(terms)
        return out


_TOKENIZER: Tokenizer | None = None


def tokenizer() -> Tokenizer:
    global _TOKENIZER
    if _TOKENIZER is None:
        _TOKENIZER = Tokenizer()
    return _TOKENIZER


def index_text(entry: MemoryEntry) -> str:
    """The text an entry is found by: goal, scenario, outcome, components, errors, recovery, lessons."""
    parts = [str(entry.goal), str(entry.scenario), str(entry.outcome)]
    for items in (entry.components, entry.errors, entry.recovery, entry.lessons):
        if isinstance(items, list):
            parts.extend(str(item) for item in items)
        elif items is not None:
            parts.append(str(items))
    return "\n".join(parts)


# -- the index ----------------------------------------------------------------------------------


@dataclass(kw_only=True, eq=False)
class Index:
    """The BM25 index of one SmartMemory.md as it was at ``key``.

    Attributes:
        key: ``(st_ino, st_size, st_mtime_ns)`` of the file read.
        raw: The file's bytes (entries are parsed from them for the hits only; empty in an index
            just loaded from disk, until :func:`refresh` has checked it against the file).
        size: Bytes indexed (the file's size then).
        sha: SHA-256 of those bytes.
        resume: Offset where a scan of the file grown by appends restarts (its last heading).
        resume_line: The 1-based line there.
        prefix_sha: SHA-256 of ``raw[:resume]``: if the file still starts with it, only the
            rest is scanned again.
        spans: Every complete entry's place, in file order.
        docs: Every entry's token ids (see :meth:`doc_lists`).
        vocab: Token to id.
        torn_line: Line of a torn last entry, left out (``None`` when there is none).
        retriever: The bm25s index, or ``None`` with no terms at all.
    """

    key: Key
    raw: bytes
    size: int
    sha: str
    resume: int
    resume_line: int
    prefix_sha: str
    spans: list[Span]
    docs: list[list[int]] | tuple[Any, Any]
    vocab: dict[str, int]
    torn_line: int | None = None
    retriever: Any = field(default=None, repr=False)

    def doc_lists(self) -> list[list[int]]:
        """``docs`` as one list of token ids per entry (an index loaded from disk holds them flat,
        as ``(all ids, offsets)``, until they are needed: an append)."""
        if isinstance(self.docs, tuple):
            flat, bounds = (list(part) if isinstance(part, list) else part.tolist() for part in self.docs)
            self.docs = [flat[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]
        return self.docs

    def build(self) -> None:
        """(Re)build the bm25s index from ``docs``."""
        import bm25s

        docs = self.doc_lists()
        if not self.vocab or not docs:
            self.retriever = None
            return
        retriever = bm25s.BM25(k1=K1, b=B, method=METHOD)
        retriever.index((docs, dict(self.vocab)), create_empty_token=False, show_progress=False)
        self.retriever = retriever

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every entry for ``query`` (float32, one per span), or ``None`` if no term is known."""

        if self.retriever is None:
            return None
        ids = sorted({self.vocab[t] for t in tokenizer()(query) if t in self.vocab})
        if not ids:
            return None
        scores: np.ndarray = self.retriever.get_scores_from_ids(ids)
        return scores

    def top(self, query: str, limit: int) -> list[tuple[int, float]]:
        """``(entry number, score)`` of the best ``limit`` entries with a positive score, best first.

        Ties go to the newer entry.
        """
        import numpy as np

        scores = self.scores(query)
        if scores is None or limit <= 0:
            return []
        hits = np.flatnonzero(scores > 0)
        if hits.size > limit:
            # Keep every entry tied with the limit-th best, then order by (score, newer first).
            cut = np.partition(scores[hits], hits.size - limit)[hits.size - limit]
            hits = hits[scores[hits] >= cut]
        order = np.lexsort((-hits, -scores[hits]))[:limit]
        return [(int(hits[i]), float(scores[hits[i]])) for i in order]

    def entry(self, number: int, path: Path) -> MemoryEntry:
        """Entry ``number`` (0: the oldest), parsed from the bytes indexed."""
        return parse_entry(self.raw, self.spans[number], path)

    # -- persistence ------------------------------------------------------------------------

    def save(self, target: Path) -> None:
        """Write the index to ``target`` atomically (a temporary file renamed over it).

        Not fsynced: the file is a cache, checked against SmartMemory.md's content when read.

        Raises:
            OSError: The folder is not writable.
        """
        import numpy as np

        meta = {
            "format": FORMAT,
            "bm25s": _bm25s_version(),
            "tokenizer": tokenizer().name,
            "sha": self.sha,
            "size": self.size,
            "resume": self.resume,
            "resume_line": self.resume_line,
            "prefix_sha": self.prefix_sha,
            "torn_line": self.torn_line,
            "vocab": sorted(self.vocab, key=self.vocab.__getitem__),
        }
        if isinstance(self.docs, tuple):
            flat, bounds = self.docs
            lengths = np.diff(np.asarray(bounds, dtype=np.int64))
            tokens = np.asarray(flat, dtype=np.int32)
        else:
            lengths = np.fromiter((len(d) for d in self.docs), dtype=np.int64, count=len(self.docs))
            tokens = np.fromiter((t for d in self.docs for t in d), dtype=np.int32, count=int(lengths.sum()))
        arrays: dict[str, Any] = {
            "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
            "spans": np.array(self.spans, dtype=np.int64).reshape(-1, 4),
            "doc_lengths": lengths,
            "doc_tokens": tokens,
        }
        if self.retriever is not None:
            scores = self.retriever.scores
            arrays.update(bm25_data=scores["data"], bm25_indices=scores["indices"], bm25_indptr=scores["indptr"])
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(target, buffer.getvalue(), durable=False)  # a cache: rebuilt if lost

    @classmethod
    def load(cls, source: Path, key: Key) -> Index | None:
        """The index saved at ``source``, not yet checked against the file (:func:`refresh` does).

        Returns ``None`` when it is missing, unreadable, or of another format, tokenizer or bm25s
        version.
        """
        import numpy as np

        try:
            with np.load(source, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                if (meta["format"], meta["bm25s"], meta["tokenizer"]) != (FORMAT, _bm25s_version(), tokenizer().name):
                    return None
                spans = list(map(Span._make, data["spans"].tolist()))
                bounds = np.concatenate(([0], np.cumsum(data["doc_lengths"])))
                flat = data["doc_tokens"]
                bm25 = (data["bm25_data"], data["bm25_indices"], data["bm25_indptr"]) if "bm25_data" in data else None
            vocab = {token: number for number, token in enumerate(meta["vocab"])}
            index = cls(
                key=key,
                raw=b"",
                size=int(meta["size"]),
                sha=str(meta["sha"]),
                resume=int(meta["resume"]),
                resume_line=int(meta["resume_line"]),
                prefix_sha=str(meta["prefix_sha"]),
                spans=spans,
                docs=(flat, bounds),
                vocab=vocab,
                torn_line=meta["torn_line"],
            )
        except Exception:  # a cache: whatever is wrong with it (cut short, another layout), rebuild
            return None
        if bm25 is not None:
            index.retriever = _restore_retriever(bm25, len(spans), vocab)
        return index


def _restore_retriever(arrays: tuple[Any, Any, Any], num_docs: int, vocab: dict[str, int]) -> Any:
    """A bm25s.BM25 over saved score arrays, set up as ``bm25s.BM25.load`` sets up a loaded one."""
    import bm25s

    retriever = bm25s.BM25(k1=K1, b=B, method=METHOD)
    data, indices, indptr = arrays
    retriever.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": num_docs}
    retriever.vocab_dict = dict(vocab)
    retriever.unique_token_ids_set = set(vocab.values())
    retriever.nonoccurrence_array = None
    return retriever


def _bm25s_version() -> str:
    import bm25s

    return str(bm25s.__version__)


def _sha(raw: bytes, end: int | None = None) -> str:
    return hashlib.sha256(memoryview(raw)[:end] if end is not None else raw).hexdigest()


def _add_entries(index: Index, raw: bytes, spans: list[Span], path: Path) -> None:
    """Parse, tokenize and number ``spans`` (entries of ``raw``) onto the end of ``index``."""
    tokens = tokenizer()
    vocab = index.vocab
    for span in spans:
        terms = tokens(index_text(parse_entry(raw, span, path)))
        index.doc_lists().append([vocab.setdefault(term, len(vocab)) for term in terms])
        index.spans.append(span)


def refresh(path: Path, old: Index | None, raw: bytes, key: Key) -> Index:
    """The index of ``path`` (read as ``raw`` at ``key``) as it is now: ``old`` itself (same
    content), ``old`` caught up with the entries appended since (its text up to its last heading is
    still there), or one built from scratch.

    A last entry that looks cut short may be one being appended: the appenders' lock is waited
    for and the file read again. One still cut short is left out, with a :class:`RuntimeWarning`.

    Raises:
        FileNotFoundError: The file went away.
        DocumentError: An entry is malformed, or the file is not UTF-8.
    """
    for attempt in (1, 2):
        if old is not None and len(raw) == old.size and _sha(raw) == old.sha:
            old.key, old.raw = key, raw  # the same content (touched, copied, or the index came from disk)
            return old
        base = old if old is not None and len(raw) >= old.resume and _sha(raw, old.resume) == old.prefix_sha else None
        found = scan(raw, base.resume, base.resume_line) if base is not None else scan(raw)
        if found.torn is None or attempt == 2:
            break
        wait_for_appenders(path)
        raw, key = read(path)
    if found.torn is not None:
        warn_torn(path, found.torn_line, 4)
    if base is not None:
        keep = sum(1 for s in base.spans if s.heading < base.resume)
        spans, docs, vocab = base.spans[:keep], base.doc_lists()[:keep], dict(base.vocab)
    else:
        check_utf8(raw, path)
        spans, docs, vocab = [], [], {}
    index = Index(
        key=key,
        raw=raw,
        size=len(raw),
        sha=_sha(raw),
        resume=found.resume,
        resume_line=found.resume_line,
        prefix_sha=_sha(raw, found.resume),
        spans=spans,
        docs=docs,
        vocab=vocab,
        torn_line=found.torn_line,
    )
    _add_entries(index, raw, found.spans, path)
    index.build()
    return index


_INDEXES: dict[Path, Index] = {}
_GUARD = threading.Lock()


def get_index(path: Path, *, persist: bool = True) -> Index | None:
    """The up-to-date index of ``path`` (``None`` if there is no such file).

    In this process the index is reused while the file's ``(st_ino, st_size, st_mtime_ns)`` stays
    the same. Otherwise the one on disk (:func:`cache_path`) is tried, then brought up to date
    (appended entries only) or rebuilt, and written back when it changed (``persist``; a folder
    that cannot be written is not an error).

    Raises:
        DocumentError: An entry is malformed, or the file is not UTF-8.
    """
    file = Path(os.path.abspath(path))
    try:
        st = os.stat(file)
    except FileNotFoundError:
        return None
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    with _GUARD:
        current = _INDEXES.get(file)
        if current is not None and current.key == key:
            return current
        try:
            raw, raw_key = read(file)
        except FileNotFoundError:
            _INDEXES.pop(file, None)
            return None
        loaded = current is None
        if current is None:
            current = Index.load(cache_path(file), raw_key)
        fresh = refresh(file, current, raw, raw_key)
        if loaded and fresh is current and fresh.torn_line is not None:
            warn_torn(file, fresh.torn_line, 3)
        _INDEXES[file] = fresh
        if persist and fresh is not current and fresh.spans:
            try:
                fresh.save(cache_path(file))
            except OSError:
                pass
        return fresh


def forget() -> None:
    """Drop this process's indexes (the on-disk ones stay)."""
    with _GUARD:
        _INDEXES.clear()
