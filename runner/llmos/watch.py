"""``llmos watch``: the development loop for a scenario and the documents it uses.

Each save of the scenario, of a component one of its steps names, or of a system document
(``system/*.md`` but SmartMemory.md) is seen through a :class:`~llmos.reload.DocumentWatcher`;
once the saves stop for ``debounce_s`` seconds, the project is loaded again, the scenario is
validated (problems reported as file:line, and nothing runs), and it runs again in SIMULATION mode,
so nothing in the world is touched, in its own workspace (``ROOT/workspace/watch`` by default)
and without adding to SmartMemory. Each outcome is a :class:`WatchEvent`; a finished run comes
with a short unified diff of each step's outputs against the previous run.
"""

from __future__ import annotations

import difflib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos.exceptions import DocumentError, DocumentErrors, LLMOSError
from llmos.reload import DocumentWatcher

__all__ = ["WatchEvent", "watch_scenario"]

#: Lines of output diff shown per run at most.
MAX_DIFF_LINES = 40


@dataclass(kw_only=True, frozen=True)
class WatchEvent:
    """Something the watch loop did.

    Attributes:
        kind: ``started`` (a run is starting), ``invalid`` (the documents have problems; nothing
            ran), ``ran`` (a run ended) or ``error`` (the run could not start).
        changed: The documents whose saves caused it (empty for the first run).
        since_save_s: Seconds from the first of those saves being seen to this event.
        errors: The problems, as ``file:line: message``, for ``invalid`` and ``error``.
        result: The :class:`~llmos.engine.RunResult`, for ``ran``.
        diff: Unified diff lines of the step outputs against the previous run, for ``ran``.
    """

    kind: str
    changed: tuple[Path, ...] = ()
    since_save_s: float = 0.0
    errors: tuple[str, ...] = ()
    result: Any = None
    diff: tuple[str, ...] = field(default_factory=tuple)


def _outputs(result: Any) -> dict[str, str]:
    """Each step's outputs as indented JSON, from the run's journal."""
    from llmos.state import recover_state

    state = recover_state(result.run_dir)
    return {s.id: json.dumps(s.outputs, indent=1, sort_keys=True, ensure_ascii=False, default=str) for s in state.steps}


def _diff(before: dict[str, str] | None, after: dict[str, str]) -> tuple[str, ...]:
    if before is None:
        return ()
    lines: list[str] = []
    for step in sorted(set(before) | set(after), key=lambda s: (s not in after, s)):
        old, new = before.get(step, ""), after.get(step, "")
        if old != new:
            lines += difflib.unified_diff(
                old.splitlines(), new.splitlines(), f"{step} (previous)", f"{step} (now)", lineterm="", n=1
            )
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more lines"]
    return tuple(lines)


def watch_scenario(
    scenario: str | Path,
    *,
    on_event: Callable[[WatchEvent], None],
    stop: threading.Event,
    root: str | Path | None = None,
    inputs: dict[str, Any] | None = None,
    provider: str = "scripted",
    script: str | Path | None = None,
    workspace: str | Path | None = None,
    debounce_s: float = 0.1,
) -> None:
    """Run ``scenario`` in simulation mode now and again after every save, until ``stop`` is set.

    Args:
        scenario: The scenario file.
        on_event: Called with each :class:`WatchEvent` (from this thread).
        stop: Set it to end the loop (within about 0.2 s).
        root: The project root; default: the nearest above the scenario.
        inputs: Scenario input values.
        provider: Who answers agent steps (default ``scripted``: schema-valid placeholders, or
            ``script``'s answers).
        script: The scripted provider's script.
        workspace: Where the runs go; default ``ROOT/workspace/watch``.
        debounce_s: Seconds without a save before a re-run starts.

    Raises:
        DocumentError: No project root.
    """
    from llmos.project import find_root

    path = Path(scenario).resolve()
    root_path = Path(root).resolve() if root else find_root(path.parent)
    if root_path is None:
        raise DocumentError("no project root (a folder with system/SystemAgent.md) above the scenario", path=path)
    ws = Path(workspace).resolve() if workspace else root_path / "workspace" / "watch"
    folders = [root_path / "components", root_path / "system", path.parent]
    previous: dict[str, str] | None = None
    used: set[Path] = {path}
    with DocumentWatcher(folders) as watcher:
        changed: set[Path] = set()
        seen_at = time.monotonic()
        first = True
        while not stop.is_set():
            if not first:
                if not watcher.wait(0.2):
                    continue
                seen_at = time.monotonic()
                changed = watcher.changed()
                while watcher.wait(debounce_s) and not stop.is_set():  # until the saves stop
                    changed |= watcher.changed()
                changed = {p for p in changed if p in used or p.parent == root_path / "system"}
                if not changed:
                    continue
            first = False
            previous, used = _once(
                path,
                root_path,
                ws,
                on_event=on_event,
                changed=tuple(sorted(changed)),
                seen_at=seen_at,
                previous=previous,
                used=used,
                inputs=inputs,
                provider=provider,
                script=script,
            )


def _once(
    path: Path,
    root: Path,
    workspace: Path,
    *,
    on_event: Callable[[WatchEvent], None],
    changed: tuple[Path, ...],
    seen_at: float,
    previous: dict[str, str] | None,
    used: set[Path],
    inputs: dict[str, Any] | None,
    provider: str,
    script: str | Path | None,
) -> tuple[dict[str, str] | None, set[Path]]:
    """Validate and run once; returns the outputs to diff the next run against and the documents
    the scenario uses."""
    from llmos.engine import run_scenario
    from llmos.project import Project

    try:
        project = Project.load(root)
        loaded = project.load_scenario(path)
    except DocumentErrors as exc:
        on_event(WatchEvent(kind="invalid", changed=changed, errors=tuple(map(str, exc.errors))))
        return previous, used
    except DocumentError as exc:
        on_event(WatchEvent(kind="invalid", changed=changed, errors=(str(exc),)))
        return previous, used
    used = {path} | {
        c.path.resolve() for s in loaded.steps if (c := project.library.get(s.component)) and c.path is not None
    }
    on_event(WatchEvent(kind="started", changed=changed, since_save_s=round(time.monotonic() - seen_at, 3)))
    try:
        result = run_scenario(
            path,
            project=project,
            inputs=inputs,
            mode="simulation",
            provider=provider,
            script=script,
            workspace=workspace,
            remember=False,
        )
    except LLMOSError as exc:
        on_event(WatchEvent(kind="error", changed=changed, errors=(str(exc),)))
        return previous, used
    outputs = _outputs(result)
    on_event(
        WatchEvent(
            kind="ran",
            changed=changed,
            since_save_s=round(time.monotonic() - seen_at, 3),
            result=result,
            diff=_diff(previous, outputs),
        )
    )
    return outputs, used
