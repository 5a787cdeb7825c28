"""End to end: scenarios run through the engine against a loopback server, with the scripted provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Server, closed_port, reply
from llmos.engine import run_scenario
from llmos.memory import load_entries
from llmos.state import RECENT_TRANSITIONS, load_state

RESEARCH = "scenarios/RealWorld_Research_Task.md"

SCRIPT = """
- step: summarize
  agent: RealSummarizationAgent
  output:
    summary: The chapter explains how Debian handles locales, keyboard input and display output for many languages.
    key_points:
      - Locales select the language and character encoding.
      - Input methods such as IBus handle complex scripts.
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "answers.yaml"
    path.write_text(SCRIPT)
    return path


def traces(project: Path) -> list[dict]:
    path = project / "workspace" / "datasets" / "traces.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_research_task_on_a_real_page(project: Path, server: Server, script: Path) -> None:
    result = run_scenario(
        project / RESEARCH, inputs={"url": server.url("/page.html")}, provider="scripted", script=script
    )
    assert (result.status, result.exit_code, result.error) == ("completed", 0, None)

    run_dir = project / "workspace" / "runs" / result.execution_id
    page = (run_dir / "page.md").read_text()
    assert page.startswith(f"<!-- fetched from {server.url('/page.html')} (HTTP 200, 47537 bytes, utf-8)")
    assert "The locale" in page
    summary = (run_dir / "summary.md").read_text()
    assert "The chapter explains how Debian handles locales" in summary
    assert "- Input methods such as IBus handle complex scripts.\n" in summary
    assert result.outputs == [str(run_dir / "page.md"), str(run_dir / "summary.md")]

    state = load_state(run_dir / "execution_state.md")
    assert (state.status, state.phase) == ("completed", "COMPLETED")
    assert [(s.id, s.status, s.source) for s in state.steps] == [
        ("fetch", "completed", "real"),
        ("summarize", "completed", "generated"),
        ("save_page", "completed", "real"),
        ("save_summary", "completed", "real"),
    ]
    assert load_state(project / "workspace" / "execution_state.md") == state

    [trace] = traces(project)
    assert trace["execution_id"] == result.execution_id
    assert [(c["step"], c["tool"], c["performance"]["success"], c["source"]) for c in trace["tool_calls"]] == [
        ("fetch", "WebFetch", True, "real"),
        ("save_page", "Write", True, "real"),
        ("save_summary", "Write", True, "real"),
    ]
    assert trace["tool_calls"][0]["inputs"] == {
        "url": server.url("/page.html"),
        "prompt": "Extract the main content of the page.",
    }
    assert "The locale" in trace["tool_calls"][0]["outputs"]["content"]  # artifacts are inlined again
    [agent] = trace["agent_steps"]
    assert (agent["step"], agent["provider"], agent["source"]) == ("summarize", "scripted", "generated")
    assert trace["final_outcome"] == "success"
    phases = [(t["from"], t["to"]) for t in trace["state_transitions"] if t["kind"] == "phase"]
    assert phases == [
        ("", "INITIALIZE"),
        ("INITIALIZE", "PLAN"),
        ("PLAN", "EXECUTE"),
        ("EXECUTE", "UPDATE_MEMORY"),
        ("UPDATE_MEMORY", "EXPORT_TRACE"),
    ]
    metrics = trace["quality_metrics"]
    assert (metrics["steps_planned"], metrics["step_success_rate"], metrics["errors"]) == (4, 1.0, 0)
    [measured] = metrics["summaries"]["summarize"]
    # The scripted summary paraphrases the page: most of its words occur there, but no sentence is
    # lexically supported by a passage of it (ROUGE-L precision), so grounding is 0.
    assert (measured["grounding"], measured["word_overlap"] > 0.5) == (0.0, True)
    assert agent["quality_metrics"] == measured
    assert set(agent["outputs"]) == {"summary", "key_points"}  # exactly what the model returned

    [entry] = load_entries(project / "system" / "SmartMemory.md")
    assert (entry.id, entry.outcome, entry.scenario, entry.provider) == (
        result.execution_id,
        "completed",
        "RealWorld_Research_Task",
        "scripted",
    )
    assert entry.components == ["RealWebFetchTool", "RealSummarizationAgent", "RealFileSystemTool"]


def test_every_transition_is_in_the_journal_and_the_state_keeps_the_recent_ones(
    project: Path, server: Server, script: Path
) -> None:
    result = run_scenario(
        project / RESEARCH, inputs={"url": server.url("/page.html")}, provider="scripted", script=script
    )
    journal = [json.loads(line) for line in (result.run_dir / "journal.jsonl").read_text().splitlines()]
    state = load_state(result.state_path)
    assert [t["seq"] for t in journal] == list(range(1, state.transition_count + 1))
    assert [t.seq for t in state.recent_transitions] == [t["seq"] for t in journal][-RECENT_TRANSITIONS:]
    # The state file lists them without their data; the journal has them whole.
    assert [t.to_dict() for t in state.recent_transitions] == [
        {k: v for k, v in t.items() if k in {"seq", "at", "kind", "source", "target", "step", "detail"}}
        for t in journal[-RECENT_TRANSITIONS:]
    ]


