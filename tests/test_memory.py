"""SmartMemory: appending (also from several processes at once), reading, torn entries, BM25 retrieval,
the index cache (in this process and on disk), and ``llmos memory``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from llmos import _memory_index
from llmos._cli_memory import memory_group
from llmos.documents import load_document
from llmos.exceptions import DocumentError
from llmos.memory import MemoryEntry, MemoryHit, append_entry, load_entries, search_memory

HEADER = "---\nname: SmartMemory\nkind: memory\n---\n\n# SmartMemory\n\n## Experiences\n"


def entry(n: int, goal: str, *, outcome: str = "completed", **fields: Any) -> MemoryEntry:
    values: dict[str, Any] = {
        "id": f"run-{n:04d}",
        "time": f"2026-01-01T00:00:{n % 60:02d}Z",
        "goal": goal,
        "scenario": "RealWorld_Research_Task",
        "mode": "execution",
        "provider": "scripted",
        "outcome": outcome,
        "cost_usd": 0.01,
        "duration_s": 2.5,
        "components": ["RealWebFetchTool", "RealSummarizationAgent"],
    }
    values.update(fields)
    return MemoryEntry(**values)


TIMEOUT = entry(
    1,
    "Summarize the page at https://example.org/ for a busy reader",
    components=["RealWebFetchTool", "RealSummarizationAgent"],
    errors=["fetch: WebFetch timed out after 30 s fetching https://example.org/"],
    recovery=["fetch: retried (2 attempts)"],
    lessons=["example.org timed out on the first try; the fallback worked"],
)
UNRELATED = [
    entry(2, "Digest the installation notes in the workspace", scenario="Document_Digest_Task", components=[]),
    entry(3, "Audit the repository for licensing problems", scenario="Code_Audit_Task", components=["RealSearchTool"]),
    entry(
        4,
        "Export the traces as a training data set",
        scenario="Dataset_Export_Task",
        outcome="failed",
        components=["RealShellTool"],
        errors=["export: the command exited with status 2"],
        lessons=["RealShellTool (Bash) failed in step export: the command exited with status 2"],
    ),
]


@pytest.fixture(autouse=True)
def fresh_indexes() -> Iterator[None]:
    _memory_index.forget()
    yield
    _memory_index.forget()


@pytest.fixture
def memory(tmp_path: Path) -> Path:
    path = tmp_path / "system" / "SmartMemory.md"
    for item in [TIMEOUT, *UNRELATED]:
        append_entry(path, item)
    return path


class CountingParser:
    """Wraps ``_memory_index.parse_entry`` to count the entries parsed (the cost of a rebuild)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self._real = _memory_index.parse_entry
        monkeypatch.setattr(_memory_index, "parse_entry", self)

    def __call__(self, *args: Any) -> MemoryEntry:
        self.calls += 1
        return self._real(*args)


# -- appending and reading ----------------------------------------------------------------------


def test_append_creates_the_file_and_adds_entries_in_the_documented_format(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    append_entry(path, UNRELATED[0])
    append_entry(path, UNRELATED[1])
    assert path.read_text() == (HEADER + "\n" + UNRELATED[0].to_markdown() + "\n" + UNRELATED[1].to_markdown())
    assert (
        UNRELATED[0]
        .to_markdown()
        .startswith("### run-0002 · completed · Document_Digest_Task\n\n```yaml\nid: run-0002\n")
    )
    assert load_entries(path) == UNRELATED[:2]


def test_append_adds_the_experiences_section_to_a_file_without_one(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    path.write_text("# SmartMemory\n\nNotes.\n\n\n")
    append_entry(path, TIMEOUT)
    assert path.read_text() == "# SmartMemory\n\nNotes.\n\n## Experiences\n\n" + TIMEOUT.to_markdown()


def test_an_append_writes_in_place_leaving_the_entries_before_it_untouched(memory: Path) -> None:
    before, inode = memory.read_bytes(), memory.stat().st_ino
    added = entry(9, "one more")
    append_entry(memory, added)
    assert memory.read_bytes() == before + b"\n" + added.to_markdown().encode()
    assert memory.stat().st_ino == inode  # not a rewrite: O(entry), and a crash cannot touch the rest


def test_an_id_already_recorded_is_not_appended_again(memory: Path) -> None:
    before = memory.read_bytes()
    append_entry(memory, replace(TIMEOUT, goal="the same run ending a second time"))
    assert memory.read_bytes() == before


_APPENDER = """
import sys, time
from pathlib import Path
from llmos.memory import MemoryEntry, append_entry
path, worker, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
while not go.exists():
    time.sleep(0.001)
for n in range(25):
    append_entry(path, MemoryEntry(
        id=f"w{worker}-{n:02d}", time="2026-01-01T00:00:00Z", goal=f"worker {worker} run {n}",
        scenario="Concurrency", mode="execution", provider="scripted", outcome="completed",
        cost_usd=0.0, duration_s=0.0, lessons=["x" * 2000],
    ))
"""


def test_appends_from_four_processes_at_once_all_land_whole(tmp_path: Path) -> None:
    path = tmp_path / "system" / "SmartMemory.md"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", _APPENDER, str(path), str(worker), str(go)]) for worker in range(4)
    ]
    go.touch()
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0, 0, 0]
    ids = [e.id for e in load_entries(path)]
    assert sorted(ids) == sorted(f"w{w}-{n:02d}" for w in range(4) for n in range(25))
    for worker in range(4):  # each process's entries in the order it appended them
        assert [i for i in ids if i.startswith(f"w{worker}-")] == [f"w{worker}-{n:02d}" for n in range(25)]
    assert path.read_text().startswith(HEADER + "\n### w")


