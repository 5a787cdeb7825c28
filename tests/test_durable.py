"""Durable execution: resume from the journal, people in the loop, the workspace lock, retries.

The kill -9 harness is in test_crash_resume.py; the WebFetch fault matrix in test_webfetch_faults.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmos.approval import ApprovalRequest, Decision, approve_all
from llmos.cli import main
from llmos.engine import resume_run, run_scenario
from llmos.exceptions import StateError, WorkspaceLocked
from llmos.state import load_state, read_journal, recover_state

APPROVE = """---
name: Approve
goal: write two lines, the second only with a person's approval
steps:
  - id: first
    component: RealShellTool
    inputs: {command: "echo first >> log.txt"}
  - id: second
    component: RealShellTool
    approval: required
    inputs: {command: "echo second >> log.txt"}
  - id: read
    component: RealFileSystemTool
    tool: Read
    inputs: {file_path: log.txt}
---
"""


@pytest.fixture
def approve_scenario(project: Path) -> Path:
    path = project / "scenarios" / "Approve.md"
    path.write_text(APPROVE)
    return path


def log(project: Path) -> list[str]:
    return (project / "workspace" / "log.txt").read_text().split()


def journal(result) -> list[dict]:  # type: ignore[no-untyped-def]
    return read_journal(result.run_dir / "journal.jsonl")


def trace(project: Path) -> dict:
    lines = (project / "workspace" / "datasets" / "traces.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


# -- people in the loop ----------------------------------------------------------------------------


def test_an_approval_pause_shows_what_is_pending_and_why(approve_scenario: Path, project: Path) -> None:
    result = run_scenario(approve_scenario, provider="scripted")
    assert (result.status, result.exit_code) == ("paused", 3)
    state = load_state(project / "workspace" / "execution_state.md")
    assert (state.status, state.phase, state.current_step) == ("paused", "PAUSED", None)
    assert state.pending == {
        "step": "second",
        "kind": "approval",
        "reason": "the step requires a person's approval (approval: required)",
        "since": state.pending["since"],
    }
    body = (project / "workspace" / "execution_state.md").read_text()
    assert "Waiting for a person" in body and "llmos approve" in body
    assert log(project) == ["first"]


def test_llmos_approve_runs_the_step_and_finishes_the_run(approve_scenario: Path, project: Path) -> None:
    paused = run_scenario(approve_scenario, provider="scripted")
    out = CliRunner().invoke(
        main, ["approve", paused.execution_id, "--root", str(project), "--reason", "checked the command", "--json"]
    )
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert [s["status"] for s in summary["steps"]] == ["completed", "completed", "completed"]
    assert log(project) == ["first", "second"]  # the first step did not run again
    assert trace(project)["human_feedback"] == [
        {
            "seq": trace(project)["human_feedback"][0]["seq"],
            "at": trace(project)["human_feedback"][0]["at"],
            "step": "second",
            "question": "approval",
            "action": "approve",
            "reason": "checked the command",
            "by": "person",
        }
    ]


def test_llmos_reject_stops_the_run_and_records_the_reason(approve_scenario: Path, project: Path) -> None:
    paused = run_scenario(approve_scenario, provider="scripted")
    out = CliRunner().invoke(main, ["reject", paused.execution_id, "--root", str(project), "--reason", "not today"])
    assert out.exit_code == 1, out.output
    state = recover_state(paused.run_dir)
    assert (state.status, state.phase) == ("failed", "FAILED")
    assert state.error == {
        "message": "step 'second': rejected by person: not today",
        "step": "second",
        "type": "Rejected",
    }
    assert [(s.id, s.status) for s in state.steps] == [
        ("first", "completed"),
        ("second", "rejected"),
        ("read", "pending"),
    ]
    assert log(project) == ["first"]
    feedback = trace(project)["human_feedback"]
    assert [(f["action"], f["reason"]) for f in feedback] == [("reject", "not today")]


def test_llmos_reject_requires_a_reason(approve_scenario: Path, project: Path) -> None:
    paused = run_scenario(approve_scenario, provider="scripted")
    out = CliRunner().invoke(main, ["reject", paused.execution_id, "--root", str(project)])
    assert out.exit_code == 2
    assert "Missing option '--reason'" in out.output


def test_llmos_skip_goes_on_without_the_step(approve_scenario: Path, project: Path) -> None:
    paused = run_scenario(approve_scenario, provider="scripted")
    out = CliRunner().invoke(main, ["skip", paused.execution_id, "--root", str(project)])
    assert out.exit_code == 0, out.output
    assert [(s.id, s.status) for s in recover_state(paused.run_dir).steps] == [
        ("first", "completed"),
        ("second", "skipped"),
        ("read", "completed"),
    ]
    assert log(project) == ["first"]


def test_answering_a_run_that_waits_for_nothing_is_a_clear_error(approve_scenario: Path, project: Path) -> None:
    paused = run_scenario(approve_scenario, provider="scripted")
    CliRunner().invoke(main, ["approve", paused.execution_id, "--root", str(project)])
    out = CliRunner().invoke(main, ["approve", paused.execution_id, "--root", str(project)])
    assert out.exit_code == 2
    assert f"run {paused.execution_id} is completed and waits for no answer" in out.output


def test_yes_approves_everything(approve_scenario: Path, project: Path) -> None:
    out = CliRunner().invoke(main, ["run", str(approve_scenario), "--provider", "scripted", "--yes"])
    assert out.exit_code == 0, out.output
    assert log(project) == ["first", "second"]
    assert [(f["action"], f["by"]) for f in trace(project)["human_feedback"]] == [("approve", "--yes")]


def test_an_approver_is_asked_in_place_with_the_rendered_inputs(approve_scenario: Path, project: Path) -> None:
    asked: list[ApprovalRequest] = []

    def person(request: ApprovalRequest) -> Decision:
        asked.append(request)
        return Decision(action="approve", reason="fine")

    result = run_scenario(approve_scenario, provider="scripted", approver=person)
    assert result.status == "completed"
    assert asked == [
        ApprovalRequest(
            execution_id=result.execution_id,
            step="second",
            component="RealShellTool",
            kind="approval",
            reason="the step requires a person's approval (approval: required)",
            inputs={"command": "echo second >> log.txt"},
            side_effects=("whatever the command changes", "starting in the workspace"),
        )
    ]


def test_confirm_side_effects_asks_before_each_step_that_changes_the_world(approve_scenario: Path) -> None:
    asked: list[tuple[str, str]] = []

    def person(request: ApprovalRequest) -> Decision:
        asked.append((request.step, request.kind))
        return approve_all(request)

    result = run_scenario(approve_scenario, provider="scripted", approver=person, confirm="side-effects")
    assert result.status == "completed"
    # The Read step has no side effects; the second step asks once, for its approval.
    assert asked == [("first", "side_effects"), ("second", "approval")]


def test_simulation_never_asks_about_side_effects(approve_scenario: Path) -> None:
    result = run_scenario(
        approve_scenario, provider="scripted", mode="simulation", approver=approve_all, confirm="side-effects"
    )
    assert result.status == "completed"
    assert [line["data"]["question"] for line in journal(result) if line["kind"] == "decision"] == ["approval"]


# -- resume ----------------------------------------------------------------------------------------


COUNT = """---
name: Count
goal: append three lines
steps:
  - id: a
    component: RealShellTool
    inputs: {command: "echo a >> count.txt"}
  - id: b
    component: RealShellTool
    inputs: {command: "echo b >> count.txt"}
  - id: c
    component: RealFileSystemTool
    tool: Read
    inputs: {file_path: count.txt}
