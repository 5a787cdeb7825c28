"""End-to-end cost of ``llmos export --format openai`` on 10,000 realistic traces.

Generates three real traces in a throw-away project (RealWorld_Research_Task in simulation mode,
Document_Digest_Task in execution mode with the scripted provider, and a tool-using agent whose
trace holds inner tool calls), then synthesises N traces from them: each a copy of one of the three
with a new execution id and start time, a mode, outcome and quality score drawn at random, and one
word in ten of every longer text replaced by a random word (so near-duplicate removal keeps nearly
all of them). Then it runs the export command (``llmos export --format openai``, through its click command, with
its default number of worker processes) in a subprocess and reports its wall-clock time and peak
resident memory: of the whole process tree (sampled from /proc, worker processes included) and of
the largest single process (``ru_maxrss``).

    python benchmarks/export.py [N]        # default: 10000

Targets: under 10 s and under 500 MB for 10,000 traces. It runs the export a second time with
``--workers 1`` (a single process) for comparison, and checks both outputs are byte for byte equal.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from llmos._resources import copy_project
from llmos.engine import run_scenario
from llmos.project import Project

TARGET_S, TARGET_MB = 10.0, 500.0

AGENT = """---
name: NoteTakerAgent
kind: agent
real: true
description: Writes a note in the workspace, checks it with Bash and reads it back.
tools: [Write, Bash, Read]
model: claude-sonnet-4-5
max_turns: 6
inputs:
  topic: {type: string, required: true, description: what the note is about}
