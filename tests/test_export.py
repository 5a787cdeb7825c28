"""The training-data exporters and dataset statistics (llmos.export, llmos._cli_dataset).

Traces come from real runs of the shipped scenarios (scripted provider, simulation mode or the
runner's real tools on local files) and of a tool-using agent; a few are written by hand where a
test needs a precise shape.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import AGENT, SCENARIO
from llmos import _redact
from llmos._cli_dataset import FORMAT_NAMES, dataset_group, export_command
from llmos._resources import copy_project
from llmos.engine import run_scenario
from llmos.export import (
    FORMATS,
    TraceReader,
    build_conversations,
    dataset_stats,
    export_traces,
    validate_anthropic,
    validate_hf,
    validate_openai,
    validate_seed,
    validate_sharegpt,
)
from llmos.export.dedupe import NearDuplicateFilter
from llmos.export.redaction import Redactor, prefilter_active
from llmos.project import Project

KEY = "sk-ant-api03-" + "Ab1_" * 10
EMAIL = "alice.smith@example.com"
NOTE = "# State machines\nA state machine has states and transitions.\n"
VALIDATORS = {
    "seed": validate_seed,
    "openai": validate_openai,
    "anthropic": validate_anthropic,
    "sharegpt": validate_sharegpt,
    "hf": validate_hf,
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def records_of(out: Path, fmt: str) -> list[dict[str, Any]]:
    return read_jsonl(out / "data" / "train.jsonl" if fmt == "hf" else out)


def out_path(tmp_path: Path, fmt: str) -> Path:
    return tmp_path / ("hf-out" if fmt == "hf" else f"{fmt}.jsonl")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Real traces: research (simulation), digest (execution, real file tools), note (agent with inner calls)."""
    root = tmp_path_factory.mktemp("runs") / "project"
    copy_project(root)
    (root / "components" / "agents" / "NoteTakerAgent.md").write_text(AGENT)
    (root / "scenarios" / "Note_Task.md").write_text(SCENARIO)
    Project.load(root).sync_library()
    script = root / "script.json"
    write_calls = [{"name": "Write", "input": {"file_path": "notes/note.md", "content": NOTE}}]
    check_calls = [
        {"name": "Bash", "input": {"command": "wc -l notes/note.md"}},
        {"name": "Read", "input": {"file_path": "notes/note.md"}},
    ]
    script.write_text(
        json.dumps(
            [
                {"step": "note", "tool_calls": write_calls},
                {"step": "note", "tool_calls": check_calls},
                {"step": "note", "output": {"path": "notes/note.md", "lines": 2}},
            ]
        )
    )
    scenarios = root / "scenarios"
    results = {
        "research": run_scenario(
            scenarios / "RealWorld_Research_Task.md",
            inputs={"url": "http://127.0.0.1:9/x"},
            mode="simulation",
            provider="scripted",
        ),
        "digest": run_scenario(scenarios / "Document_Digest_Task.md", provider="scripted"),
        "note": run_scenario(scenarios / "Note_Task.md", provider="scripted", script=script),
    }
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(results, "completed")
    traces = read_jsonl(root / "workspace" / "datasets" / "traces.jsonl")
    return dict(zip(results, traces, strict=True))


@pytest.fixture
def traces_file(tmp_path: Path, runs: dict[str, dict[str, Any]]) -> Path:
    return write_jsonl(tmp_path / "traces.jsonl", list(runs.values()))


