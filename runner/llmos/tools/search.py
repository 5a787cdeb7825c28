"""Grep and Glob: the runner's search tools, with Claude Code's input names.

Both read only inside the policy's readable roots; files reached through a symlink that leaves
them are skipped. Results are sorted by path so runs are reproducible (Claude Code's Glob sorts by
modification time instead).
"""

from __future__ import annotations

import fnmatch
import re
import time
from pathlib import Path
from typing import Any

from llmos.exceptions import ToolError
from llmos.policy import inside
from llmos.tools.base import Param, Tool, ToolContext

__all__ = ["GlobTool", "GrepTool"]

MAX_RESULTS = 1000


def _check_deadline(deadline: float, ctx: ToolContext, tool: str) -> None:
    """Honour the component's ``timeout_s`` for a search over a tree of any size."""
    if time.monotonic() > deadline:
        raise ToolError(
            f"the search took longer than its timeout of {ctx.timeout_s:g} s; narrow the path or pattern",
            tool=tool,
            step=ctx.step,
        )


def _walk(
    root: Path, pattern: str, ctx: ToolContext, *, tool: str = "Glob", deadline: float | None = None
) -> list[Path]:
    readable = ctx.policy.readable_roots
    deadline = deadline if deadline is not None else time.monotonic() + ctx.timeout_s
    out = []
    found: list[Path] = []
    try:
        for number, path in enumerate(root.glob(pattern)):
            if number % 256 == 0:
                _check_deadline(deadline, ctx, tool)
            found.append(path)
    except (ValueError, IndexError, NotImplementedError) as exc:
        raise ToolError(
            f"invalid glob pattern {pattern!r}: {exc or type(exc).__name__}", tool="Glob", step=ctx.step
        ) from None
    for path in sorted(found):
        if not path.is_file():
            continue
        if not any(inside(path.resolve(), r) for r in readable):
            continue  # a symlink out of the sandbox: never listed
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        out.append(path)
    return out


class GlobTool(Tool):
    """List files matching a glob pattern (Claude Code ``Glob``).

    Outputs: ``files`` (absolute paths, sorted, at most 1,000), ``count`` (all matches),
    ``truncated``.
    """

    name = "Glob"
    params = {
        "pattern": Param(type="string", required=True, description="glob pattern, e.g. **/*.md"),
        "path": Param(type="string", description="folder to search (default: the workspace)"),
    }

    def run(self, inputs: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        root = ctx.policy.check_read(inputs.get("path") or str(ctx.workspace), tool=self.name)
        if not root.is_dir():
            raise ToolError(f"no such folder: {root}", tool=self.name, step=ctx.step)
        pattern = inputs["pattern"]
        if not pattern.strip() or pattern.strip() in {".", "./"}:
            raise ToolError(f"invalid glob pattern {pattern!r}: it matches no files", tool=self.name, step=ctx.step)
        ctx.policy.check_glob_pattern(pattern, tool=self.name)
        files = _walk(root, pattern, ctx)
        return {
            "files": [str(p) for p in files[:MAX_RESULTS]],
            "count": len(files),
            "truncated": len(files) > MAX_RESULTS,
        }


class GrepTool(Tool):
    """Search file contents with a regular expression (Claude Code ``Grep``; Python ``re`` syntax).

    ``output_mode`` ``files_with_matches`` (default) gives ``files``; ``content`` gives ``matches``
    (``{file, line, text}``); ``count`` gives ``counts`` per file. Every mode gives ``count``.
    """

    name = "Grep"
    params = {
        "pattern": Param(type="string", required=True, description="regular expression"),
        "path": Param(type="string", description="file or folder to search (default: the workspace)"),
        "glob": Param(type="string", description="only files matching this glob, e.g. *.md"),
        "output_mode": Param(type="string", description="files_with_matches, content or count"),
        "-i": Param(type="boolean", description="case-insensitive"),
        "head_limit": Param(type="integer", description="return at most this many results"),
    }

    def run(self, inputs: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        mode = inputs.get("output_mode") or "files_with_matches"
        if mode not in {"files_with_matches", "content", "count"}:
            raise ToolError(
                f"output_mode must be files_with_matches, content or count; got {mode!r}", tool=self.name, step=ctx.step
            )
        try:
            regex = re.compile(inputs["pattern"], re.IGNORECASE if inputs.get("-i") else 0)
        except re.error as exc:
            raise ToolError(f"invalid regular expression: {exc}", tool=self.name, step=ctx.step) from None
        deadline = time.monotonic() + ctx.timeout_s
        root = ctx.policy.check_read(inputs.get("path") or str(ctx.workspace), tool=self.name)
        if root.is_file():
            files = [root]
        elif root.is_dir():
            files = _walk(root, "**/*", ctx, tool=self.name, deadline=deadline)
        else:
            raise ToolError(f"no such file or folder: {root}", tool=self.name, step=ctx.step)
        if inputs.get("glob"):
            files = [
                f for f in files if fnmatch.fnmatch(f.name, inputs["glob"]) or fnmatch.fnmatch(str(f), inputs["glob"])
            ]
        limit = inputs.get("head_limit") or MAX_RESULTS
        matched: list[str] = []
        matches: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        for file in files:
            _check_deadline(deadline, ctx, self.name)
            try:
                if file.stat().st_size > ctx.max_bytes:
                    continue
                data = file.read_bytes()
            except OSError:
                continue
            if b"\x00" in data[:8192]:
                continue
            text = data.decode("utf-8", errors="replace")
            n = 0
            for number, line in enumerate(text.splitlines(), start=1):
                if regex.search(line):
                    n += 1
                    if mode == "content" and len(matches) < limit:
                        matches.append({"file": str(file), "line": number, "text": line})
            if n:
                matched.append(str(file))
                counts[str(file)] = n
        if mode == "content":
            return {"matches": matches, "count": sum(counts.values())}
        if mode == "count":
            return {"counts": dict(list(counts.items())[:limit]), "count": sum(counts.values())}
        return {"files": matched[:limit], "count": len(matched)}
