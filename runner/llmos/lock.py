"""One run per workspace: a file lock held for the whole run.

Two runs in one workspace would write the same mirror (``workspace/execution_state.md``), the
same output files and the same traces file, so a run holds ``workspace/.llmos/run.lock`` from
start to end. The lock is a kernel ``flock`` taken through the filelock library: the kernel drops
it when the holding process dies, however it dies (``kill -9`` included), so a stale lock is never
an obstacle and taking it over is safe by construction: no second live process can hold it.

Beside it, ``workspace/.llmos/holder.json`` names the holder (execution id, pid, host, start time,
command), written atomically once the lock is taken. A run that finds the workspace held reports
that holder; one that finds a holder file left by a process that is gone says it took over.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from llmos._atomic import atomic_write_text
from llmos.exceptions import WorkspaceLocked

__all__ = ["WorkspaceLock", "lock_paths"]


def lock_paths(workspace: Path) -> tuple[Path, Path]:
    """The lock file and the holder file of a workspace."""
    folder = workspace / ".llmos"
    return folder / "run.lock", folder / "holder.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _describe(holder: dict[str, Any]) -> str:
    parts = []
    if holder.get("execution_id"):
        parts.append(f"run {holder['execution_id']}")
    if holder.get("pid"):
        parts.append(f"pid {holder['pid']}" + (f" on {holder['host']}" if holder.get("host") else ""))
    if holder.get("since"):
        parts.append(f"since {holder['since']}")
    if holder.get("command"):
        parts.append(f"command: {holder['command']}")
    return ", ".join(parts) or "a process that left no details"


class WorkspaceLock:
    """The workspace's run lock, as a context manager.

    Args:
        workspace: The workspace folder (created if missing).
        execution_id: The run taking the lock (``""`` when not known yet), recorded for others to see.
        command: What is running, recorded for others to see (default: this process's argv).

    Attributes:
        took_over: The holder record left by a process that is gone, when this lock took its
            place (for a progress line), else ``None``.

    Raises:
        WorkspaceLocked: On entering, when another live process holds the lock; the message
            names the holder.
    """

    def __init__(self, workspace: Path, *, execution_id: str = "", command: str | None = None) -> None:
        self.workspace = workspace
        self.lock_path, self.holder_path = lock_paths(workspace)
        self.execution_id = execution_id
        self.command = command if command is not None else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
        self.took_over: dict[str, Any] | None = None
        self._lock: Any = None

    def holder(self) -> dict[str, Any]:
        """What the holder file says (``{}`` when there is none or it cannot be read)."""
        try:
            data = json.loads(self.holder_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def acquire(self) -> None:
        """Take the lock without waiting.

        Raises:
            WorkspaceLocked: Another live process holds it.
        """
        from filelock import FileLock, Timeout

        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path), thread_local=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            holder = self.holder()
            raise WorkspaceLocked(
                f"the workspace {self.workspace} is in use by {_describe(holder)}; wait for that run to end "
                "(or stop it) and try again",
                holder=holder,
            ) from None
        previous = self.holder()
        if previous and previous.get("pid") != os.getpid():
            pid = previous.get("pid")
            same_host = previous.get("host") in (None, socket.gethostname())
            if not isinstance(pid, int) or not same_host or not _alive(pid):
                self.took_over = previous
        self._lock = lock
        self.update(self.execution_id)

    def update(self, execution_id: str) -> None:
        """Record the run now holding the lock (once its execution id is known)."""
        self.execution_id = execution_id
        record = {
            "execution_id": execution_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": _now(),
            "command": self.command,
        }
        atomic_write_text(self.holder_path, json.dumps(record, ensure_ascii=False))

    def release(self) -> None:
        """Remove the holder record and drop the lock (nothing happens when it is not held)."""
        if self._lock is None:
            return
        try:
            self.holder_path.unlink(missing_ok=True)
        finally:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> WorkspaceLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _now() -> str:
    from llmos.state import utc_now

    return utc_now()