def trace(execution_id: str = "run-1", **fields: Any) -> dict[str, Any]:
    """A small hand-made trace: one WebFetch step and one agent step."""
    record: dict[str, Any] = {
        "schema_version": 1,
        "execution_id": execution_id,
        "scenario": "Fetch_Task",
        "goal": "Fetch a page and summarize it.",
        "mode": "simulation",
        "provider": "scripted",
        "inputs": {"url": "https://example.org/"},
        "started_at": "2026-01-01T00:00:00.000Z",
        "tool_calls": [
            {
                "seq": 2,
                "step": "fetch",
                "component": "RealWebFetchTool",
                "tool": "WebFetch",
                "call_id": None,
                "runtime": "llmos",
                "attempt": 1,
                "inputs": {"url": "https://example.org/"},
                "outputs": {"content": f"Example page {execution_id}", "status_code": 200},
                "performance": {"cost_usd": 0.001, "duration_s": 0.5, "success": True},
                "error": None,
                "mode": "simulation",
                "source": "example",
            }
        ],
        "agent_steps": [
            {
                "seq": 4,
                "step": "summarize",
                "component": "RealSummarizationAgent",
                "tool": None,
                "call_id": None,
                "runtime": "llmos",
                "attempt": 1,
                "inputs": {"content": f"Example page {execution_id}"},
                "outputs": {"summary": "An example page."},
                "performance": {"cost_usd": 0.002, "duration_s": 1.5, "success": True},
                "error": None,
                "mode": "simulation",
                "source": "generated",
                "provider": "scripted",
                "model": "placeholder",
                "system_prompt": "You are RealSummarizationAgent.",
                "quality_metrics": None,
                "prompt": f"Summarize: Example page {execution_id}",
                "usage": {"input_tokens": None, "output_tokens": None},
            }
        ],
        "state_transitions": [
            {"seq": 1, "at": "2026-01-01T00:00:00.000Z", "kind": "phase", "from": "", "to": "INITIALIZE"}
        ],
        "final_outcome": "success",
        "error": None,
        "total_cost_usd": 0.003,
        "execution_time_s": 2.0,
        "quality_metrics": {"steps_planned": 2, "steps_completed": 2, "step_success_rate": 1.0, "score": 0.75},
    }
    record.update(fields)
    return record


# -- reading -------------------------------------------------------------------------------------


def test_a_folder_is_searched_for_trace_files_and_run_journals_are_left_out(
    runs: dict[str, Any], tmp_path: Path
) -> None:
    batch = tmp_path / "batch"
    (batch / "a" / "runs" / "r1").mkdir(parents=True)
    write_jsonl(batch / "a" / "traces.jsonl", [runs["research"], runs["digest"]])
    write_jsonl(batch / "b.jsonl", [runs["note"]])
    write_jsonl(batch / "a" / "runs" / "r1" / "journal.jsonl", [{"seq": 1, "kind": "phase"}])
    reader = TraceReader([batch])

    ids = [record["execution_id"] for _origin, record in reader]

    assert ids == [runs["research"]["execution_id"], runs["digest"]["execution_id"], runs["note"]["execution_id"]]
    assert (reader.files, reader.records, reader.skipped, reader.foreign) == (
        2,
        3,
        0,
        [batch / "a" / "runs" / "r1" / "journal.jsonl"],
    )


def test_lines_that_are_not_trace_records_are_skipped_counted_and_named(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(trace()) + "\n{not json\n\n" + json.dumps({"seq": 1}) + "\n")
    reader = TraceReader([path])

    origins = [origin for origin, _record in reader]

    assert origins == [f"{path}:1"]
    assert (reader.records, reader.skipped) == (1, 2)
    assert reader.warnings == [
        f"{path}:2: not JSON (Expecting property name enclosed in double quotes at column 2)",
        f"{path}:4: not a trace record (needs a string execution_id and a list tool_calls)",
    ]


def test_a_missing_input_path_is_an_error_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")

    with pytest.raises(FileNotFoundError, match="no such trace file or folder"):
        export_traces([tmp_path / "missing.jsonl"], out, format="openai")

    assert out.read_text() == "previous\n"


# -- the conversation mapping --------------------------------------------------------------------


def test_the_orchestrator_view_is_one_conversation_per_run_in_seq_order(runs: dict[str, Any]) -> None:
    run = runs["research"]
    [conv] = build_conversations(run)
    calls = {c["seq"]: c for c in run["tool_calls"] + run["agent_steps"]}

    assert conv.id == run["execution_id"]
    assert conv.system.startswith(
        "You are SystemAgent, the LLM-OS orchestrator, running the scenario RealWorld_Research_Task in SIMULATION mode"
    )
    assert conv.user == f"{run['goal']}\n\nInputs:\n" + json.dumps(run["inputs"], indent=2)
    assert [(c.id, c.name, c.arguments, c.result, c.is_error) for c in conv.calls] == [
        (f"call_{seq}", name, calls[seq]["inputs"], json.dumps(calls[seq]["outputs"], ensure_ascii=False), False)
        for seq, name in zip(sorted(calls), ["WebFetch", "RealSummarizationAgent", "Write", "Write"], strict=True)
    ]
    page, summary = (c["inputs"]["file_path"] for c in run["tool_calls"] if c["tool"] == "Write")
    assert conv.final == f"Outcome: success. 4 of 4 steps completed. Files written: {page}, {summary}."


