"""Replay: recorded real tool outputs, found again by tool and inputs, for SIMULATION mode.

In simulation a tool step's output comes from the first of these that exists (see
``system/TrainingDataCollector.md``): a recorded real output of the same tool with equal inputs
(``source: replayed``), an example in the component's ``## Examples`` (``example``), or the
provider (``generated``). This module finds the first kind in trace files.

The index keeps, per key, only where the record is (file, byte offset, position in the record's
``tool_calls``), so indexing a large ``traces.jsonl`` costs little memory; outputs are read back
when a key is hit. Indexes are cached per process and rebuilt when a trace file changes (size or
modification time), so a batch of simulated runs indexes each file once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ReplayIndex", "call_key", "replay_index"]


def call_key(tool: str, inputs: Any) -> str:
    """The replay key of a tool call: a SHA-256 of the tool name and its canonical JSON inputs.

    The calling component is not part of the key: WebFetch of one URL returns the same page
    whichever component asked.
    """
    canonical = json.dumps([tool, inputs], sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(kw_only=True)
class ReplayIndex:
    """Where to find the last recorded real, successful output of each tool call.

    Attributes:
        locations: ``call_key`` -> ``(trace file, byte offset of the record's line, position in
            its tool_calls)``; a later record of the same call replaces an earlier one.
    """

    locations: dict[str, tuple[Path, int, int]] = field(default_factory=dict)

    @classmethod
    def build(cls, paths: list[Path]) -> ReplayIndex:
        """Index the real, successful tool calls of execution-mode traces in ``paths``.

        Missing files are skipped; lines that are not JSON objects are skipped (a trace file that
        a crash cut short stays usable).
        """
        index = cls()
        for path in paths:
            try:
                handle = path.open("rb")
            except OSError:
                continue
            with handle:
                offset = 0
                for line in handle:
                    here, offset = offset, offset + len(line)
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if not isinstance(record, dict) or record.get("mode") != "execution":
                        continue
                    for position, call in enumerate(record.get("tool_calls") or []):
                        if not isinstance(call, dict) or call.get("source") != "real" or call.get("tool") is None:
                            continue
                        if not (call.get("performance") or {}).get("success") or call.get("outputs") is None:
                            continue
                        index.locations[call_key(call["tool"], call.get("inputs"))] = (path, here, position)
        return index

    def lookup(self, tool: str, inputs: Any) -> dict[str, Any] | None:
        """The recorded outputs of ``tool`` called with ``inputs``, or ``None``.

        Returns:
            ``{"outputs": ..., "execution_id": ..., "trace": path}``: the outputs and the run that
            recorded them.
        """
        found = self.locations.get(call_key(tool, inputs))
        if found is None:
            return None
        path, offset, position = found
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                record = json.loads(handle.readline())
        except (OSError, ValueError):
            return None
        calls = record.get("tool_calls") or []
        if position >= len(calls):
            return None
        return {"outputs": calls[position].get("outputs"), "execution_id": record.get("execution_id"), "trace": path}


_CACHE: dict[tuple[tuple[str, int, int], ...], ReplayIndex] = {}


def replay_index(paths: list[Path]) -> ReplayIndex:
    """The :class:`ReplayIndex` of ``paths``, built once per process per version of the files."""
    stamp = []
    for path in paths:
        try:
            info = path.stat()
            stamp.append((str(path), info.st_size, info.st_mtime_ns))
        except OSError:
            stamp.append((str(path), -1, -1))
    key = tuple(stamp)
    index = _CACHE.get(key)
    if index is None:
        _CACHE.clear()
        index = _CACHE[key] = ReplayIndex.build(paths)
    return index
