"""Peer measurement: LangGraph with the durable SQLite checkpointer on an N-step no-op graph.

The durability benchmark compares the runner's per-step cost (journal append with fsync plus an
atomic rewrite of the state file) with LangGraph's own durable persistence: ``SqliteSaver`` (the
synchronous saver from ``langgraph.checkpoint.sqlite``) on a file-backed database, with
``durability="sync"``.

Graph design. One node, ``step``, whose state is a single counter, loops on itself through a
conditional edge until the counter reaches N (``START -> step -> step -> ... -> END``). Every
pass through the node is its own Pregel superstep, and LangGraph checkpoints once per superstep.
A run of N steps is N + 1 supersteps (LangGraph's own ``__start__`` task, which writes the input
into the state, is superstep 0; the node runs in supersteps 1..N) and N + 2 checkpoints (the
input checkpoint at step -1, then one per superstep); each checkpoint but the last also has the
writes of the task that ran from it stored against it. ``ms_per_step`` divides the whole
``invoke`` by N, so the input and ``__start__`` checkpoints are fixed overhead spread over the
steps (2% of the checkpoints at N = 100), as run start-up is in the runner's figure.

The alternative, a chain of N distinct nodes, is the same to the checkpointer (one task and one
checkpoint per superstep), but the checkpoint carries a version for every node's trigger channel
that has fired, so it grows with N: measured here, its serialized checkpoint averaged 7 KB at
N = 100, 71 KB at N = 1,000 and 216 KB at N = 3,000, and the per-step cost rose with it (1.4,
1.8 and 3.2 ms). That measures graph size, not persistence. The loop's checkpoint stays at about
530 bytes at every N, as the runner's per-step state does not grow with the scenario's length.
``recursion_limit`` counts supersteps; it is set to N + 1, the least that lets the loop finish
(LangGraph's default of 25 would stop it), and has no other effect.

Durability mode. ``durability`` (LangGraph 1.x; it replaced the deprecated ``checkpoint_during``)
is one of ``"exit"`` (persist only when the graph exits), ``"async"`` (the default: persist in the
background while the next step runs, so a crash can lose the step in flight) and ``"sync"``
(persist before the next step starts), the one that matches the runner, which syncs each
transition before going on. In ``pregel/main.py`` the sync loop waits on
``loop._put_checkpoint_fut.result()`` after every tick when ``durability == "sync"``;
``pregel/_loop.py`` submits ``SqliteSaver.put`` for every superstep unless the mode is ``"exit"``,
and each task's writes go through ``SqliteSaver.put_writes``. Each of those calls commits its own
transaction (``SqliteSaver.cursor`` calls ``conn.commit()``), so a step is two commits: the task's
writes and the checkpoint (2N + 3 commits per run, counted with a trace callback).

SQLite settings. ``SqliteSaver.setup`` issues ``PRAGMA journal_mode=WAL`` and nothing else; the
connection is opened as its docstring shows (``sqlite3.connect(path, check_same_thread=False)``)
and SQLite's defaults are otherwise left alone. With this machine's SQLite the default
``synchronous`` is FULL (2) in WAL mode as well (``DEFAULT_WAL_SYNCHRONOUS=2``), under which every
commit syncs the write-ahead log, so each step is durable when ``invoke`` moves on (under strace,
runs of 100 and 200 steps made 213 and 416 ``fdatasync`` calls: two per step and a few for
setup). The function reads both pragmas back after the run and reports them.

Timing covers ``invoke`` only; building and compiling the graph, opening the connection and the
saver's table setup come before the clock starts, and the checks after it stops.

    python benchmarks/_langgraph_peer.py [N ...]      # default: 100 1000 10000
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from importlib import import_module
from pathlib import Path
from typing import Any, TypedDict

_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


class _Counter(TypedDict):
    i: int


def available() -> str | None:
    """Tell whether the peer can be measured.

    Returns:
        None when LangGraph and its SQLite checkpointer import, else a one-line reason.
    """
    for module in ("langgraph.graph", "langgraph.checkpoint.sqlite"):
        try:
            import_module(module)
        except ImportError as exc:
            return f"{module} does not import: {exc}"
    return None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"langgraph {version('langgraph')}, langgraph-checkpoint-sqlite {version('langgraph-checkpoint-sqlite')}"
    except PackageNotFoundError:
        return "unknown"


def measure_langgraph(n: int, *, directory: Path) -> dict[str, Any]:
    """Run an N-step no-op LangGraph graph with durable SQLite checkpoints and time it.

    Args:
        n: Number of steps (supersteps of the looping node); at least 1.
        directory: An existing directory for the SQLite database file.

    Returns:
        A dict with ``steps`` (n), ``seconds`` (wall time of ``invoke``), ``ms_per_step``,
        ``checkpoints`` (how many the saver holds for the thread afterwards: n + 2, counting the
        input checkpoint and the one after LangGraph's ``__start__`` task), ``writes`` (task-write
        rows stored), ``journal_mode`` and
        ``synchronous`` (the SQLite settings in effect during the run), ``durability`` and
        ``database`` (its path).

    Raises:
        ValueError: If n is less than 1.
        AssertionError: If the run did not reach n or did not checkpoint every step.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph

    def step(state: _Counter) -> _Counter:
        return {"i": state["i"] + 1}

    def route(state: _Counter) -> str:
        return END if state["i"] >= n else "step"

    builder = StateGraph(_Counter)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", route, ["step", END])

    path = directory / f"langgraph-{n}.sqlite"
    path.unlink(missing_ok=True)
    with closing(sqlite3.connect(path, check_same_thread=False)) as conn:
        saver = SqliteSaver(conn)
        saver.setup()  # creates the tables and sets WAL, outside the timed part
        graph = builder.compile(checkpointer=saver)
        # n + 1 supersteps: LangGraph's __start__ task, then the node n times.
        config: RunnableConfig = {"configurable": {"thread_id": "bench"}, "recursion_limit": n + 1}

        started = time.perf_counter()
        result = graph.invoke({"i": 0}, config, durability="sync")
        seconds = time.perf_counter() - started

        journal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
        thread: RunnableConfig = {"configurable": {"thread_id": "bench"}}
        steps = sorted(t.metadata["step"] for t in saver.list(thread))
        writes, written = conn.execute(
            "SELECT count(*), count(DISTINCT checkpoint_id) FROM writes WHERE thread_id = ?", ("bench",)
        ).fetchone()

    assert result["i"] == n, f"the graph stopped at {result['i']} of {n} steps"
    assert steps == list(range(-1, n + 1)), (
        f"expected a checkpoint for the input and each of {n + 1} supersteps, found {len(steps)} "
        f"(steps {steps[:3]}...{steps[-3:]})"
    )
    assert written == n + 1, f"expected task writes stored for {n + 1} supersteps, found {written}"
    return {
        "steps": n,
        "seconds": seconds,
        "ms_per_step": seconds * 1000 / n,
        "checkpoints": len(steps),
        "writes": writes,
        "journal_mode": journal_mode,
        "synchronous": _SYNCHRONOUS.get(synchronous, str(synchronous)),
        "durability": "sync",
        "database": str(path),
    }


def main(sizes: list[int]) -> None:
    """Print a table of LangGraph's durable per-step cost at each size.

    Args:
        sizes: The step counts to measure.
    """
    if reason := available():
        print(f"LangGraph not installed: pip install -e '.[bench]' ({reason})")
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            rows.append(measure_langgraph(n, directory=Path(tmp)))
    first = rows[0]
    print(
        f"{_version()}; SqliteSaver, durability={first['durability']}, "
        f"journal_mode={first['journal_mode']}, synchronous={first['synchronous']}"
    )
    print(f"{'steps':>6} {'checkpoints':>12} {'writes':>7} {'seconds':>9} {'ms/step':>8}")
    for row in rows:
        print(
            f"{row['steps']:>6} {row['checkpoints']:>12} {row['writes']:>7} "
            f"{row['seconds']:>9.3f} {row['ms_per_step']:>8.3f}"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000, 10000])