def test_a_failed_call_shows_its_error_text_and_the_retry_follows() -> None:
    record = trace()
    failed = dict(record["tool_calls"][0], seq=1, outputs=None, error="HTTP 503 from https://example.org/")
    failed["performance"] = {"cost_usd": 0.0, "duration_s": 0.1, "success": False}
    record["tool_calls"].insert(0, failed)

    [conv] = build_conversations(record)

    assert [(c.id, c.name, c.result, c.is_error) for c in conv.calls] == [
        ("call_1", "WebFetch", "error: HTTP 503 from https://example.org/", True),
        ("call_2", "WebFetch", '{"content": "Example page run-1", "status_code": 200}', False),
        ("call_4", "RealSummarizationAgent", '{"summary": "An example page."}', False),
    ]


def test_a_failed_run_ends_with_its_error() -> None:
    record = trace(
        final_outcome="failure", error={"message": "the budget is spent", "step": "summarize", "type": "Budget"}
    )

    [conv] = build_conversations(record)

    assert (
        conv.final
        == "Outcome: failure. The run failed at step 'summarize': the budget is spent. No files were written."
    )


def test_an_agents_inner_tool_calls_stay_out_of_the_orchestrator_view(runs: dict[str, Any]) -> None:
    run = runs["note"]

    [conv] = build_conversations(run, "orchestrator")

    assert [(c.id, c.name, c.arguments) for c in conv.calls] == [
        ("call_8", "NoteTakerAgent", {"topic": "state machines"})
    ]
    assert conv.final == "Outcome: success. 1 of 1 steps completed. Files written: notes/note.md."


def test_the_agent_view_is_one_conversation_per_agent_step_with_its_inner_calls(runs: dict[str, Any]) -> None:
    run = runs["note"]
    [step] = run["agent_steps"]

    [conv] = build_conversations(run, "agent")

    assert (conv.id, conv.system, conv.user) == (f"{run['execution_id']}:note:8", step["system_prompt"], step["prompt"])
    assert [(c.id, c.name, c.arguments) for c in conv.calls] == [
        ("call_1", "Write", {"file_path": "notes/note.md", "content": NOTE}),
        ("call_2", "Bash", {"command": "wc -l notes/note.md"}),
        ("call_3", "Read", {"file_path": "notes/note.md"}),
    ]
    assert json.loads(conv.calls[1].result)["stdout"].strip() == "2 notes/note.md"
    assert conv.final == '{"path": "notes/note.md", "lines": 2}'


def test_each_agent_call_of_a_for_each_step_is_its_own_example(runs: dict[str, Any]) -> None:
    run = runs["digest"]

    convs = build_conversations(run, "agent")

    assert [c.id for c in convs] == [f"{run['execution_id']}:summarize:{s['seq']}" for s in run["agent_steps"]]
    assert [c.user for c in convs] == [s["prompt"] for s in run["agent_steps"]]


def test_tool_definitions_are_inferred_from_the_arguments_of_the_calls() -> None:
    record = trace()
    record["tool_calls"].append(
        dict(record["tool_calls"][0], seq=3, inputs={"url": "https://example.org/b", "max_bytes": 100})
    )

    [conv] = build_conversations(record)

    assert [t.to_dict() for t in conv.tools()] == [
        {
            "name": "WebFetch",
            "description": "Fetch a URL and return its content converted to Markdown (Claude Code WebFetch).",
            "parameters": {
                "type": "object",
                "properties": {"max_bytes": {"type": "integer"}, "url": {"type": "string"}},
                "required": ["url"],
            },
        },
        {
            "name": "RealSummarizationAgent",
            "description": "LLM-OS agent component RealSummarizationAgent: runs one agent step with these inputs "
            "and answers with a JSON object.",
            "parameters": {"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]},
        },
    ]


# -- formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "view", "count"),
    [(f, "orchestrator", 3) for f in FORMATS] + [(f, "agent", 7) for f in FORMATS if f != "seed"],
)
def test_every_record_of_every_format_passes_its_validator(
    traces_file: Path, tmp_path: Path, fmt: str, view: str, count: int
) -> None:
    out = out_path(tmp_path, fmt)

    summary = export_traces([traces_file], out, format=fmt, view=view, dedupe=False)

    records = records_of(out, fmt)
    assert (summary.examples, summary.written, summary.invalid, len(records)) == (count, count, 0, count)
    assert [VALIDATORS[fmt](r) for r in records] == [[]] * count


