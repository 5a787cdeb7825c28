"""Per-transition cost of the durable run state.

Runs an N-step scenario of Read steps on a small file (so the tool itself costs little) at several
N and prints the mean wall-clock time per recorded transition. Each step records three
transitions (running, the call, completed), each one a journal append plus an atomic rewrite of
execution_state.md and its mirror.

    python benchmarks/transitions.py [N ...]      # default: 10 100 300
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from llmos._resources import copy_project
from llmos.engine import run_scenario


def scenario(n: int) -> str:
    steps = "".join(
        f"  - id: s{i}\n    component: RealFileSystemTool\n    tool: Read\n    inputs: {{file_path: note.txt}}\n"
        for i in range(n)
    )
    return f"---\nname: Bench{n}\ngoal: measure transitions\nsteps:\n{steps}---\n"


def measure(n: int) -> tuple[float, int]:
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
        from llmos.state import load_state

        count = load_state(result.state_path).transition_count
        return elapsed / count, count


def main(sizes: list[int]) -> None:
    rows = [(n, *measure(n)) for n in sizes]
    base = rows[0][1]
    print(f"{'steps':>6} {'transitions':>12} {'ms/transition':>14} {'ratio to first':>15}")
    for n, per, count in rows:
        print(f"{n:>6} {count:>12} {per * 1000:>14.2f} {per / base:>15.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 300])
