"""Hot reload: hand-edited documents take effect in a running run from its next step on.

A :class:`DocumentWatcher` watches folders of a project root (``components/`` and ``system/``)
with watchdog (inotify on Linux, FSEvents on macOS, ...) and collects the Markdown files that
changed. File events can be late (they come from another thread) or missing (network file
systems, some containers), so the engine also compares the modification time and size
(:func:`stamp`) of the one file a step is about to use: a component edited a moment before its
step starts is reloaded either way.

The engine asks before each step (see :meth:`llmos.engine._Run.current_component`): a changed
component is parsed again and replaces the old one in the library; the step records the content
hash of the version it used (``document_sha256``). A document an edit broke never breaks the run:
the old version is not used either; the step fails with the document's file:line error, or waits
until the file is fixed (``--on-broken-document wait``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

__all__ = ["DocumentWatcher", "Stamp", "stamp"]

#: (modification time in ns, size in bytes) of a file, or ``None`` when it is missing.
Stamp = tuple[int, int] | None


def stamp(path: Path) -> Stamp:
    """The :data:`Stamp` of ``path``."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _relevant(path: str) -> bool:
    """Markdown documents only; not SmartMemory.md (every run appends to it) nor temporary files."""
    name = Path(path).name
    return name.endswith(".md") and not name.startswith(".") and name != "SmartMemory.md"


class DocumentWatcher:
    """Collects the documents that changed under some folders.

    Args:
        folders: The folders to watch (recursively); missing ones are skipped.

    Attributes:
        events: Whether file events arrive (watchdog started); when not, :meth:`current`'s
            modification-time check is the only way changes are seen.
    """

    def __init__(self, folders: list[Path]) -> None:
        self._lock = threading.Lock()
        self._changed: set[Path] = set()
        self._woken = threading.Event()
        self._observer: Any = None
        self.events = False
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # pragma: no cover - watchdog is a dependency
            return

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in {"opened", "closed_no_write"}:
                    return
                for raw in (event.src_path, getattr(event, "dest_path", "")):
                    path = raw.decode() if isinstance(raw, bytes) else raw
                    if path and _relevant(path):
                        with watcher._lock:
                            watcher._changed.add(Path(path).resolve())
                        watcher._woken.set()

        observer = Observer()
        handler = Handler()
        for folder in folders:
            if folder.is_dir():
                observer.schedule(handler, str(folder), recursive=True)
        observer.daemon = True
        try:
            observer.start()
        except OSError:  # no inotify watches left, and the like: modification times only
            return
        self._observer = observer
        self.events = True

    def changed(self) -> set[Path]:
        """The documents changed since the last call (resolved paths), and forget them."""
        with self._lock:
            out, self._changed = self._changed, set()
        self._woken.clear()
        return out

    def wait(self, timeout_s: float) -> bool:
        """Block until a file event arrives or ``timeout_s`` seconds pass; ``True`` on an event."""
        return self._woken.wait(timeout_s)

    def close(self) -> None:
        """Stop watching (the observer thread ends)."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
            self._observer = None

    def __enter__(self) -> DocumentWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