---
"""


def interrupted_run(project: Path, *, after: int) -> Path:
    """A Count run whose runner 'stopped' after ``after`` transitions: the journal cut there and
    the state files left one transition behind, as a kill between the two writes leaves them."""
    (project / "scenarios" / "Count.md").write_text(COUNT)
    done = run_scenario(project / "scenarios" / "Count.md", provider="scripted")
    lines = (done.run_dir / "journal.jsonl").read_text().splitlines(keepends=True)
    (done.run_dir / "journal.jsonl").write_text("".join(lines[:after]))
    (project / "workspace" / "datasets" / "traces.jsonl").unlink()
    return done.run_dir


def test_resume_continues_after_the_last_completed_step(project: Path) -> None:
    run_dir = interrupted_run(project, after=6)  # a completed; b not started
    (project / "workspace" / "count.txt").write_text("a\n")
    result = resume_run(workspace=project / "workspace")
    assert result.status == "completed", result.error
    assert (project / "workspace" / "count.txt").read_text() == "a\nb\n"
    kinds = [(line["kind"], line.get("step"), line["target"]) for line in read_journal(run_dir / "journal.jsonl")]
    assert kinds[6] == ("resume", None, "EXECUTE")
    assert [k for k in kinds if k[1] == "a"] == [
        ("step", "a", "running"),
        ("tool_call", "a", "ok"),
        ("step", "a", "completed"),
    ]


def test_a_step_caught_running_that_is_not_idempotent_waits_for_a_person(project: Path) -> None:
    run_dir = interrupted_run(project, after=5)  # a running, its call recorded, not completed
    (project / "workspace" / "count.txt").write_text("a\n")
    result = resume_run(workspace=project / "workspace")
    assert (result.status, result.exit_code) == ("paused", 3)
    state = recover_state(run_dir)
    assert (state.pending["step"], state.pending["kind"]) == ("a", "rerun")
    assert "RealShellTool is not idempotent" in state.pending["reason"]
    out = CliRunner().invoke(main, ["skip", "--workspace", str(project / "workspace")])
    assert out.exit_code == 0, out.output
    assert (project / "workspace" / "count.txt").read_text() == "a\nb\n"


def test_an_idempotent_step_caught_running_runs_again_without_asking(project: Path) -> None:
    run_dir = interrupted_run(project, after=10)  # c (a Read) running
    result = resume_run(workspace=project / "workspace")
    assert result.status == "completed", result.error
    notes = [line.get("detail", "") for line in read_journal(run_dir / "journal.jsonl") if line.get("step") == "c"]
    assert "its component is idempotent, so it runs again" in notes[1]


def test_a_run_interrupted_before_its_plan_is_planned_again(project: Path) -> None:
    interrupted_run(project, after=1)
    (project / "workspace" / "count.txt").unlink(missing_ok=True)
    result = resume_run(workspace=project / "workspace")
    assert result.status == "completed", result.error
    assert (project / "workspace" / "count.txt").read_text() == "a\nb\n"


def test_a_damaged_state_file_is_rebuilt_from_the_journal(project: Path) -> None:
    run_dir = interrupted_run(project, after=6)
    (run_dir / "execution_state.md").write_bytes(b"\x00" * 100)  # a power loss before writeback
    (project / "workspace" / "execution_state.md").unlink()
    (project / "workspace" / "count.txt").write_text("a\n")
    result = resume_run(result_id := run_dir.name, workspace=project / "workspace")
    assert (result.status, result.execution_id) == ("completed", result_id)
    assert load_state(run_dir / "execution_state.md").status == "completed"


def test_a_torn_last_journal_line_is_ignored_and_cut_off_on_resume(project: Path) -> None:
    run_dir = interrupted_run(project, after=6)
    with (run_dir / "journal.jsonl").open("a") as handle:
        handle.write('{"seq": 7, "at": "2026-')
    assert recover_state(run_dir).transition_count == 6
    (project / "workspace" / "count.txt").write_text("a\n")
    assert resume_run(workspace=project / "workspace").status == "completed"
    lines = read_journal(run_dir / "journal.jsonl")
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert lines[6]["kind"] == "resume"


def test_an_unknown_schema_version_is_refused_on_resume(project: Path) -> None:
    run_dir = interrupted_run(project, after=6)
    state = run_dir / "execution_state.md"
    state.write_text(state.read_text().replace("schema_version: 2", "schema_version: 7", 1))
    with pytest.raises(StateError, match="unknown state schema_version 7; this runner reads version 2"):
        resume_run(run_dir.name, workspace=project / "workspace")


def test_resuming_a_finished_run_changes_nothing(project: Path) -> None:
    (project / "scenarios" / "Count.md").write_text(COUNT)
    done = run_scenario(project / "scenarios" / "Count.md", provider="scripted")
    again = resume_run(workspace=project / "workspace")
    assert (again.status, again.execution_id) == ("completed", done.execution_id)
    assert len(read_journal(done.run_dir / "journal.jsonl")) == len(journal(done))
    assert (project / "workspace" / "count.txt").read_text() == "a\nb\n"


def test_a_budget_pause_resumes_with_a_higher_budget(project: Path, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    costly = tmp_path / "costly.yaml"
    costly.write_text(
        "- step: summarize\n  cost_usd: 0.75\n  output: {summary: 'A summary that is long enough "
        "to pass the schema.', key_points: [Point one.]}\n"
    )
    paused = run_scenario(
        project / "scenarios" / "RealWorld_Research_Task.md",
        inputs={"url": server.url("/page.html")},
        provider="scripted",
        script=costly,
    )
    assert paused.status == "paused"
    fetched = len(server.requests)
    out = CliRunner().invoke(
        main, ["run", "--resume", paused.execution_id, "--root", str(project), "--budget", "2"]
    )  # the run's own --script is used again
    assert out.exit_code == 0, out.output
    assert len(server.requests) == fetched  # the page was not fetched again
    state = recover_state(paused.run_dir)
    assert [s.status for s in state.steps] == ["completed"] * 4
    assert (state.script, state.cost_usd) == (str(costly), 0.75)  # recorded, to answer again on resume


def test_resume_without_a_scenario_or_with_both_is_a_usage_error(project: Path) -> None:
    out = CliRunner().invoke(main, ["run"])
    assert out.exit_code == 2 and "give a SCENARIO to run, or --goal TEXT, or --resume" in out.output
    out = CliRunner().invoke(main, ["run", "x.md", "--resume", "run-1"])
    assert out.exit_code == 2 and "--resume continues a run as it was planned" in out.output


def test_resume_names_a_missing_run(project: Path) -> None:
    out = CliRunner().invoke(main, ["run", "--resume", "run-nope", "--root", str(project)])
    assert out.exit_code == 2
    assert "no run 'run-nope'" in out.output


# -- one run per workspace -------------------------------------------------------------------------

SLOW = """---
name: Slow
goal: hold the workspace for a while
steps:
  - id: wait
    component: RealShellTool
    inputs: {command: "sleep 3"}
