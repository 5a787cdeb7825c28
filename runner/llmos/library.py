"""The component library: every component document under ``components/``, by name.

SmartLibrary.md's ``## Registry`` table is the human-readable index of the same components;
:meth:`Library.drift` lists where the two disagree, and :meth:`Library.registry_rows` gives the
rows a synced table should have.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from llmos.documents import Component, iter_markdown, load_component
from llmos.exceptions import DocumentError, DocumentErrors
from llmos.system import LibraryRow, ToolMapRow

__all__ = ["Library", "load_library"]


def _fmt(value: float) -> str:
    return f"{value:g}"


@dataclass(kw_only=True)
class Library:
    """Components by name.

    Attributes:
        root: The project root (component paths are shown relative to it).
        components: Loaded components by name.
        errors: Problems found while loading (broken documents are left out of ``components``).
    """

    root: Path
    components: dict[str, Component] = field(default_factory=dict)
    errors: list[DocumentError] = field(default_factory=list)

    @property
    def broken(self) -> set[str]:
        """Names (file stems) of component files that failed to load."""
        return {e.path.stem for e in self.errors if e.path is not None}

    def get(self, name: str) -> Component | None:
        """The component called ``name``, or ``None``."""
        return self.components.get(name)

    def __iter__(self) -> Iterator[Component]:
        return iter(sorted(self.components.values(), key=lambda c: (c.kind, c.name)))

    def __len__(self) -> int:
        return len(self.components)

    def registry_rows(self) -> list[tuple[str, ...]]:
        """The SmartLibrary registry rows the components call for, in table order."""
        rows: list[tuple[str, ...]] = []
        for c in self:
            rel = c.path.relative_to(self.root).as_posix() if c.path else ""
            rows.append(
                (
                    c.name,
                    c.kind,
                    c.tag,
                    rel,
                    ", ".join(c.claude_tools) or ", ".join(c.tools) or "-",
                    _fmt(c.cost_usd),
                    _fmt(c.latency_s),
                    c.status,
                )
            )
        return rows

    def apply_tool_map(self, rows: list[ToolMapRow]) -> None:
        """Give tool components that declare no ``cost_usd`` or ``latency_s`` the values of the
        ClaudeCodeToolMap.md row for their first Claude Code tool."""
        by_tool = {tool: row for row in rows for tool in row.claude_tools}
        for name, c in list(self.components.items()):
            row = by_tool.get(c.claude_tools[0]) if c.kind == "tool" and c.claude_tools else None
            if row is None:
                continue
            changes: dict[str, float] = {}
            if "cost_usd" not in c.declared:
                changes["cost_usd"] = row.cost_usd
            if "latency_s" not in c.declared:
                changes["latency_s"] = row.latency_s
            if changes:
                self.components[name] = replace(c, **changes)  # type: ignore[arg-type]

    def table(self) -> str:
        """The SmartLibrary ``## Registry`` table for these components, as Markdown."""
        header = ["Name", "Kind", "Tag", "Path", "Claude Code tool", "Cost (USD)", "Latency (s)", "Status"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.registry_rows()]
        return "\n".join(lines) + "\n"

    def drift(self, rows: list[LibraryRow], path: Path) -> list[DocumentError]:
        """Differences between SmartLibrary.md's rows and the component files.

        Args:
            rows: The parsed registry rows.
            path: SmartLibrary.md, for the error locations.
        """
        problems: list[DocumentError] = []
        expected = {r[0]: r for r in self.registry_rows()}
        seen: set[str] = set()
        columns = ("name", "kind", "tag", "path", "claude code tool", "cost (usd)", "latency (s)", "status")
        for row in rows:
            seen.add(row.name)
            want = expected.get(row.name)
            if want is None and row.name in self.broken:
                continue  # reported through the component's own errors
            if want is None:
                problems.append(
                    DocumentError(
                        f"registry lists {row.name!r}, but no component file defines it", path=path, line=row.line
                    )
                )
                continue
            for column, have, should in zip(columns, row.as_tuple(), want, strict=True):
                if have != should:
                    problems.append(
                        DocumentError(
                            f"registry row {row.name!r}: {column} is {have!r} but the component file says {should!r} "
                            "(run 'llmos library sync')",
                            path=path,
                            line=row.line,
                        )
                    )
        for name in sorted(set(expected) - seen):
            problems.append(
                DocumentError(
                    f"component {name!r} is missing from the registry table (run 'llmos library sync')",
                    path=path,
                    line=1,
                )
            )
        return problems


def load_library(root: Path) -> Library:
    """Load every component under ``root/components``.

    Broken documents are recorded in :attr:`Library.errors` rather than raised, so one bad file
    does not hide the rest; duplicate names are errors too.
    """
    library = Library(root=root)
    for path in iter_markdown(root / "components"):
        try:
            component = load_component(path)
        except DocumentErrors as exc:
            library.errors.extend(exc.errors)
            continue
        except DocumentError as exc:
            library.errors.append(exc)
            continue
        if component.name in library.components:
            other = library.components[component.name].path
            library.errors.append(
                DocumentError(
                    f"duplicate component name {component.name!r} (also in {other})", path=path, line=component.line
                )
            )
            continue
        library.components[component.name] = component
    return library