def failed_state(result) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    state = load_state(result.state_path)
    assert state.status == "failed"
    assert state.error is not None
    return state.phase, state.error["type"], state.error["message"]


def test_unreachable_url_fails_the_run_after_retries(project: Path, script: Path) -> None:
    tool = project / "components" / "tools" / "RealWebFetchTool.md"
    tool.write_text(
        tool.read_text().replace("retry: {attempts: 3, backoff_s: 1}", "retry: {attempts: 2, backoff_s: 0.01}")
    )
    url = f"http://127.0.0.1:{closed_port()}/"
    result = run_scenario(project / RESEARCH, inputs={"url": url}, provider="scripted", script=script)
    assert (result.status, result.exit_code) == ("failed", 1)
    phase, kind, message = failed_state(result)
    assert (phase, kind) == ("FAILED", "ToolError")
    assert message.startswith("step 'fetch': WebFetch: cannot connect to 127.0.0.1")
    [trace] = traces(project)
    assert [(c["attempt"], c["performance"]["success"]) for c in trace["tool_calls"]] == [(1, False), (2, False)]
    assert trace["final_outcome"] == "failure"
    [entry] = load_entries(project / "system" / "SmartMemory.md")
    assert entry.outcome == "failed"
    assert entry.lessons[0].startswith("RealWebFetchTool (WebFetch) failed in step fetch: WebFetch: cannot connect")


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (reply(body=b"\x89PNG\r\n\x1a\n\x00", content_type="image/png"), "content type 'image/png' (binary)"),
        (reply(body=b"<p>" + b"x" * 6_000_000 + b"</p>"), "over the 5000000-byte size cap"),
    ],
)
def test_non_html_and_oversized_pages_fail_the_fetch_step(
    project: Path,
    server: Server,
    script: Path,
    route,  # type: ignore[no-untyped-def]
    expected: str,
) -> None:
    server.routes["/x"] = route
    result = run_scenario(project / RESEARCH, inputs={"url": server.url("/x")}, provider="scripted", script=script)
    phase, kind, message = failed_state(result)
    assert (phase, kind, result.exit_code) == ("FAILED", "ToolError", 1)
    assert expected in message
    assert not list(result.run_dir.glob("*.md"))[1:]  # only execution_state.md: nothing was saved


def test_missing_required_input_fails_at_initialize_naming_the_line(project: Path) -> None:
    result = run_scenario(project / RESEARCH, inputs={}, provider="scripted")
    phase, kind, message = failed_state(result)
    assert (phase, kind, result.exit_code) == ("FAILED", "InputError", 2)
    assert message == (
        f"{project / RESEARCH}:6: missing required input 'url' (the page to research); give it with --set url=VALUE"
    )


def test_malformed_front_matter_fails_at_initialize(project: Path) -> None:
    path = project / "scenarios" / "Broken.md"
    path.write_text("---\nname: Broken\ngoal: [oops\n---\n")
    result = run_scenario(path, provider="scripted")
    phase, kind, message = failed_state(result)
    assert (phase, kind, result.exit_code) == ("FAILED", "DocumentError", 2)
    assert message.startswith(f"{path}:4: malformed front matter")


def test_unknown_component_fails_at_initialize(project: Path) -> None:
    path = project / "scenarios" / "Unknown.md"
    path.write_text("---\nname: Unknown\ngoal: g\nsteps:\n  - id: a\n    component: NoSuchTool\n---\n")
    result = run_scenario(path, provider="scripted")
    _phase, kind, message = failed_state(result)
    assert kind == "DocumentError"
    assert message.startswith(f"{path}:6: step 'a': unknown component 'NoSuchTool'")


def test_template_naming_an_unknown_step_fails_at_initialize(project: Path) -> None:
    path = project / "scenarios" / "Ref.md"
    path.write_text(
        "---\nname: Ref\ngoal: g\nsteps:\n  - id: a\n    component: RealShellTool\n"
        "    inputs: {command: 'echo {{ steps.ghost.outputs.stdout }}'}\n---\n"
    )
    result = run_scenario(path, provider="scripted")
    _phase, kind, message = failed_state(result)
    assert kind == "DocumentError"
    assert message.startswith(f"{path}:7: step 'a': template reads steps.ghost, which is an unknown step")