---
"""


def start_slow_run(project: Path) -> subprocess.Popen[bytes]:
    (project / "scenarios" / "Slow.md").write_text(SLOW)
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmos.cli", "run", "scenarios/Slow.md", "--provider", "scripted"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    holder = project / "workspace" / ".llmos" / "holder.json"
    deadline = time.monotonic() + 30
    while not (holder.exists() and json.loads(holder.read_text() or "{}").get("execution_id")):
        assert time.monotonic() < deadline and proc.poll() is None, "the slow run never took the lock"
        time.sleep(0.02)
    return proc


def test_a_second_run_on_a_busy_workspace_is_refused_naming_the_holder(project: Path, approve_scenario: Path) -> None:
    proc = start_slow_run(project)
    try:
        holder = json.loads((project / "workspace" / ".llmos" / "holder.json").read_text())
        with pytest.raises(WorkspaceLocked) as info:
            run_scenario(approve_scenario, provider="scripted")
        message = str(info.value)
        assert f"is in use by run {holder['execution_id']}, pid {proc.pid}" in message
        assert info.value.holder["pid"] == proc.pid
        assert not (project / "workspace" / "log.txt").exists()
    finally:
        proc.wait()
    assert run_scenario(approve_scenario, provider="scripted", approver=approve_all).status == "completed"


def test_the_lock_of_a_killed_run_is_taken_over(project: Path, approve_scenario: Path) -> None:
    proc = start_slow_run(project)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lines: list[str] = []
    result = run_scenario(approve_scenario, provider="scripted", approver=approve_all, progress=lines.append)
    assert result.status == "completed"
    assert any(line.startswith("took over the workspace lock left by run-") for line in lines)
    assert f"(pid {proc.pid}, no longer running)" in " ".join(lines)


# -- errors ----------------------------------------------------------------------------------------


def test_every_failed_attempt_is_recorded_with_the_wait_before_the_next(project: Path) -> None:
    (project / "scenarios" / "Flaky.md").write_text(
        "---\nname: Flaky\ngoal: g\nsteps:\n  - id: run\n    component: RealShellTool\n    on_error: retry\n"
        "    inputs: {command: 'test -f marker || { touch marker; exit 1; }'}\n---\n"
    )
    result = run_scenario(project / "scenarios" / "Flaky.md", provider="scripted")
    assert result.status == "completed", result.error
    calls = [line for line in journal(result) if line["kind"] == "tool_call"]
    assert [(c["target"], c["data"]["attempt"]) for c in calls] == [("error", 1), ("ok", 2)]
    assert 0 < calls[0]["data"]["retry_in_s"] < 10
    assert "retry_in_s" not in calls[1]["data"]


def test_a_terminal_is_asked_in_place(approve_scenario: Path, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("llmos.cli._stdin_is_terminal", lambda: True)
    out = CliRunner().invoke(main, ["run", str(approve_scenario), "--provider", "scripted"], input="skip\nnot now\n")
    assert out.exit_code == 0, out.output
    assert "step second (RealShellTool) needs your answer: the step requires a person's approval" in out.output
    assert "command: echo second >> log.txt" in out.output
    assert log(project) == ["first"]
    assert [(f["action"], f["reason"], f["by"]) for f in trace(project)["human_feedback"]] == [
        ("skip", "not now", "person")
    ]


def test_a_search_honours_its_component_s_timeout(tmp_path: Path) -> None:
    from llmos.exceptions import ToolError
    from llmos.policy import Policy
    from llmos.tools import TOOLS, ToolContext

    for i in range(300):
        (tmp_path / f"f{i}.txt").write_text("needle\n")
    ctx = ToolContext(policy=Policy(workspace=tmp_path), timeout_s=0, max_bytes=1000)
    with pytest.raises(ToolError, match="the search took longer than its timeout of 0 s"):
        TOOLS["Grep"].run({"pattern": "needle"}, ctx)
    with pytest.raises(ToolError, match="the search took longer than its timeout of 0 s"):
        TOOLS["Glob"].run({"pattern": "**/*.txt"}, ctx)
