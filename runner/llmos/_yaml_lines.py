"""File lines of YAML keys, from PyYAML's node marks (for errors that name file and line)."""

from __future__ import annotations

import yaml

#: A path to a value in parsed YAML: mapping keys and list indexes.
Key = tuple[str | int, ...]


def key_lines(node: yaml.Node, prefix: Key, out: dict[Key, int]) -> None:
    """Map every key and list item under ``node`` to its 1-based line, into ``out``.

    Args:
        node: A node from ``yaml.compose``.
        prefix: The path of ``node`` itself (``()`` for the root).
        out: Filled with ``path -> line``.
    """
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key: Key = (*prefix, str(key_node.value))
            out[key] = key_node.start_mark.line + 1
            key_lines(value_node, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = (*prefix, index)
            out[key] = item.start_mark.line + 1
            key_lines(item, key, out)
