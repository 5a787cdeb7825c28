"""The command line, through click's CliRunner (and one subprocess for import cost)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from conftest import REPO, Server
from llmos.cli import main, run_command
from llmos.memory import load_entries
from llmos.state import load_state


def test_validate_passes_on_the_shipped_project() -> None:
    result = CliRunner().invoke(main, ["validate", str(REPO)])
    assert (result.exit_code, result.output) == (0, f"ok: {REPO}\n")


def test_validate_names_file_and_line_and_exits_2(project: Path) -> None:
    agent = project / "components" / "agents" / "RealSummarizationAgent.md"
    agent.write_text(agent.read_text().replace("max_turns: 1", "max_turns: many"))
    result = CliRunner().invoke(main, ["validate", str(project)])
    assert result.exit_code == 2
    assert result.output == f"error: {agent}:8: 'max_turns' must be an integer, got str\n1 problem(s) found\n"


def test_validate_a_single_document(project: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(project / "components" / "tools" / "RealShellTool.md")])
    assert result.exit_code == 0


def test_run_json_prints_the_summary_and_exits_0(project: Path, server: Server) -> None:
    result = CliRunner().invoke(
        run_command,
        [
            str(project / "scenarios" / "RealWorld_Research_Task.md"),
            "--set",
            f"url={server.url('/page.html')}",
            "--provider",
            "scripted",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["exit_code"], summary["provider"]) == ("completed", 0, "scripted")
    assert [s["status"] for s in summary["steps"]] == ["completed"] * 4
    assert load_state(summary["state_path"]).status == "completed"
    assert summary["trace_path"] == str(project / "workspace" / "datasets" / "traces.jsonl")


def test_run_missing_input_exits_2_with_the_location(project: Path) -> None:
    scenario = project / "scenarios" / "RealWorld_Research_Task.md"
    result = CliRunner().invoke(run_command, [str(scenario), "--provider", "scripted", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["status"] == "failed"
    assert f"error: {scenario}:6: missing required input 'url'" in result.stderr


def test_run_bad_set_syntax_is_a_usage_error(project: Path) -> None:
    result = CliRunner().invoke(
        run_command, [str(project / "scenarios" / "RealWorld_Research_Task.md"), "--set", "url"]
    )
    assert result.exit_code == 2
    assert "expected KEY=VALUE, got 'url'" in result.output


def test_run_outside_a_project_exits_2(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    scenario = tmp_path / "S.md"
    scenario.write_text("---\nname: S\ngoal: g\n---\n")
    result = CliRunner().invoke(run_command, [str(scenario)], catch_exceptions=False)
    assert result.exit_code == 2
    assert "no project root" in result.stderr


def test_library_lists_every_component(project: Path) -> None:
    result = CliRunner().invoke(main, ["library", "--root", str(project), "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [(r["name"], r["tag"], r["claude_tool"]) for r in rows] == [
        ("RealSummarizationAgent", "[REAL]", "-"),
        ("RealFileSystemTool", "[REAL]", "Read, Write, Edit"),
        ("RealSearchTool", "[REAL]", "Glob, Grep"),
        ("RealShellTool", "[REAL]", "Bash"),
        ("RealSubTaskTool", "[REAL]", "Task"),
        ("RealWebFetchTool", "[REAL]", "WebFetch"),
    ]


def test_init_creates_a_project_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "system" / "SystemAgent.md").is_file()
    assert (target / "samples" / "documents").is_dir()
    assert load_entries(target / "system" / "SmartMemory.md") == []  # starts with no experiences
    assert CliRunner().invoke(main, ["validate", str(target)]).exit_code == 0
    again = CliRunner().invoke(main, ["init", str(target)])
    assert again.exit_code == 2
    assert "is not empty" in again.output


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from llmos.cli import run_main; sys.argv=['llmos-run','--help']\n"
        "try: run_main()\nexcept SystemExit: pass\n"
        "heavy = sorted(m for m in ('httpx','markdownify','bs4','llama_cpp','rich','jsonschema','llmos.engine',"
        "'llmos.tools','mistune','claude_agent_sdk','anyio','llmos.testing._server') if m in sys.modules)\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "HEAVY []"
    assert "Usage: llmos-run [OPTIONS] [SCENARIO]" in out


def test_serve_script_serves_the_messages_api_until_stopped(tmp_path: Path) -> None:
    import httpx

    script = tmp_path / "script.yaml"
    script.write_text("- text: Hello from the script.\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmos.cli", "serve-script", str(script), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith(f"serving {script} (1 turns) at http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1].strip()
        reply = httpx.post(
            f"{url}/v1/messages",
            json={"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]},
            timeout=10,
        )
        assert reply.status_code == 200
        assert reply.json()["content"] == [{"type": "text", "text": "Hello from the script."}]
        proc.stderr.readline()  # the export hint
        assert proc.stderr.readline() == "POST /v1/messages -> 200 (turn 1)\n"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_script_rejects_a_bad_script_naming_the_line(tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text("- text: fine\n- tex: typo\n")
    result = CliRunner().invoke(main, ["serve-script", str(script)])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {script}:2: turn 2: unknown key 'tex'")
