"""Atomic outputs: a JSONL file, or a folder holding one, written in full or not at all.

Records are streamed into a temporary file beside the target (so memory does not grow with the
export); on success the file is flushed, fsynced and renamed over the target, and the folder is
fsynced, as :mod:`llmos._atomic` does for state files. A reader sees the old output or the new one,
never a partial one; on failure the temporary file is removed and the old output stays.

A folder output (``--format hf``) is built in a temporary sibling folder and renamed into place; an
existing output folder is first renamed aside and removed after the swap (two renames: there is an
instant when the target path does not exist, but never one where it holds a partial export).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from llmos._atomic import _fsync_dir

__all__ = ["AtomicOutput"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class AtomicOutput:
    """A JSONL output written atomically; use as a context manager.

    Args:
        path: The target: a ``.jsonl`` file, or a folder when ``data_file`` is given.
        data_file: For a folder output, the JSONL file's path inside the folder (e.g. ``data/train.jsonl``).

    Attributes:
        written: Records written so far.

    Raises:
        IsADirectoryError: A file output's target is an existing folder.
        NotADirectoryError: A folder output's target is an existing file.
    """

    def __init__(self, path: str | Path, *, data_file: str | None = None) -> None:
        self.path = Path(path)
        self.data_file = data_file
        self.written = 0
        self._extra: dict[str, str] = {}
        self._handle: IO[bytes] | None = None
        self._tmp: Path | None = None
        if data_file is None and self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a folder; give a file path for this format")
        if data_file is not None and self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"{self.path} is a file; give a folder path for this format")

    def __enter__(self) -> AtomicOutput:
        parent = self.path.parent
        parent.mkdir(parents=True, exist_ok=True)
        if self.data_file is None:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=parent)
            self._tmp = Path(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; an export is an ordinary file
            self._handle = os.fdopen(fd, "wb")
        else:
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=parent))
            os.chmod(self._tmp, 0o777 & ~_umask())
            data = self._tmp / self.data_file
            data.parent.mkdir(parents=True, exist_ok=True)
            self._handle = data.open("wb")
        return self

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as a JSON line."""
        self.write_line(json.dumps(record, ensure_ascii=False, default=str).encode("utf-8"))

    def write_line(self, line: bytes) -> None:
        """Append one JSON line (serialised and UTF-8 encoded already, without its line break)."""
        assert self._handle is not None, "use AtomicOutput as a context manager"
        self._handle.write(line + b"\n")
        self.written += 1

    def add_file(self, name: str, text: str) -> None:
        """A further file of a folder output (e.g. ``README.md``), written when the output is committed."""
        self._extra[name] = text

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._handle is not None and self._tmp is not None
        handle, tmp = self._handle, self._tmp
        if kind is not None:
            handle.close()
            self._discard(tmp)
            return
        try:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            if self.data_file is None:
                os.replace(tmp, self.path)
            else:
                self._commit_folder(tmp)
            _fsync_dir(self.path.parent)
        except BaseException:
            handle.close()
            self._discard(tmp)
            raise

    @staticmethod
    def _discard(tmp: Path) -> None:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)

    def _commit_folder(self, tmp: Path) -> None:
        for name, text in self._extra.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        _fsync_dir(tmp)
        old = None
        if self.path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".old", dir=self.path.parent))
            os.replace(self.path, old / "previous")
        os.replace(tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
