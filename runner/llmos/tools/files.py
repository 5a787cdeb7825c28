"""Read, Write and Edit: the runner's file tools, with Claude Code's input names.

Paths go through :class:`llmos.policy.Policy` first. Writes are atomic (temporary file, fsync,
rename), so a crash never leaves a half-written file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmos._atomic import atomic_write_text
from llmos.exceptions import ToolError
from llmos.tools.base import Param, Tool, ToolContext

__all__ = ["EditTool", "ReadTool", "WriteTool"]


def _read_text(tool: str, path: Path, ctx: ToolContext, *, utf8_only: bool = False) -> str:
    if not path.exists():
        raise ToolError(f"no such file: {path}", tool=tool, step=ctx.step)
    if path.is_dir():
        raise ToolError(f"{path} is a folder, not a file (use Glob to list it)", tool=tool, step=ctx.step)
    try:
        size = path.stat().st_size
        if size > ctx.max_bytes:
            raise ToolError(f"{path} is {size} bytes, over the {ctx.max_bytes}-byte cap", tool=tool, step=ctx.step)
        data = path.read_bytes()
    except OSError as exc:
        raise ToolError(f"cannot read {path}: {exc.strerror}", tool=tool, step=ctx.step) from None
    if b"\x00" in data[:8192]:
        raise ToolError(f"{path} is a binary file", tool=tool, step=ctx.step)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if utf8_only:
            raise ToolError(
                f"{path} is not UTF-8 text; Edit would change its encoding", tool=tool, step=ctx.step
            ) from None
        return data.decode("latin-1")


class ReadTool(Tool):
    """Read a text file (Claude Code ``Read``).

    Outputs: ``file_path`` (absolute), ``content`` (the selected lines, as written, no line
    numbers), ``lines`` (lines returned), ``total_lines``, ``bytes``.
    """

    name = "Read"
    params = {
        "file_path": Param(type="string", required=True, description="absolute or workspace-relative path"),
        "offset": Param(type="integer", description="1-based line to start from"),
        "limit": Param(type="integer", description="number of lines to read"),
    }

    def run(self, inputs: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        path = ctx.policy.check_read(inputs["file_path"], tool=self.name)
        text = _read_text(self.name, path, ctx)
        lines = text.splitlines(keepends=True)
        offset = max(int(inputs.get("offset") or 1), 1)
        limit = inputs.get("limit")
        selected = lines[offset - 1 : (offset - 1 + int(limit)) if limit else None]
        content = "".join(selected)
        return {
            "file_path": str(path),
            "content": content,
            "lines": len(selected),
            "total_lines": len(lines),
            "bytes": len(content.encode("utf-8")),
        }


class WriteTool(Tool):
    """Write a text file inside the workspace, creating folders (Claude Code ``Write``).

    Outputs: ``file_path`` (absolute), ``bytes`` written, ``created`` (False when it replaced a file).
    """

    name = "Write"
    side_effects = True
    params = {
        "file_path": Param(type="string", required=True, description="path inside the workspace"),
        "content": Param(type="string", required=True, description="the whole new file content"),
    }

    def run(self, inputs: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        path = ctx.policy.check_write(inputs["file_path"], tool=self.name)
        if path.is_dir():
            raise ToolError(f"{path} is a folder", tool=self.name, step=ctx.step)
        created = not path.exists()
        content = str(inputs["content"])
        try:
            atomic_write_text(path, content)
        except OSError as exc:
            raise ToolError(f"cannot write {path}: {exc.strerror}", tool=self.name, step=ctx.step) from None
        return {"file_path": str(path), "bytes": len(content.encode("utf-8")), "created": created}


class EditTool(Tool):
    """Replace an exact string in a workspace file (Claude Code ``Edit``).

    ``old_string`` must occur exactly once unless ``replace_all`` is true. Outputs: ``file_path``,
    ``replacements``.
    """

    name = "Edit"
    side_effects = True
    params = {
        "file_path": Param(type="string", required=True, description="path inside the workspace"),
        "old_string": Param(type="string", required=True, description="exact text to replace"),
        "new_string": Param(type="string", required=True, description="replacement text"),
        "replace_all": Param(type="boolean", description="replace every occurrence (default false)"),
    }

    def run(self, inputs: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        path = ctx.policy.check_write(inputs["file_path"], tool=self.name)
        text = _read_text(self.name, path, ctx, utf8_only=True)
        old, new = inputs["old_string"], inputs["new_string"]
        if old == new:
            raise ToolError("old_string and new_string are the same", tool=self.name, step=ctx.step)
        count = text.count(old) if old else 0
        if count == 0:
            raise ToolError(f"old_string not found in {path}", tool=self.name, step=ctx.step)
        if count > 1 and not inputs.get("replace_all"):
            raise ToolError(
                f"old_string occurs {count} times in {path}; give more context or set replace_all",
                tool=self.name,
                step=ctx.step,
            )
        try:
            atomic_write_text(path, text.replace(old, new) if inputs.get("replace_all") else text.replace(old, new, 1))
        except OSError as exc:
            raise ToolError(f"cannot write {path}: {exc.strerror}", tool=self.name, step=ctx.step) from None
        return {"file_path": str(path), "replacements": count if inputs.get("replace_all") else 1}