def test_openai_tool_calls_are_answered_by_tool_messages_with_their_ids(runs: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "openai.jsonl"
    export_traces([write_jsonl(tmp_path / "t.jsonl", [runs["research"]])], out, format="openai")

    [record] = read_jsonl(out)

    shape = [
        (
            m["role"],
            [(c["id"], c["type"], c["function"]["name"]) for c in m.get("tool_calls", [])],
            m.get("tool_call_id"),
        )
        for m in record["messages"]
    ]
    assert shape == [
        ("system", [], None),
        ("user", [], None),
        ("assistant", [("call_5", "function", "WebFetch")], None),
        ("tool", [], "call_5"),
        ("assistant", [("call_8", "function", "RealSummarizationAgent")], None),
        ("tool", [], "call_8"),
        ("assistant", [("call_11", "function", "Write")], None),
        ("tool", [], "call_11"),
        ("assistant", [("call_14", "function", "Write")], None),
        ("tool", [], "call_14"),
        ("assistant", [], None),
    ]
    fetch = record["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(fetch) == runs["research"]["tool_calls"][0]["inputs"]
    assert [t["function"]["name"] for t in record["tools"]] == ["WebFetch", "RealSummarizationAgent", "Write"]


def test_anthropic_roles_alternate_and_tool_results_answer_the_tool_uses(runs: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "anthropic.jsonl"
    export_traces([write_jsonl(tmp_path / "t.jsonl", [runs["note"]])], out, format="anthropic", view="agent")

    [record] = read_jsonl(out)

    shape = [
        (
            m["role"],
            [(b["type"], b.get("id") or b.get("tool_use_id")) for b in m["content"]]
            if isinstance(m["content"], list)
            else "text",
        )
        for m in record["messages"]
    ]
    assert shape == [
        ("user", "text"),
        ("assistant", [("tool_use", "call_1")]),
        ("user", [("tool_result", "call_1")]),
        ("assistant", [("tool_use", "call_2")]),
        ("user", [("tool_result", "call_2")]),
        ("assistant", [("tool_use", "call_3")]),
        ("user", [("tool_result", "call_3")]),
        ("assistant", [("text", None)]),
    ]
    assert record["system"] == runs["note"]["agent_steps"][0]["system_prompt"]
    assert [t["name"] for t in record["tools"]] == ["Write", "Bash", "Read"]


def test_sharegpt_puts_human_and_observation_at_odd_positions(runs: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "sharegpt.jsonl"
    export_traces([write_jsonl(tmp_path / "t.jsonl", [runs["research"]])], out, format="sharegpt")

    [record] = read_jsonl(out)

    assert [t["from"] for t in record["conversations"]] == ["human"] + ["function_call", "observation"] * 4 + ["gpt"]
    assert json.loads(record["conversations"][1]["value"]) == {
        "name": "WebFetch",
        "arguments": runs["research"]["tool_calls"][0]["inputs"],
    }
    assert [t["name"] for t in json.loads(record["tools"])] == ["WebFetch", "RealSummarizationAgent", "Write"]


def test_seed_records_keep_every_call_with_its_performance(runs: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "seed.jsonl"
    export_traces([write_jsonl(tmp_path / "t.jsonl", [runs["note"]])], out, format="seed")

    [record] = read_jsonl(out)

    run = runs["note"]
    assert list(record) == [
        "execution_id", "goal", "scenario", "mode", "inputs", "tool_calls", "state_transitions",
        "final_outcome", "error", "total_cost_usd", "execution_time_s", "quality_metrics",
    ]  # fmt: skip
    assert [(c["seq"], c["kind"], c["tool"], c["call_id"], c["performance"]) for c in record["tool_calls"]] == [
        (c["seq"], kind, tool, c["call_id"], c["performance"])
        for c, kind, tool in zip(
            run["tool_calls"] + run["agent_steps"],
            ["tool", "tool", "tool", "agent"],
            ["Write", "Bash", "Read", "NoteTakerAgent"],
            strict=True,
        )
    ]
    assert (record["final_outcome"], record["state_transitions"]) == ("success", run["state_transitions"])


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_run_that_failed_before_any_call_is_still_a_valid_example(tmp_path: Path, fmt: str) -> None:
    failed = trace(tool_calls=[], agent_steps=[], final_outcome="failure", error={"message": "no such input 'url'"})
    out = out_path(tmp_path, fmt)

    summary = export_traces([write_jsonl(tmp_path / "t.jsonl", [failed])], out, format=fmt)

    [record] = records_of(out, fmt)
    assert (summary.written, VALIDATORS[fmt](record)) == (1, [])
    assert "tools" not in record or record["tools"] in ("[]", [])


def test_seed_has_no_agent_view(traces_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="the seed format is per run: only the orchestrator view applies"):
        export_traces([traces_file], tmp_path / "seed.jsonl", format="seed", view="agent")


def test_the_hf_folder_loads_with_datasets(traces_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    out = tmp_path / "hf"
    export_traces([traces_file], out, format="hf")

    dataset = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))

    assert dataset.column_names == ["id", "execution_id", "scenario", "mode", "messages", "tools"]
    assert dataset.num_rows == 3
    row = dataset[0]
    assert [m["role"] for m in row["messages"]] == ["system", "user"] + ["assistant", "tool"] * 4 + ["assistant"]
    assert row["messages"][2]["tool_calls"][0]["function"]["name"] == "WebFetch"
    assert [t["function"]["name"] for t in json.loads(row["tools"])] == ["WebFetch", "RealSummarizationAgent", "Write"]
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data"]


# -- validators ------------------------------------------------------------------------------------


def openai_record() -> dict[str, Any]:
    call = {"id": "call_1", "type": "function", "function": {"name": "Read", "arguments": '{"file_path": "a.md"}'}}
    return {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "u"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "text"},
            {"role": "assistant", "content": "done"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "Read", "parameters": {"type": "object", "properties": {}}}}
        ],
    }


def rules(violations: list[Any]) -> list[str]:
    return [v.rule for v in violations]


def test_the_openai_validator_accepts_a_well_formed_record() -> None:
    assert validate_openai(openai_record()) == []


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (lambda r: r["messages"].pop(3), ["tool_call_unanswered"]),
        (lambda r: r["messages"][3].update(tool_call_id="call_9"), ["tool_message_orphan", "tool_call_unanswered"]),
        (lambda r: r["messages"][2]["tool_calls"][0]["function"].update(arguments="{oops"), ["arguments_json"]),
        (lambda r: r["messages"][2]["tool_calls"][0]["function"].update(arguments='["a"]'), ["arguments_object"]),
        (lambda r: r["messages"][2]["tool_calls"][0]["function"].update(name="read file"), ["function_name"]),
        (lambda r: r["messages"][2]["tool_calls"][0]["function"].update(name="Write"), ["function_undeclared"]),
        (lambda r: r["messages"].pop(), ["last_message"]),
        (lambda r: r["messages"].insert(2, {"role": "system", "content": "again"}), ["system_position"]),
        (lambda r: r["messages"][1].update(role="robot"), ["unrecognized_role", "first_message"]),
        (lambda r: r["messages"][1].update(content=""), ["missing_content"]),
        (lambda r: r["messages"][4].update(weight=2), ["weight"]),
        (lambda r: r.update(metadata={}), ["unrecognized_key"]),
        (lambda r: r.update(messages=[{"role": "user", "content": "u"}]), ["example_missing_assistant_message"]),
    ],
)
def test_the_openai_validator_names_the_broken_rule(break_it: Any, expected: list[str]) -> None:
    record = openai_record()
    break_it(record)

    assert rules(validate_openai(record)) == expected


