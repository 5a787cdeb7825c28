"""Throughput of batch simulation (``llmos simulate``) on scenarios/RealWorld_Research_Task.md.

Copies the shipped project into a temporary folder and simulates the research task (url set to
https://example.org/, the scripted provider's placeholders answering the agent step) as a fresh
batch per worker count and repetition, printing runs per second (median and best of the
repetitions). The time includes starting the worker processes.

    python benchmarks/simulate.py [--runs N] [--workers K ...] [--repeat R] [--dir DIR]
        # default: --runs 1000 --workers 1 2 --repeat 3, in the system's temporary folder
    python benchmarks/simulate.py --baseline [--runs N] [--repeat R]

``--baseline`` runs the scenario N times with ``run_scenario(..., mode="simulation")`` in one
process, one call after the other, each loading the project again: what a loop over
``llmos-run --mode simulation`` costs without the start-up of Python. It works on older versions
of llmos too (``PYTHONPATH=<old checkout>/runner``), which is how the "before" figure was taken.
``--dir /dev/shm`` puts the project in memory, to see the cost without the disk.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from llmos._resources import copy_project

SCENARIO = "scenarios/RealWorld_Research_Task.md"
INPUTS = {"url": "https://example.org/"}


def baseline(root: Path, runs: int) -> float:
    from llmos.engine import run_scenario

    started = time.perf_counter()
    for _ in range(runs):
        result = run_scenario(root / SCENARIO, root=root, inputs=INPUTS, mode="simulation", provider="scripted")
        assert result.status == "completed", result.error
    return time.perf_counter() - started


def batch(root: Path, out: Path, runs: int, workers: int) -> float:
    from llmos.simulate import simulate

    result = simulate([root / SCENARIO], runs=runs, sets=INPUTS, workers=workers, out=out, root=root)
    assert result.completed == runs, result
    return result.duration_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary project goes")
    parser.add_argument("--baseline", action="store_true")
    args = parser.parse_args()
    cases = [("baseline", 1)] if args.baseline else [("simulate", k) for k in args.workers]
    print(f"{'mode':>10} {'workers':>8} {'runs':>6} {'runs/s (median)':>16} {'runs/s (best)':>14} {'ms/run':>7}")
    for mode, workers in cases:
        rates = []
        for attempt in range(args.repeat):
            with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
                root = Path(tmp) / "project"
                copy_project(root)
                if mode == "baseline":
                    seconds = baseline(root, args.runs)
                else:
                    seconds = batch(root, root / "workspace" / "simulations" / f"bench-{attempt}", args.runs, workers)
            rates.append(args.runs / seconds)
        median = statistics.median(rates)
        print(f"{mode:>10} {workers:>8} {args.runs:>6} {median:>16.1f} {max(rates):>14.1f} {1000 / median:>7.1f}")


if __name__ == "__main__":
    main()
