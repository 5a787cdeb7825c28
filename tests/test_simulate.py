"""Batches of simulated runs (llmos simulate): nothing real runs, seeds reproduce, workers agree,
interrupted batches continue, variations come from scenarios or an inputs file."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import Server
from llmos._cli_simulate import simulate_command
from llmos.engine import run_scenario
from llmos.exceptions import DocumentError
from llmos.memory import load_entries
from llmos.project import Project
from llmos.simulate import BatchProgress, simulate
from llmos.state import load_state

RESEARCH = "scenarios/RealWorld_Research_Task.md"
URL = {"url": "https://example.org/"}

VARIED = """---
name: Varied_Research
goal: Fetch a page and summarize it for someone.
inputs:
  url: {type: url, required: true, description: the page}
  audience: {type: string, default: a busy reader, description: who reads the summary}
variations:
  - {url: "https://example.org/", audience: a child}
  - {url: "https://example.org/", audience: an engineer}
  - {url: "https://example.com/about", audience: a historian}
  - url: https://example.net/
steps:
  - id: fetch
    component: RealWebFetchTool
    inputs: {url: "{{ inputs.url }}", prompt: Extract the main content.}
  - id: summarize
    component: RealSummarizationAgent
    inputs:
      content: "{{ steps.fetch.outputs.content }}"
      instructions: "Summarize it for {{ inputs.audience }}."
  - id: save
    component: RealFileSystemTool
    tool: Write
    inputs:
      file_path: "{{ run.dir }}/summary.md"
      content: "{{ steps.summarize.outputs.summary }} (run {{ run.id }})"
---
"""


@pytest.fixture
def varied(project: Path) -> Path:
    path = project / "scenarios" / "Varied_Research.md"
    path.write_text(VARIED)
    return path


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def comparable(trace: dict[str, Any]) -> str:
    """A trace without what legitimately differs between two runs: its id, times and durations."""
    text = json.dumps(trace, sort_keys=True).replace(trace["execution_id"], "RUN")
    data = json.loads(text)
    data.pop("started_at")
    data.pop("execution_time_s")
    data["quality_metrics"].pop("duration_s", None)
    for transition in data["state_transitions"]:
        transition.pop("at")
    for call in data["tool_calls"] + data["agent_steps"]:
        call["performance"].pop("duration_s")
    return json.dumps(data, sort_keys=True)


def by_run(out: Path) -> dict[tuple[str, int], str]:
    """The batch's comparable traces keyed by (scenario, index), through the ledger."""
    traces = {t["execution_id"]: t for t in lines(out / "traces.jsonl")}
    return {(e["scenario"], e["index"]): comparable(traces[e["execution_id"]]) for e in lines(out / "batch.jsonl")}


# -- nothing real runs ---------------------------------------------------------------------------


