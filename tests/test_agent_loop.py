"""The runner's own agent loop: a scripted agent's tool calls run with the runner's tools under the
security policy, are fed back to the agent, and are recorded like every other tool call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmos.cli import run_command
from llmos.engine import run_scenario
from llmos.providers.scripted import ScriptedProvider
from llmos.state import load_state

ANSWER = {"step": "note", "output": {"path": "notes/note.md", "lines": 2}}


def calls(*pairs: tuple[str, dict]) -> dict:
    return {"step": "note", "tool_calls": [{"name": name, "input": args} for name, args in pairs]}


def script(tmp_path: Path, *answers: dict) -> Path:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(list(answers)))
    return path


def journal(result) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(line) for line in (result.run_dir / "journal.jsonl").read_text().splitlines()]


def tool_calls(result) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [
        (t["target"], t["data"]["tool"], t["data"]["runtime"], t["data"]["source"])
        for t in journal(result)
        if t["kind"] == "tool_call"
    ]


def test_tool_calls_run_for_real_and_are_recorded(note_project: Path, tmp_path: Path) -> None:
    path = script(
        tmp_path,
        calls(("Write", {"file_path": "notes/note.md", "content": "# State machines\nThey have states.\n"})),
        calls(("Bash", {"command": "wc -l notes/note.md"}), ("Read", {"file_path": "notes/note.md"})),
        ANSWER,
    )
    result = run_scenario(note_project / "scenarios" / "Note_Task.md", provider="scripted", script=path)

    assert (result.status, result.exit_code) == ("completed", 0)
    note = note_project / "workspace" / "notes" / "note.md"
    assert note.read_text() == "# State machines\nThey have states.\n"
    assert result.outputs == [str(note)]
    assert tool_calls(result) == [
        ("ok", "Write", "llmos", "real"),
        ("ok", "Bash", "llmos", "real"),
        ("ok", "Read", "llmos", "real"),
    ]
    [trace] = [json.loads(line) for line in (note_project / "workspace/datasets/traces.jsonl").read_text().splitlines()]
    assert [(c["tool"], c["component"], c["call_id"], c["performance"]["success"]) for c in trace["tool_calls"]] == [
        ("Write", "NoteTakerAgent", "call_1", True),
        ("Bash", "NoteTakerAgent", "call_2", True),
        ("Read", "NoteTakerAgent", "call_3", True),
    ]
    assert trace["tool_calls"][1]["outputs"]["stdout"].strip() == "2 notes/note.md"
    [agent] = trace["agent_steps"]
    assert agent["outputs"] == {"path": "notes/note.md", "lines": 2}
    state_text = result.state_path.read_text()
    assert "| tool_call | - | ok | note | NoteTakerAgent -> Bash |" in state_text


def run_note(project: Path, provider: ScriptedProvider | str = "scripted", **kwargs):  # type: ignore[no-untyped-def]
    return run_scenario(project / "scenarios" / "Note_Task.md", provider=provider, **kwargs)


def test_results_are_fed_back_to_the_agent(note_project: Path, tmp_path: Path) -> None:
    provider = ScriptedProvider(script(tmp_path, calls(("Bash", {"command": "echo hello"})), ANSWER))
    result = run_note(note_project, provider)

    assert result.status == "completed"
    first, second = provider.requests
    assert first.history == ()
    [turn] = second.history
    assert [(c.id, c.name, c.input) for c in turn.tool_calls] == [("call_1", "Bash", {"command": "echo hello"})]
    [res] = turn.results
    assert (res.ok, res.denied, res.output["stdout"], res.output["exit_code"]) == (True, False, "hello\n", 0)


def test_a_destructive_command_is_denied_recorded_and_never_runs(note_project: Path, tmp_path: Path) -> None:
    provider = ScriptedProvider(script(tmp_path, calls(("Bash", {"command": "rm -rf /"})), ANSWER))
    result = run_note(note_project, provider)

    assert result.status == "completed"  # the agent was told and answered anyway
    [denied] = [t for t in journal(result) if t["kind"] == "tool_call"]
    assert (denied["target"], denied["data"]["inputs"]) == ("denied", {"command": "rm -rf /"})
    assert denied["detail"].startswith("denied by the security policy: ")
    [res] = provider.requests[1].history[0].results
    assert res.denied
    assert res.error is not None and res.error.startswith("denied by the LLM-OS security policy")


def test_a_write_outside_the_workspace_is_denied(note_project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    path = script(tmp_path, calls(("Write", {"file_path": str(outside), "content": "x"})), ANSWER)
    result = run_note(note_project, script=path)

    assert not outside.exists()
    assert tool_calls(result) == [("denied", "Write", "llmos", "real")]
    assert result.outputs == []


def test_a_tool_the_agent_does_not_declare_is_denied(note_project: Path, tmp_path: Path) -> None:
    path = script(tmp_path, calls(("Grep", {"pattern": "x"})), ANSWER)
    result = run_note(note_project, script=path)

    [denied] = [t for t in journal(result) if t["kind"] == "tool_call"]
    assert denied["target"] == "denied"
    assert "Grep is not one of NoteTakerAgent's tools (Write, Bash, Read, Glob)" in denied["detail"]


def test_a_failing_tool_call_is_reported_to_the_agent_not_fatal(note_project: Path, tmp_path: Path) -> None:
    provider = ScriptedProvider(script(tmp_path, calls(("Read", {"file_path": "missing.md"})), ANSWER))
    result = run_note(note_project, provider)

    assert result.status == "completed"
    assert tool_calls(result) == [("error", "Read", "llmos", "real")]
    [res] = provider.requests[1].history[0].results
    assert (res.ok, res.denied) == (False, False)
    assert "missing.md" in (res.error or "")


def test_an_agent_that_never_answers_fails_after_max_turns(note_project: Path, tmp_path: Path) -> None:
    endless = [dict(calls(("Bash", {"command": "true"})), cost_usd=0.01) for _ in range(12)]
    result = run_note(note_project, script=script(tmp_path, *endless))

    assert (result.status, result.exit_code) == ("failed", 1)
    assert result.error == (
        "step 'note': provider 'scripted': the agent was still calling tools after max_turns (6) turns"
    )
    assert result.steps[0]["attempts"] == 2  # retried under the agent's retry policy
    assert result.cost_usd == pytest.approx(0.12)  # the failed attempts' turns still count
    assert len(tool_calls(result)) == 12


def test_a_budget_spent_during_the_step_pauses_the_run(note_project: Path, tmp_path: Path) -> None:
    turns = [dict(calls(("Bash", {"command": "echo step"})), cost_usd=0.3) for _ in range(3)]
    result = run_note(note_project, script=script(tmp_path, *turns, ANSWER), budget_usd=0.5)

    assert (result.status, result.exit_code, result.phase) == ("paused", 3, "PAUSED")
    assert result.cost_usd == pytest.approx(0.6)
    assert len(tool_calls(result)) == 2  # it stopped after the turn that spent the budget
    assert result.error is not None and "budget" in result.error
    state = load_state(result.state_path)
    [step] = state.steps
    assert (step.status, step.cost_usd) == ("pending", pytest.approx(0.6))
    assert state.paused_reason == result.error
    assert not (note_project / "workspace" / "datasets" / "traces.jsonl").exists()  # no trace for a paused run


def test_budget_option_on_the_command_line(note_project: Path, tmp_path: Path) -> None:
    turns = [dict(calls(("Bash", {"command": "echo step"})), cost_usd=0.3) for _ in range(3)]
    path = script(tmp_path, *turns, ANSWER)
    outcome = CliRunner().invoke(
        run_command,
        [
            str(note_project / "scenarios" / "Note_Task.md"),
            "--provider=scripted",
            f"--script={path}",
            "--budget=0.2",
            "--json",
        ],
    )
    assert outcome.exit_code == 3, outcome.output
    summary = json.loads(outcome.stdout)
    assert (summary["status"], summary["cost_usd"]) == ("paused", 0.3)


def test_simulation_mode_simulates_the_agents_tool_calls(note_project: Path, tmp_path: Path) -> None:
    path = script(tmp_path, calls(("Write", {"file_path": "notes/note.md", "content": "x"})), ANSWER)
    result = run_note(note_project, script=path, mode="simulation")

    assert result.status == "completed"
    assert not (note_project / "workspace" / "notes" / "note.md").exists()
    [call] = [t for t in journal(result) if t["kind"] == "tool_call"]
    assert (call["target"], call["data"]["mode"], call["data"]["source"]) == ("ok", "simulation", "example")
    assert result.outputs == []


def test_inner_calls_are_labelled_with_their_attempt(note_project: Path, tmp_path: Path) -> None:
    bash = calls(("Bash", {"command": "echo try"}))
    path = script(tmp_path, bash, {"step": "note", "text": "not JSON"}, bash, ANSWER)
    result = run_note(note_project, script=path)

    assert (result.status, result.steps[0]["attempts"]) == ("completed", 2)
    assert [t["data"]["attempt"] for t in journal(result) if t["kind"] == "tool_call"] == [1, 2]


FOR_EACH = """---
name: Notes_Task
goal: Write notes about several topics.
steps:
  - id: note
    component: NoteTakerAgent
    for_each: "{{ ['a', 'b', 'c'] }}"
    inputs:
      topic: "{{ item }}"
