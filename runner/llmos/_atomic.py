"""Atomic file writes and durable appends.

``atomic_write_text`` writes a temporary file in the same folder, fsyncs it, renames it over the
target and fsyncs the folder, so readers see the old or the new content, never a mix, even after
a crash. ``append_line`` appends one line with O_APPEND and fsyncs it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically and durably, creating parent folders.

    Raises:
        OSError: The folder is not writable or the disk is full; the old file is left as it was.
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically, creating parent folders; ``durable=False``
    skips the fsyncs (for a cache that can be rebuilt).

    The new file keeps the replaced file's mode, or gets 0666 less the umask, as ``open`` gives.

    Raises:
        OSError: The folder is not writable or the disk is full; the old file is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.fchmod(fd, mode)  # mkstemp makes the file 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        _fsync_dir(path.parent)


def append_line(path: Path, line: str) -> None:
    """Append ``line`` plus a newline to ``path`` durably (O_APPEND, then fsync).

    One ``write`` call per line, so concurrent appenders do not interleave within a line on local
    file systems.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
