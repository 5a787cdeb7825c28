"""``llmos watch``: time from saving a document to the start of the re-run.

Copies the shipped project to a temporary folder, watches scenarios/RealWorld_Research_Task.md
(simulation mode, scripted placeholders) and saves the scenario, then the summarizer agent it
uses, N times each, waiting for each re-run to finish. The figure is the wall time from the write
to the ``started`` event (file event, debounce, loading the project again, validating the
scenario). Target: under 0.5 s.

    python benchmarks/watch.py [N]      # default: 10
"""

from __future__ import annotations

import queue
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from llmos._resources import copy_project
from llmos.watch import WatchEvent, watch_scenario


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        copy_project(root)
        scenario = root / "scenarios" / "RealWorld_Research_Task.md"
        agent = root / "components" / "agents" / "RealSummarizationAgent.md"
        events: queue.Queue[WatchEvent] = queue.Queue()
        stop = threading.Event()
        thread = threading.Thread(
            target=watch_scenario,
            kwargs={
                "scenario": scenario,
                "on_event": events.put,
                "stop": stop,
                "inputs": {"url": "https://example.org/"},
            },
        )
        thread.start()

        def wait_for(kind: str) -> float:
            while True:
                event = events.get(timeout=60)
                if event.kind == kind:
                    return time.perf_counter()
                if event.kind in {"invalid", "error"}:
                    raise SystemExit(f"watch reported: {event.errors}")

        try:
            wait_for("ran")
            figures: dict[str, list[float]] = {"scenario": [], "agent": []}
            for _ in range(n):
                for name, path in (("scenario", scenario), ("agent", agent)):
                    text = path.read_text()
                    saved = time.perf_counter()
                    path.write_text(text + "\n")
                    figures[name].append(wait_for("started") - saved)
                    wait_for("ran")
        finally:
            stop.set()
            thread.join(10)
    print(f"save -> re-run started, {n} saves each (debounce 0.1 s):")
    for name, values in figures.items():
        values.sort()
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(
            f"  {name:<9} median {statistics.median(values) * 1000:6.0f} ms  p95 {p95 * 1000:6.0f} ms  "
            f"max {values[-1] * 1000:6.0f} ms  (target < 500 ms)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
