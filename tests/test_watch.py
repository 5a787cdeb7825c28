"""llmos watch: a save re-validates and re-runs the scenario in simulation mode, with an output diff."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

from llmos.watch import WatchEvent, watch_scenario

SCENARIO = """---
name: Greet
goal: write a greeting
steps:
  - id: greet
    component: RealFileSystemTool
    tool: Write
    inputs: {{file_path: hello.txt, content: "{greeting}"}}
---
"""


def start(project: Path) -> tuple[queue.Queue[WatchEvent], threading.Event, threading.Thread, Path]:
    path = project / "scenarios" / "Greet.md"
    path.write_text(SCENARIO.format(greeting="hello"))
    events: queue.Queue[WatchEvent] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(
        target=watch_scenario, kwargs={"scenario": path, "on_event": events.put, "stop": stop, "debounce_s": 0.05}
    )
    thread.start()
    return events, stop, thread, path


def next_of(events: queue.Queue[WatchEvent], kind: str) -> WatchEvent:
    while True:
        event = events.get(timeout=20)
        if event.kind == kind:
            return event


def test_a_save_re_runs_the_scenario_in_simulation_and_shows_the_output_diff(project: Path) -> None:
    events, stop, thread, path = start(project)
    try:
        first = next_of(events, "ran")
        assert (first.result.status, first.result.mode, first.changed, first.diff) == (
            "completed",
            "simulation",
            (),
            (),
        )
        path.write_text(
            SCENARIO.format(greeting="hello").replace("tool: Write", "tool: Read").replace(', content: "hello"', "")
        )
        started = next_of(events, "started")
        assert started.changed == (path,)
        again = next_of(events, "ran")
        assert again.result.status == "completed"
        assert again.diff[:2] == ("--- greet (previous)", "+++ greet (now)")
        assert any(line.startswith("+") and '"content"' in line for line in again.diff)  # Read's outputs now
        assert not (project / "workspace" / "hello.txt").exists()  # simulation: nothing written
        assert again.result.run_dir.parent == project / "workspace" / "watch" / "runs"
    finally:
        stop.set()
        thread.join(10)


def test_a_broken_save_is_reported_with_file_and_line_and_nothing_runs(project: Path) -> None:
    events, stop, thread, path = start(project)
    try:
        next_of(events, "ran")
        path.write_text(SCENARIO.format(greeting="x").replace("tool: Write", "tool: Telepathy"))
        invalid = next_of(events, "invalid")
        assert invalid.errors == (
            f"{path}:7: step 'greet': RealFileSystemTool has no tool 'Telepathy' (it maps onto Read, Write, Edit)",
        )
        path.write_text(SCENARIO.format(greeting="fixed"))
        assert next_of(events, "ran").result.status == "completed"
    finally:
        stop.set()
        thread.join(10)


def test_smartmemory_is_left_alone(project: Path) -> None:
    before = (project / "system" / "SmartMemory.md").read_text()
    events, stop, thread, _path = start(project)
    try:
        next_of(events, "ran")
    finally:
        stop.set()
        thread.join(10)
    assert (project / "system" / "SmartMemory.md").read_text() == before