def anthropic_record() -> dict[str, Any]:
    return {
        "system": "s",
        "messages": [
            {"role": "user", "content": "u"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "call_1", "name": "Read", "input": {"file_path": "a.md"}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "text", "is_error": False}],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "done"}]},
        ],
        "tools": [{"name": "Read", "description": "d", "input_schema": {"type": "object", "properties": {}}}],
    }


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (lambda r: None, []),
        (lambda r: r["messages"].insert(1, {"role": "user", "content": "again"}), ["alternation"]),
        (lambda r: r["messages"].pop(0), ["first_message"]),
        (
            lambda r: r["messages"][2]["content"][0].update(tool_use_id="call_9"),
            ["tool_result_orphan", "tool_use_unanswered"],
        ),
        (lambda r: r["messages"][2]["content"].insert(0, {"type": "text", "text": "see"}), ["tool_result_first"]),
        (lambda r: r["messages"][1]["content"][0].update(id="call 1"), ["tool_use_id", "tool_result_orphan"]),
        (lambda r: r["messages"][1]["content"][0].update(name="Write"), ["tool_undeclared"]),
        (lambda r: r["messages"].insert(0, {"role": "system", "content": "s"}), ["role"]),
        (lambda r: r["messages"].pop(), ["last_message"]),
    ],
)
def test_the_anthropic_validator_names_the_broken_rule(break_it: Any, expected: list[str]) -> None:
    record = anthropic_record()
    break_it(record)

    assert rules(validate_anthropic(record)) == expected


