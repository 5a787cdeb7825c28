"""Markdown body parsing on mistune: sections, tables and fenced code blocks with line numbers.

mistune's AST carries no source positions, so a BlockState subclass stamps each heading, table and
code block token with the parser's cursor when the token is appended; that cursor is the offset
where the block starts (after any leading blank lines, which are skipped here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mistune
from mistune.core import BlockState


class _PositionedState(BlockState):
    def append_token(self, token: dict[str, Any]) -> None:
        token["_pos"] = self.cursor
        super().append_token(token)


def _parser() -> mistune.Markdown:
    md = mistune.create_markdown(renderer=None, plugins=["table"])
    md.block.state_cls = _PositionedState
    return md


_MD = _parser()


@dataclass(kw_only=True)
class Table:
    """A GFM table.

    Attributes:
        header: The header cells, stripped.
        rows: The body rows; each a list of stripped cell texts (inline Markdown kept as written).
        line: 1-based file line of the header row.
        row_lines: 1-based file line of each body row.
    """

    header: list[str]
    rows: list[list[str]]
    line: int
    row_lines: list[int]

    def records(self) -> list[dict[str, str]]:
        """Rows as dicts keyed by lower-cased header text."""
        keys = [h.strip().lower() for h in self.header]
        return [dict(zip(keys, row, strict=False)) for row in self.rows]


@dataclass(kw_only=True)
class CodeBlock:
    """A fenced code block: ``info`` is the language tag, ``line`` the 1-based line of the fence."""

    info: str
    code: str
    line: int


@dataclass(kw_only=True)
class Section:
    """A heading and everything up to the next heading of the same or a higher level.

    Attributes:
        title: Heading text.
        level: 1 for ``#``, 2 for ``##`` ...
        line: 1-based file line of the heading.
        text: The raw Markdown below the heading, up to the next heading of any level.
        tables: Tables directly below the heading.
        code_blocks: Fenced code blocks directly below the heading.
    """

    title: str
    level: int
    line: int
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    code_blocks: list[CodeBlock] = field(default_factory=list)


def _inline_text(children: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for child in children:
        kind = child.get("type")
        if kind in {"text", "codespan", "inline_html"}:
            raw = child.get("raw", "")
            out.append(f"`{raw}`" if kind == "codespan" else raw)
        elif kind in {"softbreak", "linebreak"}:
            out.append(" ")
        elif "children" in child:
            inner = _inline_text(child["children"])
            if kind == "strong":
                inner = f"**{inner}**"
            elif kind == "emphasis":
                inner = f"*{inner}*"
            out.append(inner)
    return "".join(out)


def _line_of(src: str, pos: int, line_offset: int) -> int:
    while pos < len(src) and src[pos] == "\n":
        pos += 1
    return src.count("\n", 0, pos) + 1 + line_offset


def parse_sections(body: str, *, line_offset: int = 0) -> list[Section]:
    """Split a Markdown body into sections.

    Args:
        body: The Markdown text after the front matter.
        line_offset: Number of file lines before ``body`` (front matter), so line numbers are
            file lines.

    Returns:
        Sections in document order. Text before the first heading is a section with level 0 and
        an empty title.
    """
    parsed, _state = _MD.parse(body)
    tokens: list[dict[str, Any]] = [t for t in parsed if isinstance(t, dict)]
    sections: list[Section] = [Section(title="", level=0, line=1 + line_offset)]
    heading_starts: list[int] = [0]
    for token in tokens:
        kind = token["type"]
        pos = token.get("_pos")
        if kind == "heading" and pos is not None:
            sections.append(
                Section(
                    title=_inline_text(token.get("children", [])).strip(),
                    level=int(token["attrs"]["level"]),
                    line=_line_of(body, pos, line_offset),
                )
            )
            heading_starts.append(pos)
        elif kind == "table" and pos is not None:
            start = _line_of(body, pos, line_offset)
            head_cells: list[str] = []
            rows: list[list[str]] = []
            for part in token.get("children", []):
                if part["type"] == "table_head":
                    head_cells = [_inline_text(c.get("children", [])).strip() for c in part["children"]]
                elif part["type"] == "table_body":
                    for row in part["children"]:
                        rows.append([_inline_text(c.get("children", [])).strip() for c in row["children"]])
            sections[-1].tables.append(
                Table(
                    header=head_cells,
                    rows=rows,
                    line=start,
                    row_lines=[start + 2 + i for i in range(len(rows))],
                )
            )
        elif kind == "block_code" and pos is not None:
            sections[-1].code_blocks.append(
                CodeBlock(
                    info=str((token.get("attrs") or {}).get("info") or "").strip(),
                    code=token.get("raw", ""),
                    line=_line_of(body, pos, line_offset),
                )
            )
    # Raw text of each section: from the line after its heading to the next heading.
    lines = body.split("\n")
    for index, section in enumerate(sections):
        begin = section.line - line_offset if section.level else 0
        end = (sections[index + 1].line - line_offset - 1) if index + 1 < len(sections) else len(lines)
        section.text = "\n".join(lines[begin:end]).strip("\n")
    if not sections[0].text.strip() and not sections[0].tables and not sections[0].code_blocks:
        sections.pop(0)
    return sections
