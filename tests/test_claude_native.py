"""Claude Code native: a run Claude Code wrote by hand, in ExecutionStateTemplate.md's format, is
read and resumed by the runner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from llmos.cli import main
from llmos.state import load_state, read_journal, recover_state

EID = "run-20260101-120000-c0ffee"

# What Claude Code writes, following CLAUDE.md and ExecutionStateTemplate.md: block-style YAML, the
# plan inline, the first step done, the run interrupted before the second.
HAND_WRITTEN = """---
schema_version: 2
execution_id: {eid}
scenario: Lines
scenario_path: {root}/scenarios/Lines.md
goal: write two lines
mode: execution
provider: claude-code
status: running
phase: EXECUTE
started_at: '2026-01-01T12:00:00.000Z'
updated_at: '2026-01-01T12:00:05.000Z'
duration_s: 5.0
project_root: {root}
workspace: {root}/workspace
inputs: {{}}
plan:
  - id: a
    component: RealShellTool
    inputs:
      command: echo a >> log.txt
  - id: b
    component: RealShellTool
    inputs:
      command: echo b >> log.txt
steps:
  - id: a
    component: RealShellTool
    kind: tool
    tool: Bash
    status: completed
    attempts: 1
    started_at: '2026-01-01T12:00:01.000Z'
    finished_at: '2026-01-01T12:00:02.000Z'
    duration_s: 1.0
    outputs:
      stdout: ''
      exit_code: 0
    source: real
  - id: b
    component: RealShellTool
    kind: tool
    tool: Bash
    status: pending
cursor: 1
current_step: null
cost_usd: 0.0
budget_usd: null
transition_count: 6
recent_transitions:
  - {{seq: 6, at: '2026-01-01T12:00:02.000Z', kind: step, source: running, target: completed, step: a}}
error: null
paused_reason: null
outputs: []
---

# Execution state · {eid}

Written by Claude Code acting as SystemAgent.
"""

SCENARIO = """---
name: Lines
goal: write two lines
steps:
  - id: a
    component: RealShellTool
    inputs: {command: echo a >> log.txt}
  - id: b
    component: RealShellTool
    inputs: {command: echo b >> log.txt}
---
"""


def hand_written_run(project: Path, *, journal: bool) -> Path:
    (project / "scenarios" / "Lines.md").write_text(SCENARIO)
    run_dir = project / "workspace" / "runs" / EID
    run_dir.mkdir(parents=True)
    (run_dir / "execution_state.md").write_text(HAND_WRITTEN.format(eid=EID, root=project))
    if journal:
        lines = [
            {"seq": 1, "at": "2026-01-01T12:00:00.000Z", "kind": "phase", "source": "", "target": "INITIALIZE"},
            {"seq": 2, "at": "2026-01-01T12:00:00.100Z", "kind": "phase", "source": "INITIALIZE", "target": "PLAN"},
            {"seq": 3, "at": "2026-01-01T12:00:00.200Z", "kind": "phase", "source": "PLAN", "target": "EXECUTE"},
            {
                "seq": 4,
                "at": "2026-01-01T12:00:01.000Z",
                "kind": "step",
                "source": "pending",
                "target": "running",
                "step": "a",
            },
            {
                "seq": 5,
                "at": "2026-01-01T12:00:02.000Z",
                "kind": "tool_call",
                "source": "",
                "target": "ok",
                "step": "a",
            },
            {
                "seq": 6,
                "at": "2026-01-01T12:00:02.000Z",
                "kind": "step",
                "source": "running",
                "target": "completed",
                "step": "a",
            },
        ]
        (run_dir / "journal.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (project / "workspace" / "log.txt").write_text("a\n")
    return run_dir


def test_the_runner_reads_a_hand_written_state_file(project: Path) -> None:
    run_dir = hand_written_run(project, journal=False)
    state = load_state(run_dir / "execution_state.md")
    assert (state.execution_id, state.status, state.phase, state.cursor) == (EID, "running", "EXECUTE", 1)
    assert [(s.id, s.status) for s in state.steps] == [("a", "completed"), ("b", "pending")]
    assert state.step_counts == {"completed": 1, "pending": 1}


def test_a_hand_written_run_is_resumed_without_repeating_its_done_step(project: Path) -> None:
    run_dir = hand_written_run(project, journal=True)
    out = CliRunner().invoke(main, ["run", "--resume", EID, "--root", str(project), "--provider", "scripted"])
    assert out.exit_code == 0, out.output
    assert (project / "workspace" / "log.txt").read_text() == "a\nb\n"
    journal = read_journal(run_dir / "journal.jsonl")
    assert [line["seq"] for line in journal] == list(range(1, len(journal) + 1))
    assert journal[6]["kind"] == "resume" and [s["id"] for s in journal[6]["snapshots"]] == ["a", "b"]
    state = recover_state(run_dir)  # the journal now rebuilds the whole run
    assert (state.status, state.provider) == ("completed", "scripted")  # who answered from the resume on
    assert [(s.id, s.status) for s in state.steps] == [("a", "completed"), ("b", "completed")]
    assert load_state(run_dir / "execution_state.md").status == "completed"


def test_a_hand_written_run_without_a_journal_is_resumed_too(project: Path) -> None:
    run_dir = hand_written_run(project, journal=False)
    out = CliRunner().invoke(main, ["run", "--resume", EID, "--root", str(project), "--provider", "scripted"])
    assert out.exit_code == 0, out.output
    assert (project / "workspace" / "log.txt").read_text() == "a\nb\n"
    assert [s.status for s in recover_state(run_dir).steps] == ["completed", "completed"]
