"""Crash safety: runs killed with SIGKILL at random transitions, then resumed until they complete.

The scenario's steps count themselves: each Bash step appends its id to ``count.txt`` (a side
effect that is not idempotent) and each Write step writes a file (idempotent). After every kill the
state files must parse; at the end every run must be complete, no step may have run again after it
was recorded completed, and a Bash step may have run more than once only where a person (here: the
harness, through ``llmos approve``) approved running it again after a crash caught it mid-way.

``LLMOS_KILL_ROUNDS`` sets how many kills to reach (default 50); ``LLMOS_KILL_SEED`` the seed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from llmos.state import load_state, read_journal

KILLS = int(os.environ.get("LLMOS_KILL_ROUNDS", "50"))
SEED = int(os.environ.get("LLMOS_KILL_SEED", "2026"))
BASH_STEPS = [f"b{i}" for i in range(6)]
WRITE_STEPS = [f"w{i}" for i in range(6)]


def scenario() -> str:
    steps = []
    for bash, write in zip(BASH_STEPS, WRITE_STEPS, strict=True):
        steps.append(
            f"  - id: {bash}\n    component: RealShellTool\n    inputs: {{command: 'echo {bash} >> count.txt'}}\n"
        )
        steps.append(
            f"  - id: {write}\n    component: RealFileSystemTool\n    tool: Write\n"
            f"    inputs: {{file_path: 'out/{write}.txt', content: 'written by {write}'}}\n"
        )
    return "---\nname: Counting\ngoal: count every side effect\nsteps:\n" + "".join(steps) + "---\n"


def llmos(project: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start ``llmos ARGS`` in the project; its stderr goes to ``project/stderr.log``."""
    with (project / "stderr.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "llmos.cli", *args],
            cwd=project,
            stdout=subprocess.DEVNULL,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )


def journal_length(workspace: Path) -> int:
    journals = list(workspace.glob("runs/*/journal.jsonl"))
    return journals[0].read_bytes().count(b"\n") if journals else 0


def run_until_killed(proc: subprocess.Popen[bytes], workspace: Path, target: int, rng: random.Random) -> bool:
    """Let ``proc`` run until its journal has ``target`` lines (plus a random few milliseconds),
    then SIGKILL it; ``False`` when it ended on its own first."""
    while proc.poll() is None:
        if journal_length(workspace) >= target:
            time.sleep(rng.random() * 0.004)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.0005)
    return False


def check_state_files(workspace: Path) -> None:
    """Whatever moment the kill hit, every state file there is whole and parses."""
    for path in [workspace / "execution_state.md", *workspace.glob("runs/*/execution_state.md")]:
        if path.exists():
            load_state(path)


@pytest.fixture
def counting(project: Path) -> Path:
    path = project / "scenarios" / "Counting.md"
    path.write_text(scenario())
    return path


def test_runs_killed_at_random_transitions_resume_to_completion_without_repeating_completed_steps(
    project: Path, counting: Path
) -> None:
    rng = random.Random(SEED)
    kills = runs = 0
    while kills < KILLS:
        runs += 1
        workspace = project / f"ws{runs}"
        args = ["--provider", "scripted", "--workspace", str(workspace), "--json"]
        proc = llmos(project, "run", str(counting), *args)
        # A run of 12 steps records 42 transitions: kill it after any of the first 41 (the kill
        # may still come too late, and the run simply completes).
        if run_until_killed(proc, workspace, rng.randint(1, 41), rng):
            kills += 1
            check_state_files(workspace)
        elif proc.returncode == 0:
            check_run(workspace)
            continue
        history = []
        for _attempt in range(30):
            mirror = workspace / "execution_state.md"
            if not list(workspace.glob("runs/*/journal.jsonl")):
                proc = llmos(project, "run", str(counting), *args)  # killed before its first transition
            elif not mirror.exists():  # killed before the first state file was written
                proc = llmos(project, "run", "--resume", *args)
            else:
                state = load_state(mirror)
                command = ["approve", state.execution_id] if state.status == "paused" else ["run", "--resume"]
                proc = llmos(project, *command, *args)
                history.append((state.status, state.phase, state.transition_count, command[0]))
            if kills < KILLS and rng.random() < 0.5:
                if run_until_killed(proc, workspace, journal_length(workspace) + rng.randint(1, 12), rng):
                    kills += 1
                    check_state_files(workspace)
                    continue
            else:
                proc.wait()
            if proc.returncode == 0:
                break
            assert proc.returncode == 3, (project / "stderr.log").read_text()
        else:
            pytest.fail(f"run {runs} did not complete after 30 resumes: {history}")
        check_run(workspace)
    assert kills >= KILLS


def check_run(workspace: Path) -> None:
    (run_dir,) = workspace.glob("runs/*")
    state = load_state(run_dir / "execution_state.md")
    assert (state.status, state.phase, state.step_counts) == ("completed", "COMPLETED", {"completed": 12})
    journal = read_journal(run_dir / "journal.jsonl")
    assert [line["seq"] for line in journal] == list(range(1, len(journal) + 1))
    # No completed step ever ran again.
    completed: set[str] = set()
    for line in journal:
        if line["kind"] == "step" and line["target"] == "completed":
            assert line["step"] not in completed, f"step {line['step']} completed twice"
            completed.add(line["step"])
        elif line.get("step") in completed and line["kind"] in {"step", "tool_call"}:
            pytest.fail(f"step {line['step']} did something after it completed: {json.dumps(line)[:300]}")
    assert completed == {*BASH_STEPS, *WRITE_STEPS}
    # A Bash step ran once, or again only where a crash caught it mid-way and a person approved a re-run.
    reruns = Counter(
        line["step"] for line in journal if line["kind"] == "decision" and line["data"]["question"] == "rerun"
    )
    counts = Counter((workspace / "count.txt").read_text().split())
    for step in BASH_STEPS:
        assert 1 <= counts[step] <= 1 + reruns[step], (step, counts[step], reruns[step])
    for step in WRITE_STEPS:
        assert (workspace / "out" / f"{step}.txt").read_text() == f"written by {step}"
    assert set(reruns) <= set(BASH_STEPS), "idempotent Write steps are re-run without asking"
