"""Durable per-transition cost of a run, against LangGraph with SqliteSaver in the same process.

Runs a no-op N-step scenario (each step a Read of a 6-byte file, so the tool costs a few
microseconds) at N = 100, 1,000 and 10,000 and reports the wall time per recorded transition.
A step records three transitions (running, the call, completed); each is a journal line appended
plus an atomic rewrite of execution_state.md (and of its mirror at least every 0.2 s). The journal
is fdatasynced before the world can change: at each step's start (so once per step, before the
tool runs) and at every phase change; the call and the step's end ride on the next sync. The
state file holds a bounded window of the run (see ``llmos.state``), so the cost of a transition
should not grow with N: the ``10k/100`` ratio is the check (target <= 1.5).

The peer is LangGraph with its durable SQLite checkpointer on an equivalent no-op N-step graph
(``benchmarks/_langgraph_peer.py``: one node looping N times, ``durability="sync"``, a checkpoint
committed with fsync per step). Per-transition llmos time is compared with per-step LangGraph
time, and per step with per step. Install the peer with ``pip install -e '.[bench]'``; without it
the peer rows say so.

    python benchmarks/transitions.py [N ...]      # default: 100 1000 10000
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _langgraph_peer import available, measure_langgraph
from llmos._resources import copy_project
from llmos.engine import run_scenario
from llmos.state import read_journal


def scenario(n: int) -> str:
    steps = "".join(
        f"  - id: s{i}\n    component: RealFileSystemTool\n    tool: Read\n    inputs: {{file_path: note.txt}}\n"
        for i in range(n)
    )
    return f"---\nname: Bench{n}\ngoal: measure transitions\nsteps:\n{steps}---\n"


def measure_llmos(n: int) -> dict[str, float]:
    """One durable run of N no-op steps: seconds, transitions, ms per transition and per step."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        copy_project(root)
        (root / "workspace" / "note.txt").write_text("hello\n")
        path = root / "scenarios" / f"Bench{n}.md"
        path.write_text(scenario(n))
        started = time.perf_counter()
        result = run_scenario(path, provider="scripted")
        elapsed = time.perf_counter() - started
        assert result.status == "completed", result.error
        count = len(read_journal(result.run_dir / "journal.jsonl"))
        size = result.state_path.stat().st_size
        return {
            "seconds": elapsed,
            "transitions": count,
            "ms_per_transition": elapsed / count * 1000,
            "ms_per_step": elapsed / n * 1000,
            "state_bytes": size,
        }


def main(sizes: list[int]) -> None:
    print("llmos durable run (journal fdatasync before each step and phase change)")
    rows = [(n, measure_llmos(n)) for n in sizes]
    base = rows[0][1]["ms_per_transition"]
    header = ("steps", 7), ("transitions", 12), ("s", 8), ("ms/transition", 14), ("ms/step", 8), ("state file", 11)
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'ratio':>6}")
    for n, r in rows:
        print(
            f"{n:>7} {r['transitions']:>12.0f} {r['seconds']:>8.2f} {r['ms_per_transition']:>14.3f} "
            f"{r['ms_per_step']:>8.3f} {r['state_bytes']:>10.0f}B {r['ms_per_transition'] / base:>6.2f}"
        )
    print(f"ratio {sizes[-1]}/{sizes[0]} per transition: {rows[-1][1]['ms_per_transition'] / base:.2f} (target <= 1.5)")
    missing = available()
    if missing:
        print(f"LangGraph peer not measured: {missing}")
        return
    print("LangGraph + SqliteSaver (durability=sync), same sizes")
    print(f"{'steps':>7} {'s':>8} {'ms/step':>8} {'llmos ms/transition ÷ LangGraph ms/step':>40} {'per step':>9}")
    for n, r in rows:
        with tempfile.TemporaryDirectory() as tmp:
            peer = measure_langgraph(n, directory=Path(tmp))
        print(
            f"{n:>7} {peer['seconds']:>8.2f} {peer['ms_per_step']:>8.3f} "
            f"{r['ms_per_transition'] / peer['ms_per_step']:>40.2f} {r['ms_per_step'] / peer['ms_per_step']:>9.2f}"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000, 10000])
