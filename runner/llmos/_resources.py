"""The documents shipped with the package, for ``llmos init``.

In a wheel they live in ``llmos/_project/`` (the build copies the repository's ``system/``,
``components/``, ``scenarios/`` and ``samples/`` there); in a source checkout they are read from the
repository itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SHIPPED = ("system", "components", "scenarios", "samples", "CLAUDE.md", ".claude")


def project_template() -> Path:
    """The folder holding the shipped documents.

    Raises:
        FileNotFoundError: Neither the wheel's copy nor a source checkout is found.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "_project", here.parent.parent):
        if (candidate / "system" / "SystemAgent.md").is_file():
            return candidate
    raise FileNotFoundError("the shipped project documents are missing from this installation")


def copy_project(target: Path, *, force: bool = False) -> list[Path]:
    """Copy the shipped documents into ``target`` and create ``workspace/``.

    Returns:
        The files written.

    Raises:
        FileExistsError: ``target`` exists and is not empty, and ``force`` is false.
    """
    source = project_template()
    if target.exists() and any(target.iterdir()) and not force:
        raise FileExistsError(f"{target} is not empty (use --force to write into it)")
    written: list[Path] = []
    for name in SHIPPED:
        src = source / name
        dst = target / name
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.lock", "__pycache__"))
            written.extend(p for p in dst.rglob("*") if p.is_file())
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            written.append(dst)
    memory = target / "system" / "SmartMemory.md"
    if memory.exists():
        from llmos._atomic import atomic_write_text

        text = memory.read_text(encoding="utf-8")
        head = text.split("\n## Experiences", 1)[0]
        atomic_write_text(memory, head.rstrip("\n") + "\n\n## Experiences\n")
    (target / "workspace").mkdir(parents=True, exist_ok=True)
    (target / "workspace" / ".gitkeep").touch()
    return written