def sharegpt_record() -> dict[str, Any]:
    call = json.dumps({"name": "Read", "arguments": {"file_path": "a.md"}})
    tools = json.dumps([{"name": "Read", "description": "d", "parameters": {"type": "object", "properties": {}}}])
    turns = [("human", "u"), ("function_call", call), ("observation", "text"), ("gpt", "done")]
    return {"conversations": [{"from": f, "value": v} for f, v in turns], "system": "s", "tools": tools}


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (lambda r: None, []),
        (lambda r: r["conversations"].insert(0, {"from": "gpt", "value": "hi"}), ["position"] * 5 + ["message_count"]),
        (lambda r: r["conversations"].pop(2), ["position", "function_call_unanswered", "message_count"]),
        (lambda r: r["conversations"][1].update(value='{"name": "Write", "arguments": {}}'), ["function_undeclared"]),
        (lambda r: r["conversations"][1].update(value="Read(a.md)"), ["function_call_json"]),
        (lambda r: r.update(tools=[]), ["tools_type", "function_undeclared"]),
        (lambda r: r["conversations"].pop(), ["message_count", "last_message"]),
    ],
)
def test_the_sharegpt_validator_names_the_broken_rule(break_it: Any, expected: list[str]) -> None:
    record = sharegpt_record()
    break_it(record)

    assert rules(validate_sharegpt(record)) == expected


def test_an_invalid_record_is_refused_with_its_reason_and_never_written(tmp_path: Path) -> None:
    broken = trace("run-2")
    broken["agent_steps"][0]["outputs"] = ""  # an agent that answered nothing: no final message to learn
    traces = write_jsonl(tmp_path / "t.jsonl", [trace("run-1"), broken])
    out = tmp_path / "agent.jsonl"

    summary = export_traces([traces], out, format="openai", view="agent")

    assert (summary.examples, summary.invalid, summary.written) == (2, 1, 1)
    assert summary.invalid_reasons == [
        "run-2:summarize:4: missing_content: messages[2] (assistant) needs text content or tool_calls"
    ]
    assert [r["messages"][-1]["content"] for r in read_jsonl(out)] == ['{"summary": "An example page."}']


def test_a_seed_record_with_a_negative_cost_is_refused(tmp_path: Path) -> None:
    traces = write_jsonl(tmp_path / "t.jsonl", [trace("run-1", total_cost_usd=-1.0), trace("run-2")])
    out = tmp_path / "seed.jsonl"

    summary = export_traces([traces], out, format="seed")

    assert summary.invalid_reasons == ["run-1: total_cost_usd: total_cost_usd must be a non-negative number"]
    assert [r["execution_id"] for r in read_jsonl(out)] == ["run-2"]


# -- filters, near-duplicates, redaction ---------------------------------------------------------


def test_min_quality_keeps_runs_whose_score_reaches_it(tmp_path: Path) -> None:
    records = [
        trace("low", quality_metrics={"score": 0.2, "step_success_rate": 1.0}),
        trace("high", quality_metrics={"score": 0.8, "step_success_rate": 0.5}),
        trace("old", quality_metrics={"step_success_rate": 0.6}),  # no score: step_success_rate stands in
        trace("none", quality_metrics={}),
    ]
    out = tmp_path / "out.jsonl"

    summary = export_traces([write_jsonl(tmp_path / "t.jsonl", records)], out, format="seed", min_quality=0.5)

    assert [r["execution_id"] for r in read_jsonl(out)] == ["high", "old"]
    assert (summary.records_read, summary.filtered_quality, summary.written) == (4, 2, 2)


