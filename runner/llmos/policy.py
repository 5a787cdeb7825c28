"""The security policy every tool call passes through, whichever runtime makes it.

Two rules, one object:

* **File confinement.** Write and Edit stay inside the workspace. Read, Grep and Glob may also
  read the extra roots a run allows (the folders given as scenario inputs of type ``path``).
  Relative paths resolve against the workspace. A path with a ``..`` segment, a symlink whose
  target leaves the allowed roots, or an absolute path outside them is refused.
* **Command policy.** Bash refuses commands that destroy or take over the machine: recursive
  deletion of ``/``, ``~``, ``..`` or ``*`` (also behind ``env``, ``xargs``, ``bash -c`` and
  ``eval``); ``find / -delete``; piping a download into a shell; ``mkfs``; writes to block
  devices; fork bombs; shutdown; ``sudo``; recursive ``chmod``/``chown`` of ``/``. This is a
  blocklist: it stops the well-known disasters, not a determined attacker, so the workspace is
  the real boundary and a run's commands should be ones you would run yourself.

A refusal raises :class:`llmos.exceptions.PolicyError`; the call never runs.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos.exceptions import PolicyError

__all__ = ["FILE_TOOLS_READ", "FILE_TOOLS_WRITE", "Policy", "inside"]

#: Claude Code tools that read files, with the input naming the path.
FILE_TOOLS_READ = {"Read": "file_path", "Grep": "path", "Glob": "path"}
#: Claude Code tools that write files, with the input naming the path.
FILE_TOOLS_WRITE = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}

_DANGEROUS_RM_TARGETS = {
    "/",
    "/*",
    "~",
    "~/",
    "~/*",
    "$HOME",
    "${HOME}",
    "$HOME/",
    "..",
    "../",
    "*",
    ".",
    "./",
    "/home",
    "/etc",
    "/usr",
    "/var",
    "/boot",
    "/root",
    "/bin",
    "/lib",
}

_SHELL = r"(?:\S*/)?(?:ba|z|da|k|fi)?sh"
_INTERPRETER = r"(?:\S*/)?(?:python[0-9.]*|perl|ruby|node)"
# The end of a command word: space, end of line, or a shell operator (`| sh;`, `|sh&&`, `| bash)`).
_END = r"(?=[\s;&|)`]|$)"
_COMMAND_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\b(curl|wget)\b.*\|\s*(sudo\s+)?(env\s+)?{_SHELL}{_END}"), "pipes a download into a shell"),
    (
        re.compile(rf"\b(curl|wget)\b.*\|\s*(sudo\s+)?(env\s+)?{_INTERPRETER}{_END}"),
        "pipes a download into an interpreter",
    ),
    (re.compile(rf"\b{_SHELL}\s+(-c\s+)?[\"']?(<\(|\$\()\s*(curl|wget)\b"), "runs a downloaded script"),
    (re.compile(r"\bfind\s+(/|~|\$HOME)(\S*)?\s.*(-delete|-exec\s+rm)\b"), "deletes files across / or ~"),
    (re.compile(r"\bmkfs(\.\w+)?\b"), "formats a file system"),
    (re.compile(r"\bdd\b[^;|&]*\bof=/dev/"), "writes to a raw device"),
    (re.compile(r">\s*/dev/(sd|hd|nvme|vd|xvd|mmcblk)"), "writes to a raw device"),
    (re.compile(r":\s*\(\s*\)\s*\{[^}]*:\s*\|\s*:"), "is a fork bomb"),
    (re.compile(r"(^|[;&|({`]\s*|\$\(\s*)(sudo|doas)\b"), "escalates privileges"),
    (re.compile(r"(^|[;&|({`]\s*|\$\(\s*)(shutdown|reboot|halt|poweroff)\b"), "shuts the machine down"),
    (re.compile(r"\bch(mod|own)\s+(-\w*R\w*|--recursive)\b[^;|&]*\s/(\s|$)"), "changes ownership or mode of /"),
    (re.compile(r"--no-preserve-root"), "deletes the root file system"),
]

# Words that run the rest of the command line as a command of its own.
_WRAPPERS = {
    "sudo",
    "doas",
    "command",
    "builtin",
    "nohup",
    "exec",
    "time",
    "env",
    "nice",
    "xargs",
    "timeout",
    "stdbuf",
    "setsid",
}


def _dangerous_target(target: str) -> bool:
    if target in _DANGEROUS_RM_TARGETS:
        return True
    home = target.startswith(("~", "$HOME", "${HOME}"))
    rest = re.sub(r"^(~|\$HOME|\$\{HOME\})", "", target)
    normal = os.path.normpath("/" + rest) if home else os.path.normpath(target) if target.startswith("/") else None
    if normal is None:
        return False
    normal = normal.rstrip("*").rstrip("/") or "/"
    return normal == "/" or (not home and normal in _DANGEROUS_RM_TARGETS)


def _rm_refusal(command: str, depth: int = 0) -> str | None:
    for segment in re.split(r"&&|\|\||[;|&\n()`]", command):
        try:
            words = shlex.split(segment, posix=True)
        except ValueError:
            words = segment.split()
        while words and (words[0] in _WRAPPERS or "=" in words[0] or (words[0].startswith("-") and len(words) > 1)):
            words = words[1:]
        if not words:
            continue
        program = os.path.basename(words[0])
        if program in {"bash", "sh", "zsh", "dash", "eval"} and depth < 3:
            inner = " ".join(w for w in words[1:] if w != "-c")
            reason = _rm_refusal(inner, depth + 1) or (_rule_refusal(inner) if inner else None)
            if reason:
                return reason
            continue
        if program != "rm":
            continue
        flags = [w for w in words[1:] if w.startswith("-")]
        targets = [w for w in words[1:] if not w.startswith("-")]
        recursive = any(
            f in {"--recursive", "-r", "-R"} or (not f.startswith("--") and ("r" in f or "R" in f)) for f in flags
        )
        if recursive or "xargs" in command:
            for target in targets or (["/"] if "xargs" in command and re.search(r"echo\s+/(\s|$)", command) else []):
                if _dangerous_target(target.rstrip()):
                    return f"deletes {target!r} recursively"
    return None


def _rule_refusal(command: str) -> str | None:
    for pattern, why in _COMMAND_RULES:
        if pattern.search(command):
            return why
    return None


@dataclass(kw_only=True)
class Policy:
    """Where tools may read and write, and which commands Bash may run.

    Attributes:
        workspace: The workspace folder; relative paths resolve against it; writes stay inside it.
        read_roots: Extra folders (or single files) that Read, Grep and Glob may read.
    """

    workspace: Path
    read_roots: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workspace = Path(self.workspace).resolve()
        self.read_roots = [Path(p).resolve() for p in self.read_roots]

    @property
    def readable_roots(self) -> list[Path]:
        """The workspace and the extra read roots."""
        return [self.workspace, *self.read_roots]

    def _resolve(self, tool: str, raw: str, roots: Iterable[Path], verb: str) -> Path:
        if not isinstance(raw, str) or not raw.strip():
            raise PolicyError("path must be a non-empty string", tool=tool)
        if "\x00" in raw:
            raise PolicyError("path contains a NUL byte", tool=tool)
        candidate = Path(os.path.expanduser(raw)) if raw.startswith("~") else Path(raw)
        if ".." in candidate.parts:
            raise PolicyError(f"refused to {verb} {raw!r}: '..' segments are not allowed", tool=tool)
        absolute = candidate if candidate.is_absolute() else self.workspace / candidate
        roots = list(roots)
        lexical_inside = any(inside(Path(os.path.normpath(absolute)), root) for root in roots)
        resolved = absolute.resolve()
        if not any(inside(resolved, root) for root in roots):
            allowed = ", ".join(str(r) for r in roots)
            if lexical_inside:
                raise PolicyError(
                    f"refused to {verb} {raw!r}: a symlink leads to {resolved}, outside the allowed roots ({allowed})",
                    tool=tool,
                )
            raise PolicyError(f"refused to {verb} {raw!r}: outside the allowed roots ({allowed})", tool=tool)
        return resolved

    def check_read(self, raw: str, *, tool: str = "Read") -> Path:
        """Resolve a path a tool wants to read.

        Returns:
            The resolved absolute path.

        Raises:
            PolicyError: ``..``, a symlink escape, or a path outside the workspace and read roots.
        """
        return self._resolve(tool, raw, self.readable_roots, "read")

    def check_write(self, raw: str, *, tool: str = "Write") -> Path:
        """Resolve a path a tool wants to write; only the workspace is writable, and not the
        runner's own records in it (``datasets/``, ``execution_state.md``, each run's state,
        journal, trace and artifacts).

        Raises:
            PolicyError: ``..``, a symlink escape, a path outside the workspace, or a runner record.
        """
        path = self._resolve(tool, raw, [self.workspace], "write")
        rel = path.relative_to(self.workspace).parts
        record = (
            rel[:1] == ("datasets",)
            or rel == ("execution_state.md",)
            or (len(rel) >= 3 and rel[0] == "runs" and (rel[2] in _RUN_RECORDS or rel[2] == "artifacts"))
        )
        if record:
            raise PolicyError(f"refused to write {raw!r}: it is one of the runner's own records", tool=tool)
        return path

    def check_command(self, command: str) -> None:
        """Refuse a destructive shell command.

        Raises:
            PolicyError: The command matches a rule; the message says which.
        """
        if not isinstance(command, str) or not command.strip():
            raise PolicyError("command must be a non-empty string", tool="Bash")
        reason = _rm_refusal(command) or _rule_refusal(command)
        if reason is not None:
            raise PolicyError(f"refused to run {command!r}: it {reason}", tool="Bash")

    def check_glob_pattern(self, pattern: str, *, tool: str = "Glob") -> None:
        """Refuse a glob pattern that could match outside its search folder.

        Raises:
            PolicyError: The pattern is absolute or has a ``..`` segment.
        """
        if ".." in Path(pattern).parts or Path(pattern).is_absolute() or pattern.startswith("~"):
            raise PolicyError(f"refused pattern {pattern!r}: it must be relative, without '..'", tool=tool)

    def check_tool_call(self, tool: str, inputs: Mapping[str, Any]) -> None:
        """Check one Claude Code tool call before it runs (used for the runner's tools and as a hook).

        Args:
            tool: The Claude Code tool name.
            inputs: Its inputs, with Claude Code's input names.

        Raises:
            PolicyError: The call is refused.
        """
        if tool in FILE_TOOLS_WRITE:
            self.check_write(str(inputs.get(FILE_TOOLS_WRITE[tool], "")), tool=tool)
        elif tool in FILE_TOOLS_READ:
            key = FILE_TOOLS_READ[tool]
            if tool == "Read" or inputs.get(key):
                self.check_read(str(inputs.get(key, "")), tool=tool)
            if tool == "Glob":
                self.check_glob_pattern(str(inputs.get("pattern", "")))
        elif tool == "Bash":
            self.check_command(str(inputs.get("command", "")))


_RUN_RECORDS = {"execution_state.md", "journal.jsonl", "trace.json"}


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or lies under it (both already resolved)."""
    return path == root or path.is_relative_to(root)