def test_path_escape_fails_the_step_and_writes_nothing(project: Path, tmp_path: Path) -> None:
    path = project / "scenarios" / "Escape.md"
    path.write_text(
        "---\nname: Escape\ngoal: g\nsteps:\n  - id: w\n    component: RealFileSystemTool\n    tool: Write\n"
        "    inputs: {file_path: ../../outside.txt, content: x}\n---\n"
    )
    result = run_scenario(path, provider="scripted")
    _phase, kind, message = failed_state(result)
    assert kind == "PolicyError"
    assert "'..' segments are not allowed" in message
    assert not (tmp_path / "outside.txt").exists()


def test_provider_returning_invalid_json_fails_the_agent_step(project: Path, server: Server, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- step: summarize\n  text: 'Sure! Here is the summary: it is about locales.'\n")
    result = run_scenario(project / RESEARCH, inputs={"url": server.url("/page.html")}, provider="scripted", script=bad)
    _phase, kind, message = failed_state(result)
    assert kind == "ProviderError"
    assert message.startswith("step 'summarize': provider 'scripted': returned invalid JSON")
    [trace] = traces(project)
    assert trace["quality_metrics"]["outputs_match_schema"] is False
    assert [s.status for s in load_state(result.state_path).steps] == ["completed", "failed", "pending", "pending"]


def test_on_error_skip_lets_the_run_complete(project: Path) -> None:
    path = project / "scenarios" / "Skip.md"
    path.write_text(
        "---\nname: Skip\ngoal: g\nsteps:\n  - id: bad\n    component: RealShellTool\n    on_error: skip\n"
        "    inputs: {command: 'exit 4'}\n  - id: good\n    component: RealShellTool\n"
        "    inputs: {command: 'echo done'}\n---\n"
    )
    result = run_scenario(path, provider="scripted")
    assert result.status == "completed"
    assert [(s["id"], s["status"]) for s in result.steps] == [("bad", "skipped"), ("good", "completed")]


def test_for_each_runs_the_step_once_per_item(project: Path) -> None:
    path = project / "scenarios" / "Loop.md"
    path.write_text(
        "---\nname: Loop\ngoal: g\nsteps:\n  - id: each\n    component: RealShellTool\n"
        "    for_each: \"{{ ['a', 'b', 'c'] }}\"\n    inputs: {command: 'echo {{ index }}-{{ item }}'}\n"
        "  - id: join\n    component: RealShellTool\n"
        "    inputs: {command: \"echo {{ steps.each.outputs.results | map(attribute='stdout') | map('trim') "
        "| join(',') }}\"}\n---\n"
    )
    result = run_scenario(path, provider="scripted")
    assert result.status == "completed"
    state = load_state(result.state_path)
    assert state.step("join").outputs["stdout"] == "0-a,1-b,2-c\n"


def test_simulation_mode_never_touches_the_world(project: Path) -> None:
    result = run_scenario(
        project / RESEARCH, inputs={"url": "http://127.0.0.1:9/never"}, provider="scripted", mode="simulation"
    )
    assert result.status == "completed"
    assert [s["source"] for s in result.steps] == ["example", "generated", "example", "example"]
    assert result.outputs == []  # simulated writes wrote nothing
    assert not list(result.run_dir.glob("page.md"))
    [trace] = traces(project)
    assert {c["mode"] for c in trace["tool_calls"]} == {"simulation"}


def write_scenario(project: Path, name: str, body: str) -> Path:
    path = project / "scenarios" / f"{name}.md"
    path.write_text(f"---\nname: {name}\ngoal: g\n{body}---\n")
    return path


def test_a_step_needing_approval_pauses_the_run_before_it_runs(project: Path) -> None:
    path = write_scenario(
        project,
        "Approve",
        "steps:\n  - id: a\n    component: RealShellTool\n"
        "    approval: required\n    inputs: {command: touch approved.txt}\n",
    )
    result = run_scenario(path, provider="scripted")
    assert (result.status, result.exit_code, result.phase) == ("paused", 3, "PAUSED")
    assert "waits for a person: the step requires a person's approval" in (result.error or "")
    state = load_state(result.state_path)
    assert [(s.id, s.status) for s in state.steps] == [("a", "pending")]
    assert state.pending is not None and (state.pending["step"], state.pending["kind"]) == ("a", "approval")
    assert not (project / "workspace" / "approved.txt").exists()


def test_a_spent_budget_pauses_the_run_instead_of_overspending(project: Path, server: Server, tmp_path: Path) -> None:
    costly = tmp_path / "costly.yaml"
    costly.write_text(
        "- step: summarize\n  cost_usd: 0.75\n  output: {summary: 'A summary that is long enough "
        "to pass the schema.', key_points: [Point one.]}\n"
    )
    result = run_scenario(
        project / RESEARCH, inputs={"url": server.url("/page.html")}, provider="scripted", script=costly
    )
    assert (result.status, result.exit_code, result.cost_usd) == ("paused", 3, 0.75)
    assert [s["status"] for s in result.steps] == ["completed", "completed", "pending", "pending"]
    assert result.error == "the budget of $0.5000 is spent ($0.7500) before step 'save_page'"


def test_an_unexpected_error_still_ends_in_a_recorded_failed_state(project: Path, script: Path) -> None:
    result = run_scenario(project / RESEARCH, inputs={"url": "http://a..b/"}, provider="scripted", script=script)
    _phase, kind, message = failed_state(result)
    assert kind == "ToolError"
    assert message.startswith("step 'fetch': WebFetch: not a valid URL: 'http://a..b/'")
    assert len(traces(project)) == 1


def test_simulating_the_digest_never_reads_the_folder(project: Path) -> None:
    result = run_scenario(project / "scenarios" / "Document_Digest_Task.md", provider="scripted", mode="simulation")
    assert result.status == "completed", result.error
    assert [s["source"] for s in result.steps] == ["example", "example", "generated", "generated", "example"]
    assert not (result.run_dir / "digest.md").exists()


def test_fallback_runs_per_item_of_a_for_each_step(project: Path) -> None:
    path = write_scenario(
        project,
        "Fallback",
        "steps:\n  - id: each\n    component: RealShellTool\n"
        "    for_each: \"{{ ['ok', 'bad'] }}\"\n    on_error: 'fallback: RealShellTool'\n"
        '    inputs: {command: "test {{ item }} = ok && echo {{ item }}"}\n',
    )
    result = run_scenario(path, provider="scripted")
    _phase, kind, message = failed_state(result)  # the fallback runs the same failing command
    assert kind == "ToolError"
    assert "exited with status 1" in message
    calls = [c for c in traces(project)[0]["tool_calls"]]
    assert [(c["inputs"]["command"].split()[1], c["performance"]["success"]) for c in calls] == [
        ("ok", True),
        ("bad", False),
        ("bad", False),
    ]


def test_steps_cannot_overwrite_the_runners_own_records(project: Path) -> None:
    path = write_scenario(
        project,
        "Clobber",
        "steps:\n  - id: w\n    component: RealFileSystemTool\n    tool: Write\n"
        "    inputs: {file_path: datasets/traces.jsonl, content: gone}\n",
    )
    result = run_scenario(path, provider="scripted")
    _phase, kind, message = failed_state(result)
    assert kind == "PolicyError"
    assert "one of the runner's own records" in message
    assert traces(project)[0]["execution_id"] == result.execution_id


def test_a_file_path_input_opens_only_that_file(project: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / "private.txt").write_text("not yours\n")
    path = write_scenario(
        project,
        "OneFile",
        "inputs:\n  doc: {type: path, required: true}\nsteps:\n"
        "  - id: r\n    component: RealFileSystemTool\n    tool: Read\n"
        "    inputs: {file_path: '{{ inputs.doc }}'}\n"
        "  - id: other\n    component: RealFileSystemTool\n    tool: Read\n"
        f"    inputs: {{file_path: '{tmp_path / 'private.txt'}'}}\n",
    )
    result = run_scenario(path, inputs={"doc": str(tmp_path / "notes.txt")}, provider="scripted")
    assert [(s["id"], s["status"]) for s in result.steps] == [("r", "completed"), ("other", "failed")]
    assert "outside the allowed roots" in (result.error or "")


def test_simulation_replays_recorded_real_outputs_with_equal_inputs(
    project: Path, server: Server, script: Path
) -> None:
    url = server.url("/page.html")
    real = run_scenario(project / RESEARCH, inputs={"url": url}, provider="scripted", script=script)
    assert real.status == "completed"
    fetched = load_state(real.state_path).step("fetch").outputs
    requests_before = len(server.requests)

    simulated = run_scenario(project / RESEARCH, inputs={"url": url}, provider="scripted", mode="simulation")

    assert simulated.status == "completed"
    assert len(server.requests) == requests_before  # nothing was fetched
    assert [s["source"] for s in simulated.steps] == ["replayed", "generated", "example", "example"]
    state = load_state(simulated.state_path)
    assert state.step("fetch").outputs == fetched
    [_, trace] = traces(project)
    fetch = next(c for c in trace["tool_calls"] if c["step"] == "fetch")
    assert (fetch["mode"], fetch["source"]) == ("simulation", "replayed")


def test_simulation_does_not_replay_a_call_with_other_inputs(project: Path, server: Server, script: Path) -> None:
    run_scenario(project / RESEARCH, inputs={"url": server.url("/page.html")}, provider="scripted", script=script)
    other = run_scenario(
        project / RESEARCH, inputs={"url": server.url("/other.html")}, provider="scripted", mode="simulation"
    )
    assert other.steps[0]["source"] == "example"