def test_mode_keeps_runs_of_that_mode(runs: dict[str, Any], traces_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"

    summary = export_traces([traces_file], out, format="seed", mode="simulation")

    assert [r["execution_id"] for r in read_jsonl(out)] == [runs["research"]["execution_id"]]
    assert (summary.filtered_mode, summary.written) == (2, 1)


def test_two_identical_runs_export_as_one_example(project: Path, tmp_path: Path) -> None:
    scenario = project / "scenarios" / "RealWorld_Research_Task.md"
    for _ in range(2):
        run_scenario(scenario, inputs={"url": "http://127.0.0.1:9/x"}, mode="simulation", provider="scripted")
    traces = project / "workspace" / "datasets" / "traces.jsonl"
    first, second = (r["execution_id"] for r in read_jsonl(traces))
    assert first != second

    summary = export_traces([traces], tmp_path / "out.jsonl", format="openai")
    kept = export_traces([traces], tmp_path / "all.jsonl", format="openai", dedupe=False)

    assert (summary.written, summary.duplicates) == (1, 1)
    assert (kept.written, kept.duplicates) == (2, 0)


def test_near_duplicates_are_found_and_different_texts_kept() -> None:
    near = NearDuplicateFilter(threshold=0.9)
    text = " ".join(f"word{i} of a fairly long document about state machines" for i in range(200))

    assert near.check("a", text) is None
    assert near.check("b", text.replace("word7 ", "word7b ")) == "a"
    assert near.check("c", " ".join(reversed(text.split()))) is None
    assert len(near) == 2


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_planted_api_key_and_email_are_redacted_in_every_format(
    runs: dict[str, Any], tmp_path: Path, fmt: str
) -> None:
    run = json.loads(json.dumps(runs["research"]))
    run["inputs"]["audience"] = f"ops (key {KEY}, mail {EMAIL})"
    run["tool_calls"][0]["inputs"]["prompt"] = f"Use api_key={KEY} and report to {EMAIL}."
    out = out_path(tmp_path, fmt)

    summary = export_traces([write_jsonl(tmp_path / "t.jsonl", [run])], out, format=fmt)

    text = (out / "data" / "train.jsonl" if fmt == "hf" else out).read_text()
    assert (KEY in text, EMAIL in text, "sk-ant-" in text) == (False, False, False)
    assert (text.count("[REDACTED]"), text.count("[REDACTED_EMAIL]")) == (summary.redactions["secrets"], 2) != (0, 2)
    assert summary.redactions == {"secrets": 2, "emails": 2}
    assert [VALIDATORS[fmt](r) for r in records_of(out, fmt)] == [[]]


def test_redaction_falls_back_to_every_string_when_llmos_redact_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert prefilter_active()
    monkeypatch.setattr(_redact, "_PATTERNS", [*_redact._PATTERNS, re.compile(r"\bcorp-[0-9]{6}\b")])
    monkeypatch.setattr(_redact, "redact_text", lambda text: text.replace("corp-123456", _redact.REDACTED))

    redactor = Redactor()

    assert not prefilter_active()
    assert redactor.text("the badge corp-123456 opens it") == "the badge [REDACTED] opens it"


def test_every_redact_pattern_has_a_trigger() -> None:
    samples = [
        KEY,
        "sk-" + "a" * 24,
        "ghp_" + "a" * 24,
        "xoxb-" + "1" * 12,
        "AKIA" + "A" * 16,
        "AIza" + "a" * 35,
        "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----",
        "Authorization: Bearer " + "a" * 20,
        "PASSWORD = hunter2hunter2",
        "Secret:\t'abcdefghijk'",
        "auth-token=abcdefghijkl é",
    ]
    redactor = Redactor()

    assert [redactor.text(f"x {s} y") for s in samples] == [_redact.redact_text(f"x {s} y") for s in samples]
    assert redactor.secrets == len(samples)


# -- output ----------------------------------------------------------------------------------------


def test_the_output_is_replaced_whole_and_no_temporary_file_is_left(traces_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "train.jsonl"
    out.parent.mkdir()
    out.write_text("previous\n")

    export_traces([traces_file], out, format="openai")

    assert len(read_jsonl(out)) == 3
    assert [p.name for p in out.parent.iterdir()] == ["train.jsonl"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_output_does_not_depend_on_the_number_of_workers(traces_file: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"

    a = export_traces([traces_file, traces_file], one, format="sharegpt", workers=1)
    b = export_traces([traces_file, traces_file], two, format="sharegpt", workers=2)

    assert one.read_bytes() == two.read_bytes()
    assert (a.written, a.duplicates) == (b.written, b.duplicates) == (3, 3)


# -- statistics ------------------------------------------------------------------------------------


def test_stats_of_a_known_set_of_traces(tmp_path: Path) -> None:
    inner = dict(
        trace()["tool_calls"][0],
        seq=3,
        step="summarize",
        component="RealSummarizationAgent",
        tool="Read",
        call_id="toolu_1",
        runtime="claude_code",
        source="real",
    )
    records = [
        trace("a"),
        trace("b", mode="execution", quality_metrics={"score": 0.25}, total_cost_usd=0.5, execution_time_s=10.0),
        trace("c", final_outcome="failure", error={"message": "x", "step": "fetch", "type": "T"}, quality_metrics={}),
    ]
    records[1]["tool_calls"].append(inner)
    traces = write_jsonl(tmp_path / "t.jsonl", records)
    out = tmp_path / "openai.jsonl"
    export_traces([traces], out, format="openai", dedupe=False)
    tokens = [math.ceil(len(line) / 4) for line in out.read_text().splitlines()]

    stats = dataset_stats([traces]).to_dict()

    histogram = [0, 0, 1, 0, 0, 0, 0, 1, 0, 0]
    assert stats == {
        "inputs": [str(traces)],
        "files": 1,
        "runs": 3,
        "lines_skipped": 0,
        "warnings": [],
        "tool_calls": 3,
        "inner_tool_calls": 1,
        "agent_steps": 3,
        "modes": {"simulation": 2, "execution": 1},
        "sources": {"example": 3, "generated": 3, "real": 1},
        "scenarios": {"Fetch_Task": 3},
        "outcomes": {"success": 2, "failure": 1},
        "quality": {
            "count": 2,
            "min": 0.25,
            "q1": 0.375,
            "median": 0.5,
            "q3": 0.625,
            "max": 0.75,
            "mean": 0.5,
            "missing": 1,
            "histogram": [{"from": i / 10, "to": (i + 1) / 10, "count": n} for i, n in enumerate(histogram)],
        },
        "tokens": {
            "count": 3,
            "min": min(tokens),
            "q1": stats["tokens"]["q1"],
            "median": sorted(tokens)[1],
            "q3": stats["tokens"]["q3"],
            "max": max(tokens),
            "mean": round(sum(tokens) / 3, 4),
            "total": sum(tokens),
            "method": "estimate: characters of the OpenAI-format example (orchestrator view) / 4, rounded up",
        },
        "cost_usd": 0.506,
        "duration_s": 14.0,
    }


# -- the command line ------------------------------------------------------------------------------


def test_the_format_choices_are_the_formats() -> None:
    assert tuple(FORMATS) == FORMAT_NAMES


def test_export_writes_the_file_and_prints_the_summary_as_json(traces_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "anthropic.jsonl"

    result = CliRunner().invoke(
        export_command, ["--format", "anthropic", "--in", str(traces_file), "--out", str(out), "--json"]
    )

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("format", "view", "records_read", "written", "invalid", "duplicates")} == {
        "format": "anthropic",
        "view": "orchestrator",
        "records_read": 3,
        "written": 3,
        "invalid": 0,
        "duplicates": 0,
    }
    assert len(read_jsonl(out)) == 3


def test_export_reads_the_workspace_traces_by_default(
    runs: dict[str, Any], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(project / "workspace" / "datasets" / "traces.jsonl", [runs["research"], runs["note"]])
    monkeypatch.chdir(project / "scenarios")

    result = CliRunner().invoke(
        export_command, ["--format", "openai", "--out", "train.jsonl", "--view", "agent", "--mode", "execution"]
    )

    assert result.exit_code == 0, result.output
    assert "examples written" in result.stdout
    assert [r["messages"][0]["content"] for r in read_jsonl(project / "scenarios" / "train.jsonl")] == [
        runs["note"]["agent_steps"][0]["system_prompt"]
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--format", "seed", "--view", "agent"],
            "error: the seed format is per run: only the orchestrator view applies\n",
        ),
        (["--format", "openai", "--in", "missing.jsonl"], "error: no such trace file or folder: missing.jsonl\n"),
    ],
)
def test_export_usage_errors_exit_2(traces_file: Path, tmp_path: Path, args: list[str], message: str) -> None:
    if "--in" not in args:
        args = [*args, "--in", str(traces_file)]

    result = CliRunner().invoke(export_command, [*args, "--out", str(tmp_path / "x.jsonl")])

    assert (result.exit_code, result.stderr) == (2, message)


def test_dataset_stats_prints_tables_or_json(traces_file: Path) -> None:
    table = CliRunner().invoke(dataset_group, ["stats", str(traces_file)])
    as_json = CliRunner().invoke(dataset_group, ["stats", str(traces_file), "--json"])

    assert (table.exit_code, as_json.exit_code) == (0, 0)
    stats = json.loads(as_json.stdout)
    assert (stats["runs"], stats["agent_steps"], stats["inner_tool_calls"]) == (3, 7, 3)
    for heading in ("dataset · counts", "mix", "distributions", "quality score histogram", "tokens: estimate"):
        assert heading in table.stdout


def test_importing_the_commands_stays_cheap() -> None:
    heavy = "('numpy', 'datasketch', 'rich', 'llmos.export')"
    code = f"import sys, llmos._cli_dataset; print(sorted(m for m in {heavy} if m in sys.modules))"

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert done.stdout == "[]\n"