def test_simulation_never_fetches_the_page_nor_writes_a_file(project: Path, server: Server, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    result = simulate([project / RESEARCH], runs=3, sets={"url": server.url("/page.html")}, out=out, root=project)

    assert (result.done, result.completed, result.failed) == (3, 3, 0)
    assert server.requests == []
    for trace in lines(out / "traces.jsonl"):
        assert trace["mode"] == "simulation"
        assert [(c["tool"], c["source"]) for c in trace["tool_calls"]] == [
            ("WebFetch", "example"),
            ("Write", "example"),
            ("Write", "example"),
        ]
    # The two Write steps wrote nothing: each run folder holds the run's own records only.
    for run_dir in (out / "workspace" / "runs").iterdir():
        assert sorted(p.name for p in run_dir.iterdir()) == [
            "execution_state.md",
            "journal.jsonl",
            "plan.json",
            "trace.json",
        ]
    assert not list(project.glob("workspace/runs/*/*.md"))


def test_simulation_replays_the_project_s_recorded_real_fetch(project: Path, server: Server, tmp_path: Path) -> None:
    url = server.url("/page.html")
    real = run_scenario(project / RESEARCH, inputs={"url": url}, provider="scripted")
    assert real.status == "completed"
    server.requests.clear()

    out = tmp_path / "batch"
    simulate([project / RESEARCH], runs=2, sets={"url": url}, out=out, root=project)

    assert server.requests == []
    for trace in lines(out / "traces.jsonl"):
        fetch = trace["tool_calls"][0]
        assert (fetch["source"], fetch["outputs"]["final_url"], fetch["outputs"]["bytes"]) == ("replayed", url, 47537)


def test_every_batch_run_keeps_its_full_journal_and_leaves_the_project_state_alone(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "batch"
    simulate([project / RESEARCH], runs=2, sets=URL, out=out, root=project)

    for entry in lines(out / "batch.jsonl"):
        run_dir = out / "workspace" / "runs" / entry["execution_id"]
        state = load_state(run_dir / "execution_state.md")
        assert (state.status, state.mode) == ("completed", "simulation")
        assert len((run_dir / "journal.jsonl").read_text().splitlines()) == state.transition_count == 18
    assert not (out / "workspace" / "execution_state.md").exists()  # no mirror in a batch
    assert not (project / "workspace" / "execution_state.md").exists()
    assert load_entries(project / "system" / "SmartMemory.md") == []
    assert sorted(e.id for e in load_entries(out / "SmartMemory.md")) == sorted(
        e["execution_id"] for e in lines(out / "batch.jsonl")
    )


# -- reproducible --------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_traces_and_another_seed_other_variations(varied: Path, tmp_path: Path) -> None:
    first = simulate([varied], runs=8, seed=7, out=tmp_path / "a")
    again = simulate([varied], runs=8, seed=7, out=tmp_path / "b")
    other = simulate([varied], runs=8, seed=8, out=tmp_path / "c")
    assert first.completed == again.completed == other.completed == 8

    assert by_run(first.out) == by_run(again.out)

    def choices(result: Any) -> list[tuple[int, int]]:
        return sorted((e["index"], e["variation"]) for e in lines(result.ledger_path))

    assert choices(first) == choices(again)
    assert choices(first) != choices(other)
    assert len({v for _, v in choices(first)}) > 1  # the runs do vary
    audiences = {json.loads(t)["inputs"]["audience"] for t in by_run(first.out).values()}
    assert audiences <= {"a child", "an engineer", "a historian", "a busy reader"}


def test_two_workers_give_the_same_traces_as_one(varied: Path, project: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(
        '{"url": "https://example.org/", "audience": "a child"}\n'
        '{"url": "https://example.com/", "audience": "a judge"}\n{"url": "https://example.net/"}\n'
    )
    scenarios = [varied, project / RESEARCH]
    one = simulate(scenarios, runs=6, seed=3, inputs_file=inputs, out=tmp_path / "one", workers=1)
    two = simulate(scenarios, runs=6, seed=3, inputs_file=inputs, out=tmp_path / "two", workers=2)

    assert (one.workers, two.workers) == (1, 2)
    assert one.completed == two.completed == 12
    assert by_run(one.out) == by_run(two.out)
    assert sorted(json.dumps(e) for e in _ledger_without_ids(one.out)) == sorted(
        json.dumps(e) for e in _ledger_without_ids(two.out)
    )


def _ledger_without_ids(out: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "execution_id"} for e in lines(out / "batch.jsonl")]


# -- resumable -----------------------------------------------------------------------------------


def test_an_interrupted_batch_continues_where_it_stopped_without_duplicates(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    simulate([project / RESEARCH], runs=6, sets=URL, out=out, root=project)
    complete = by_run(out)

    # Interrupt it after the fact: the last two runs wrote their traces but not their ledger lines,
    # a run in flight left a folder and half a trace line.
    ledger = (out / "batch.jsonl").read_text().splitlines(keepends=True)
    (out / "batch.jsonl").write_text("".join(ledger[:4]))
    shutil.copytree(
        out / "workspace" / "runs" / json.loads(ledger[0])["execution_id"], out / "workspace" / "runs" / "run-x"
    )
    with (out / "traces.jsonl").open("a") as handle:
        handle.write('{"schema_version": 1, "execution_id": "run-x", "sce')

    seen: list[BatchProgress] = []
    result = simulate([project / RESEARCH], runs=6, sets=URL, out=out, root=project, progress=seen.append)

    assert (result.skipped, result.done, result.completed) == (4, 2, 2)
    assert seen[0] == BatchProgress(total=2, done=0, failed=0, skipped=4)
    assert seen[-1] == BatchProgress(total=2, done=2, failed=0, skipped=4)
    entries = lines(out / "batch.jsonl")
    traces = lines(out / "traces.jsonl")
    ids = [e["execution_id"] for e in entries]
    assert sorted((e["scenario"], e["index"]) for e in entries) == [("RealWorld_Research_Task", i) for i in range(6)]
    assert sorted(t["execution_id"] for t in traces) == sorted(ids)
    assert sorted(p.name for p in (out / "workspace" / "runs").iterdir()) == sorted(ids)
    assert sorted(e.id for e in load_entries(out / "SmartMemory.md")) == sorted(ids)
    assert by_run(out) == complete


def test_a_ledger_line_whose_trace_is_lost_is_run_again(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    simulate([project / RESEARCH], runs=3, sets=URL, out=out, root=project)
    traces = (out / "traces.jsonl").read_text().splitlines(keepends=True)
    (out / "traces.jsonl").write_text("".join(traces[1:]))

    result = simulate([project / RESEARCH], runs=3, sets=URL, out=out, root=project)

    assert (result.skipped, result.done) == (2, 1)
    assert len(lines(out / "traces.jsonl")) == len(lines(out / "batch.jsonl")) == 3


def test_a_finished_batch_is_not_run_again_and_more_runs_extend_it(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    simulate([project / RESEARCH], runs=2, sets=URL, out=out, root=project)
    again = simulate([project / RESEARCH], runs=2, sets=URL, out=out, root=project)
    more = simulate([project / RESEARCH], runs=3, sets=URL, out=out, root=project)

    assert (again.done, again.skipped) == (0, 2)
    assert (more.done, more.skipped) == (1, 2)
    assert len(lines(out / "traces.jsonl")) == 3


def test_a_batch_folder_refuses_other_settings(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    simulate([project / RESEARCH], runs=1, sets=URL, out=out, root=project, seed=1)
    with pytest.raises(ValueError, match="other settings .*seed"):
        simulate([project / RESEARCH], runs=1, sets=URL, out=out, root=project, seed=2)


# -- inputs --------------------------------------------------------------------------------------


def test_an_inputs_file_gives_the_variations(project: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"url": "https://example.org/a", "audience": "a child"}\n\n{"url": "https://example.org/b"}\n')
    result = simulate([project / RESEARCH], runs=6, inputs_file=inputs, out=tmp_path / "batch", root=project)

    assert result.completed == 6
    given = [{"url": "https://example.org/a", "audience": "a child"}, {"url": "https://example.org/b"}]
    for entry in lines(result.ledger_path):
        assert entry["inputs"] == given[entry["variation"]]
    urls = {t["inputs"]["url"]: t["inputs"]["audience"] for t in lines(result.traces_path)}
    assert urls.keys() <= {"https://example.org/a", "https://example.org/b"}
    assert urls.get("https://example.org/b", "a busy reader") == "a busy reader"


def test_set_values_apply_on_top_of_the_variations(varied: Path, tmp_path: Path) -> None:
    result = simulate([varied], runs=4, sets={"audience": "a lawyer"}, out=tmp_path / "batch")
    assert {t["inputs"]["audience"] for t in lines(result.traces_path)} == {"a lawyer"}


def test_bad_inputs_lines_are_reported_with_file_and_line(project: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"url": "https://example.org/"}\n{"url": \n["a list"]\n{"url": "ftp://x", "colour": 1}\n')

    with pytest.raises(DocumentError) as caught:
        simulate([project / RESEARCH], runs=1, inputs_file=inputs, out=tmp_path / "batch", root=project)

    report = str(caught.value)
    assert f"{inputs}:2: not valid JSON" in report
    assert f"{inputs}:3: each line must be a JSON object of input values, not list" in report
    assert not (tmp_path / "batch").exists()  # nothing ran


def test_inputs_a_scenario_cannot_take_are_reported_with_file_and_line(project: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"url": "https://example.org/"}\n{"url": "https://example.org/", "colour": "red"}\n')

    with pytest.raises(DocumentError, match=rf"{re.escape(str(inputs))}:2: RealWorld_Research_Task: .*'colour'"):
        simulate([project / RESEARCH], runs=1, inputs_file=inputs, out=tmp_path / "batch", root=project)


def test_a_bad_variation_in_a_scenario_is_reported_at_its_line(project: Path, tmp_path: Path) -> None:
    path = project / "scenarios" / "Varied_Research.md"
    path.write_text(VARIED.replace("  - url: https://example.net/\n", "  - {url: not a url}\n  - [1, 2]\n"))
    lines_of = path.read_text().splitlines()

    with pytest.raises(DocumentError) as caught:
        simulate([path], runs=1, out=tmp_path / "batch")

    report = str(caught.value)
    assert f"{path}:{lines_of.index('  - {url: not a url}') + 1}: variation 4: Varied_Research: " in report
    assert "must be an http(s) URL" in report
    assert f"{path}:{lines_of.index('  - [1, 2]') + 1}: variation 5 must be a mapping" in report


# -- the engine entry point and the CLI ----------------------------------------------------------


def test_run_scenario_runs_in_a_project_already_loaded(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = Project.load(project)

    def refuse(root: Any) -> Project:
        raise AssertionError("the project was loaded again")

    monkeypatch.setattr(Project, "load", refuse)
    result = run_scenario(project / RESEARCH, project=loaded, inputs=URL, mode="simulation", provider="scripted")
    assert result.status == "completed"


def test_the_cli_runs_a_batch_and_prints_a_json_summary(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    args = [str(project / RESEARCH), "--runs", "3", "--set", "url=https://example.org/", "--out", str(out)]
    result = CliRunner().invoke(simulate_command, [*args, "--workers", "2", "--json"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert {k: summary[k] for k in ("planned", "done", "completed", "failed", "skipped")} == {
        "planned": 3,
        "done": 3,
        "completed": 3,
        "failed": 0,
        "skipped": 0,
    }
    assert summary["traces_path"] == str(out / "traces.jsonl") and summary["runs_per_s"] > 0
    assert len(lines(out / "traces.jsonl")) == 3

    again = CliRunner().invoke(simulate_command, args)
    assert again.exit_code == 0, again.output
    assert "simulated 0 runs (0 completed, 0 failed; 3 already done)" in again.stderr


def test_the_cli_reports_a_bad_inputs_file_and_exits_2(project: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text("not json\n")
    result = CliRunner().invoke(
        simulate_command, [str(project / RESEARCH), "--runs", "1", "--inputs", str(inputs), "--root", str(project)]
    )
    assert result.exit_code == 2
    assert f"error: {inputs}:1: not valid JSON" in result.stderr