budget_usd: 0.5
---
"""


def test_a_budget_spent_inside_for_each_keeps_the_finished_items(note_project: Path, tmp_path: Path) -> None:
    (note_project / "scenarios" / "Notes_Task.md").write_text(FOR_EACH)
    provider = ScriptedProvider(
        script(tmp_path, dict(ANSWER, cost_usd=0.3), dict(calls(("Bash", {"command": "echo b"})), cost_usd=0.3), ANSWER)
    )
    result = run_scenario(note_project / "scenarios" / "Notes_Task.md", provider=provider)

    assert (result.status, result.exit_code) == ("paused", 3)
    assert result.cost_usd == pytest.approx(0.6)
    state = load_state(result.state_path)
    [step] = state.steps
    assert step.status == "pending"
    assert step.outputs == {"completed_items": [ANSWER["output"]]}
    assert step.note is not None and step.note.endswith("1 item(s) finished before it stopped")
    assert len(provider.requests) == 2  # item c never reached the provider


def test_no_call_is_made_with_nothing_left_of_the_budget(note_project: Path, tmp_path: Path) -> None:
    (note_project / "scenarios" / "Notes_Task.md").write_text(FOR_EACH)
    provider = ScriptedProvider(script(tmp_path, dict(ANSWER, cost_usd=0.5), ANSWER))
    result = run_scenario(note_project / "scenarios" / "Notes_Task.md", provider=provider)

    assert (result.status, result.cost_usd) == ("paused", 0.5)
    assert len(provider.requests) == 1
    assert "nothing is left of the run's budget" in (result.error or "")