MIXED = """---
name: SmartMemory
kind: memory
# a front matter comment is not a heading
---

# SmartMemory

Prose with ```an inline``` span, and a #hashtag.

## Experiences

### run-a · completed · S

````yaml
id: run-a
time: '2026-01-01T00:00:00Z'
goal: a four-backtick fence holding a three-backtick one
scenario: S
mode: execution
provider: scripted
outcome: completed
cost_usd: 0.0
duration_s: 1.0
lessons:
- |
  ```
  ### not a heading
  ```
````

A second block of the same entry is not read:

```yaml
id: ignored
```

### run-b · failed · S

#### A sub-heading ends the entry's section

```yaml
id: not-an-entry
```

### run-c · completed · S

  ~~~yaml
  id: run-c
  time: '2026-01-01T00:00:02Z'
  goal: an indented tilde fence
  scenario: S
  mode: simulation
  provider: local
  outcome: completed
  cost_usd: 0.5
  duration_s: 2.0
  ~~~

####### seven hashes is no heading

### Notes without YAML

Just prose.
"""


def test_the_fast_reader_finds_what_the_document_parser_finds(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    path.write_text(MIXED + "\n" + TIMEOUT.to_markdown())
    expected = [
        (block.line, yaml.safe_load(block.code))
        for section in load_document(path).sections
        if section.level == 3
        for block in section.code_blocks[:1]
    ]
    found = _memory_index.scan(path.read_bytes())
    assert [span.line for span in found.spans] == [line for line, _ in expected] == [15, 48, 68]
    assert load_entries(path) == [MemoryEntry(**data) for _, data in expected]
    assert load_entries(path)[0].lessons == ["```\n### not a heading\n```\n"]
    assert found.torn is None


def test_a_malformed_entry_names_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    text = HEADER + "\n" + TIMEOUT.to_markdown() + "\n### bad · failed · S\n\n```yaml\nid: [unclosed\n```\n"
    path.write_text(text)
    with pytest.raises(DocumentError) as caught:
        load_entries(path)
    line = text[: text.index("```yaml\nid: [unclosed")].count("\n") + 1
    assert (caught.value.path, caught.value.line) == (path, line)
    assert str(caught.value).startswith(f"{path}:{line}: malformed memory entry: ")
    with pytest.raises(DocumentError) as searched:
        search_memory(path, "example.org")
    assert (searched.value.path, searched.value.line) == (path, line)


def test_an_entry_lacking_fields_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    path.write_text(HEADER + "\n### x · completed · S\n\n```yaml\nid: x\ngoal: g\n```\n")
    with pytest.raises(DocumentError) as caught:
        load_entries(path)
    assert caught.value.line == 12
    assert caught.value.message == (
        "malformed memory entry: MemoryEntry.__init__() missing 7 required keyword-only arguments: "
        "'time', 'scenario', 'mode', 'provider', 'outcome', 'cost_usd', and 'duration_s'"
    )


def test_malformed_front_matter_is_a_document_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    path.write_text("---\nname: [SmartMemory\n---\n\n## Experiences\n\n" + TIMEOUT.to_markdown())
    with pytest.raises(DocumentError) as caught:
        load_entries(path)
    assert (caught.value.path, caught.value.line) == (path, 3)
    assert caught.value.message.startswith("malformed front matter: ")


def test_a_missing_file_is_a_document_error_to_load_and_empty_to_search(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    with pytest.raises(DocumentError, match="no such document"):
        load_entries(path)
    assert search_memory(path, "anything") == []


# -- torn last entries --------------------------------------------------------------------------

_TORN_TEXT = "\n" + TIMEOUT.to_markdown()
_CUTS = {
    "after one hash": 2,
    "after two hashes": 3,
    "after three hashes": 4,
    "inside the heading": 12,
    "after the heading": _TORN_TEXT.index("\n\n```yaml") + 1,
    "inside the opening fence": _TORN_TEXT.index("```yaml") + 2,
    "right after the opening fence": _TORN_TEXT.index("```yaml") + 3,
    "inside the yaml": _TORN_TEXT.index("recovery:"),
    "before the closing fence": len(_TORN_TEXT) - 4,
}


@pytest.mark.parametrize("cut", list(_CUTS.values()), ids=list(_CUTS))
def test_a_last_entry_cut_short_is_left_out_with_a_warning(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "SmartMemory.md"
    whole = HEADER + "\n" + UNRELATED[0].to_markdown()
    path.write_text(whole + _TORN_TEXT[:cut])
    line = whole.count("\n") + 2
    with pytest.warns(RuntimeWarning, match=rf"^{path}:{line}: the last experience was cut short"):
        assert load_entries(path) == [UNRELATED[0]]
    with pytest.warns(RuntimeWarning, match=rf"^{path}:{line}: the last experience was cut short"):
        assert [hit.entry for hit in search_memory(path, "example.org timed out installation")] == [UNRELATED[0]]


def test_a_last_entry_missing_only_its_final_newline_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    path.write_text(HEADER + "\n" + TIMEOUT.to_markdown().rstrip("\n"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_entries(path) == [TIMEOUT]
    append_entry(path, UNRELATED[0])
    assert load_entries(path) == [TIMEOUT, UNRELATED[0]]


@pytest.mark.parametrize("cut", list(_CUTS.values()), ids=list(_CUTS))
def test_the_next_append_cuts_off_a_torn_entry(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "SmartMemory.md"
    whole = HEADER + "\n" + UNRELATED[0].to_markdown()
    path.write_text(whole + _TORN_TEXT[:cut])
    append_entry(path, UNRELATED[1])
    assert path.read_text() == whole + "\n" + UNRELATED[1].to_markdown()


def test_a_run_whose_entry_was_torn_records_it_whole_when_it_ends_again(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    path.write_text(HEADER + _TORN_TEXT[: _CUTS["inside the yaml"]])
    append_entry(path, TIMEOUT)
    assert path.read_text() == HEADER + "\n" + TIMEOUT.to_markdown()


def test_a_heading_without_yaml_that_is_not_an_entry_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    path.write_text(HEADER + "\n### Notes\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_entries(path) == []
    append_entry(path, TIMEOUT)
    assert path.read_text() == HEADER + "\n### Notes\n\n" + TIMEOUT.to_markdown()


# -- retrieval ----------------------------------------------------------------------------------


def test_search_puts_the_relevant_experience_first(memory: Path) -> None:
    hits = search_memory(memory, "fetch https://example.org/ — it timed out last time", limit=5)
    assert [(hit.rank, hit.entry) for hit in hits] == [(1, TIMEOUT)]
    assert hits[0].score > 0
    assert isinstance(hits[0], MemoryHit)


def test_search_ranks_by_relevance_and_leaves_out_entries_without_a_shared_term(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    weak = entry(5, "Fetch a page from example.org", components=["RealWebFetchTool"])
    for item in [*UNRELATED, weak, TIMEOUT]:
        append_entry(path, item)
    hits = search_memory(path, "example.org timed out, fallback", limit=10)
    assert [(hit.rank, hit.entry.id) for hit in hits] == [(1, "run-0001"), (2, "run-0005")]
    assert hits[0].score > hits[1].score > 0


def test_search_breaks_ties_for_the_newer_entry_and_honours_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    for n in range(1, 6):
        append_entry(path, entry(n, "Digest the installation notes", scenario="Document_Digest_Task"))
    hits = search_memory(path, "installation", limit=3)
    assert [(hit.rank, hit.entry.id) for hit in hits] == [(1, "run-0005"), (2, "run-0004"), (3, "run-0003")]
    assert len({hit.score for hit in hits}) == 1


def test_search_finds_components_by_the_parts_of_their_names(memory: Path) -> None:
    assert [hit.entry.id for hit in search_memory(memory, "search")] == ["run-0003"]
    assert _memory_index.tokenizer()("RealWebFetchTool timed out; Document_Digest_Task") == [
        "realwebfetchtool",
        "real",
        "web",
        "fetch",
        "tool",
        "time",
        "out",
        "document_digest_task",
        "document",
        "digest",
        "task",
    ]


def test_search_returns_nothing_when_no_term_matches(memory: Path) -> None:
    assert search_memory(memory, "kubernetes helm chart") == []
    assert search_memory(memory, "the and of") == []


def test_search_refuses_a_limit_below_one(memory: Path) -> None:
    with pytest.raises(ValueError, match="limit must be at least 1, not 0"):
        search_memory(memory, "example.org", limit=0)


# -- the index cache ----------------------------------------------------------------------------


def test_the_index_catches_up_with_an_append_parsing_only_the_tail(memory: Path, monkeypatch) -> None:
    assert search_memory(memory, "kubernetes") == []
    parsed = CountingParser(monkeypatch)
    added = entry(9, "Deploy the kubernetes helm chart", scenario="Deploy_Task")
    append_entry(memory, added)
    assert [(hit.rank, hit.entry) for hit in search_memory(memory, "kubernetes")] == [(1, added)]
    assert parsed.calls == 3  # the last entry indexed (its text is scanned again), the new one, the hit


def test_an_index_loaded_from_disk_catches_up_with_an_append(memory: Path, monkeypatch) -> None:
    search_memory(memory, "kubernetes")
    _memory_index.forget()
    added = entry(9, "Deploy the kubernetes helm chart", scenario="Deploy_Task")
    append_entry(memory, added)
    parsed = CountingParser(monkeypatch)
    assert [(hit.rank, hit.entry) for hit in search_memory(memory, "kubernetes")] == [(1, added)]
    assert parsed.calls == 3
    _memory_index.forget()
    assert [(hit.rank, hit.entry) for hit in search_memory(memory, "kubernetes")] == [(1, added)]
    assert parsed.calls == 4  # the caught-up index was saved: only the hit is parsed


def test_the_index_is_rebuilt_when_an_entry_is_edited(memory: Path, monkeypatch) -> None:
    assert [hit.entry.id for hit in search_memory(memory, "licensing")] == ["run-0003"]
    memory.write_text(memory.read_text().replace("licensing", "copyright"))
    parsed = CountingParser(monkeypatch)
    assert search_memory(memory, "licensing") == []
    assert parsed.calls == 4
    assert [hit.entry.id for hit in search_memory(memory, "copyright")] == ["run-0003"]


def test_a_new_load_uses_the_index_on_disk_and_parses_only_the_hits(memory: Path, monkeypatch) -> None:
    first = search_memory(memory, "example.org timed out")
    cache = memory.parent / ".SmartMemory.md.index.npz"
    assert cache.is_file()
    _memory_index.forget()
    parsed = CountingParser(monkeypatch)
    assert search_memory(memory, "example.org timed out") == first
    assert parsed.calls == 1


def test_the_index_on_disk_is_not_used_once_the_file_changed(memory: Path, monkeypatch) -> None:
    search_memory(memory, "example.org")
    cache = memory.parent / ".SmartMemory.md.index.npz"
    saved = cache.read_bytes()
    _memory_index.forget()
    text, before = memory.read_text(), memory.stat()
    memory.write_text(text.replace("installation", "migrations!!"))  # same inode, same size, same mtime
    os.utime(memory, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = memory.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    parsed = CountingParser(monkeypatch)
    assert [hit.entry.id for hit in search_memory(memory, "migration")] == ["run-0002"]
    assert parsed.calls == 5  # all four again, then the hit
    assert cache.read_bytes() != saved


@pytest.mark.parametrize("damage", ["garbage", "cut short", "empty"])
def test_a_damaged_index_on_disk_is_rebuilt(memory: Path, damage: str) -> None:
    search_memory(memory, "example.org")
    _memory_index.forget()
    cache = memory.parent / ".SmartMemory.md.index.npz"
    whole = cache.read_bytes()
    cache.write_bytes({"garbage": b"not an npz", "cut short": whole[: len(whole) // 2], "empty": b""}[damage])
    assert _memory_index.Index.load(cache, (0, 0, 0)) is None
    assert [hit.entry for hit in search_memory(memory, "example.org")] == [TIMEOUT]
    assert cache.read_bytes() == whole


_CHILD = """
import json, sys
from pathlib import Path
from llmos import _memory_index
from llmos.memory import search_memory
calls = []
real = _memory_index.parse_entry
_memory_index.parse_entry = lambda *a: calls.append(1) or real(*a)
hits = search_memory(Path(sys.argv[1]), "example.org timed out")
print(json.dumps({"ids": [h.entry.id for h in hits], "parsed": len(calls)}))
"""


def test_a_fresh_process_uses_the_index_on_disk(memory: Path) -> None:
    def child() -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(memory)], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    assert child() == {"ids": ["run-0001"], "parsed": 5}  # no cache: all four, then the hit
    assert child() == {"ids": ["run-0001"], "parsed": 1}  # the hit only


# -- the command line ---------------------------------------------------------------------------


def test_cli_search_prints_json_lines(memory: Path) -> None:
    result = CliRunner().invoke(
        memory_group, ["search", "example.org", "timed", "out", "--file", str(memory), "--json"]
    )
    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    record = json.loads(line)
    assert record == {"rank": 1, "score": record["score"], "entry": asdict(TIMEOUT)}
    assert record["score"] > 0


def test_cli_search_finds_the_project_memory_under_root(project: Path) -> None:
    append_entry(project / "system" / "SmartMemory.md", TIMEOUT)
    result = CliRunner().invoke(memory_group, ["search", "example.org", "--root", str(project)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "run-0001" in result.output
    assert "example.org timed out on the first try; the fallback worked" in result.output


def test_cli_search_says_when_nothing_matches(memory: Path) -> None:
    result = CliRunner().invoke(memory_group, ["search", "kubernetes", "--file", str(memory)])
    assert (result.exit_code, result.output) == (0, "no experiences match\n")


def test_cli_list_prints_the_newest_first(memory: Path) -> None:
    result = CliRunner().invoke(memory_group, ["list", "--limit", "2", "--file", str(memory), "--json"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.output.splitlines()] == [asdict(UNRELATED[2]), asdict(UNRELATED[1])]


def test_cli_reports_a_malformed_memory_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    path.write_text(HEADER + "\n### bad · failed · S\n\n```yaml\nid: [unclosed\n```\n")
    result = CliRunner().invoke(memory_group, ["search", "bad", "--file", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {path}:12: malformed memory entry: ")


def test_cli_reports_a_torn_entry_as_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "SmartMemory.md"
    whole = HEADER + "\n" + UNRELATED[0].to_markdown()
    path.write_text(whole + _TORN_TEXT[:40])
    result = CliRunner().invoke(memory_group, ["list", "--file", str(path), "--json"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        f"warning: {path}:{whole.count(chr(10)) + 2}: the last experience was cut short (a run stopped while "
        "appending it); it is left out, and the next append removes it",
        json.dumps(asdict(UNRELATED[0])),
    ]


def test_memory_help_and_appends_do_not_import_the_index_libraries(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from llmos._cli_memory import memory_group
        from llmos.memory import MemoryEntry, append_entry, load_entries
        append_entry({str(tmp_path / "SmartMemory.md")!r}, MemoryEntry(id="x", time="t", goal="g", scenario="s",
            mode="execution", provider="p", outcome="completed", cost_usd=0.0, duration_s=0.0))
        load_entries({str(tmp_path / "SmartMemory.md")!r})
        try:
            memory_group(["search", "--help"], prog_name="llmos memory")
        except SystemExit:
            pass
        heavy = sorted(m for m in ("bm25s", "numpy", "scipy", "Stemmer", "rich", "mistune") if m in sys.modules)
        print("HEAVY", heavy)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "HEAVY ['mistune']"  # load_entries checks the front matter with the parser
    assert "Usage: llmos memory search [OPTIONS] QUERY..." in out


def test_cache_file_name_is_hidden_beside_the_memory() -> None:
    assert _memory_index.cache_path(Path("/p/system/SmartMemory.md")) == Path("/p/system/.SmartMemory.md.index.npz")
    assert os.fspath(_memory_index.lock_path(Path("/p/system/SmartMemory.md"))) == "/p/system/SmartMemory.md.lock"