outputs:
  path: {type: string, description: the note's path}
  lines: {type: integer, description: lines in the note}
cost_usd: 0.05
latency_s: 10
side_effects: writes one file in the workspace
error_modes: [model unavailable]
timeout_s: 60
retry: {attempts: 1, backoff_s: 0}
idempotent: false
---

You are NoteTakerAgent. Write a short note about `topic` into notes/note.md, count its lines with
`wc -l`, read it back, then answer with its path and line count.
"""

SCENARIO = """---
name: Note_Task
goal: Write a note about a topic.
inputs:
  topic: {type: string, default: state machines, description: the note's topic}
steps:
  - id: note
    component: NoteTakerAgent
    inputs:
      topic: "{{ inputs.topic }}"
---
"""

NOTE = (
    "# State machines\n\nA state machine is a set of states and of transitions between them, each "
    "triggered by an event. The machine is in one state at a time; a transition moves it to the next.\n"
)


def real_traces(folder: Path) -> list[dict[str, Any]]:
    """Three real traces: research (simulation), digest (execution), an agent with inner tool calls."""
    root = folder / "project"
    copy_project(root)
    (root / "components" / "agents" / "NoteTakerAgent.md").write_text(AGENT)
    (root / "scenarios" / "Note_Task.md").write_text(SCENARIO)
    Project.load(root).sync_library()
    script = folder / "script.json"
    calls = [
        {"name": "Write", "input": {"file_path": "notes/note.md", "content": NOTE}},
        {"name": "Bash", "input": {"command": "wc -l notes/note.md"}},
        {"name": "Read", "input": {"file_path": "notes/note.md"}},
    ]
    script.write_text(
        json.dumps(
            [
                {"step": "note", "tool_calls": calls[:1]},
                {"step": "note", "tool_calls": calls[1:]},
                {"step": "note", "output": {"path": "notes/note.md", "lines": 3}},
            ]
        )
    )
    scenarios = root / "scenarios"
    runs = [
        run_scenario(
            scenarios / "RealWorld_Research_Task.md",
            inputs={"url": "http://127.0.0.1:9/x"},
            mode="simulation",
            provider="scripted",
        ),
        run_scenario(scenarios / "Document_Digest_Task.md", provider="scripted"),
        run_scenario(scenarios / "Note_Task.md", provider="scripted", script=script),
    ]
    assert all(r.status == "completed" for r in runs), [r.error for r in runs]
    lines = (root / "workspace" / "datasets" / "traces.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


WORDS = [
    "agent",
    "state",
    "trace",
    "tool",
    "budget",
    "memory",
    "planner",
    "summary",
    "grounding",
    "workspace",
    "document",
    "scenario",
    "transition",
    "journal",
    "replay",
    "provider",
    "schema",
    "metric",
    "quality",
    "export",
    "dataset",
    "token",
    "latency",
    "cost",
]


def perturb(value: Any, rng: random.Random) -> Any:
    """``value`` with one word in four of every text over 12 characters replaced by a random word."""
    if isinstance(value, str):
        if len(value) <= 12:
            return value
        words = value.split(" ")
        for i in range(rng.randrange(4), len(words), 4):
            words[i] = rng.choice(WORDS)
        return " ".join(words)
    if isinstance(value, dict):
        return {k: perturb(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [perturb(v, rng) for v in value]
    return value


def synthesize(templates: list[dict[str, Any]], n: int, path: Path, seed: int = 7) -> int:
    """Write ``n`` traces derived from ``templates`` to ``path``; returns its size in bytes."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            trace = perturb(templates[i % len(templates)], rng)
            trace["execution_id"] = f"run-bench-{i:06d}"
            trace["started_at"] = f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
            trace["mode"] = rng.choice(("execution", "simulation"))
            trace["final_outcome"] = "success" if rng.random() < 0.9 else "failure"
            if trace["final_outcome"] == "failure":
                trace["error"] = {"message": "the step timed out", "step": "fetch", "type": "ToolTimeout"}
            trace["quality_metrics"] = dict(trace["quality_metrics"], score=round(rng.random(), 4))
            handle.write(json.dumps(trace, ensure_ascii=False) + "\n")
    return path.stat().st_size


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in kB (Linux /proc; 0 once it has exited)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        todo += [int(c) for c in children]
    return total


def export(traces: Path, out: Path, *extra: str) -> tuple[float, float, float, dict[str, Any]]:
    """Run the export command in a subprocess.

    Returns:
        Seconds, the largest peak RSS of one process (``ru_maxrss``), the peak of the whole process
        tree's RSS (sampled every 20 ms: the export's worker processes included), both in MB, and
        the export's JSON summary.
    """
    code = "import sys; from llmos._cli_dataset import export_command; export_command(sys.argv[1:])"
    args = [sys.executable, "-c", code, "--format", "openai", "--in", str(traces), "--out", str(out), "--json", *extra]
    started = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree_kb = 0
    while child.poll() is None:
        tree_kb = max(tree_kb, _tree_rss_kb(child.pid))
        time.sleep(0.02)
    stdout, stderr = child.communicate()
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"export failed ({child.returncode}): {stderr}")
    one_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
    return elapsed, one_mb, tree_kb / 1024, json.loads(stdout)


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        templates = real_traces(folder)
        traces = folder / "traces.jsonl"
        size = synthesize(templates, n, traces)
        seconds, one_mb, tree_mb, summary = export(traces, folder / "train.jsonl")
        written = (folder / "train.jsonl").stat().st_size
        print(f"traces: {n} ({size / 1e6:.1f} MB)  examples written: {summary['written']} ({written / 1e6:.1f} MB)")
        kept = f"duplicates removed: {summary['duplicates']}  invalid: {summary['invalid']}"
        print(f"{kept}  redactions: {summary['redactions']}")
        print(f"export --format openai (default workers): {seconds:.2f} s end to end (target < {TARGET_S:.0f} s)")
        print(
            f"  peak memory: {tree_mb:.0f} MB for the whole process tree, {one_mb:.0f} MB for the largest "
            f"process (target < {TARGET_MB:.0f} MB)"
        )
        seconds, one_mb, tree_mb, _ = export(traces, folder / "train1.jsonl", "--workers", "1")
        same = (folder / "train1.jsonl").read_bytes() == (folder / "train.jsonl").read_bytes()
        print(f"export --format openai --workers 1: {seconds:.2f} s end to end, peak memory {tree_mb:.0f} MB")
        print(f"  same output as with the default workers: {same}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
