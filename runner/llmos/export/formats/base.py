"""What every export format provides: examples from a trace, and a validator for its records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from llmos.export.conversation import Conversation, build_conversations
from llmos.export.redaction import Redactor

__all__ = ["ConversationFormat", "Example", "Format", "Violation"]


@dataclass(frozen=True)
class Violation:
    """One broken rule of a format.

    Attributes:
        rule: The rule's short name (e.g. ``tool_call_unanswered``).
        detail: What breaks it, naming the message or field.
    """

    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


@dataclass(frozen=True)
class Example:
    """One record ready to be validated and written.

    Attributes:
        id: The example's id (unique in an export).
        record: The record in the format's shape (one JSON line).
        text: Its text, for near-duplicate detection.
        mode: The run's mode.
    """

    id: str
    record: dict[str, Any]
    text: str
    mode: str | None = None


class Format:
    """An export format: turns a trace record into examples and validates each record.

    Subclasses set :attr:`name` and implement :meth:`examples` and :meth:`validate`.
    """

    #: The ``--format`` value.
    name: ClassVar[str] = ""
    #: The output is a folder (else a JSONL file).
    folder: ClassVar[bool] = False
    #: The views the format supports.
    views: ClassVar[tuple[str, ...]] = ("orchestrator", "agent")

    def examples(self, trace: dict[str, Any], view: str, redactor: Redactor) -> Iterator[Example]:
        """The redacted examples of one trace record."""
        raise NotImplementedError

    def validate(self, record: dict[str, Any]) -> list[Violation]:
        """Every rule of the format that ``record`` breaks (empty: valid)."""
        raise NotImplementedError


class ConversationFormat(Format):
    """A chat format rendered from the neutral :class:`~llmos.export.conversation.Conversation`.

    Redaction happens on the conversation's values before rendering, so text that a format embeds
    as JSON (tool arguments) is redacted before it is serialised and stays valid JSON.
    """

    def render(self, conv: Conversation) -> dict[str, Any]:
        """The record of one (redacted) conversation."""
        raise NotImplementedError

    def examples(self, trace: dict[str, Any], view: str, redactor: Redactor) -> Iterator[Example]:
        for conv in build_conversations(trace, view):
            clean = redactor.conversation(conv)
            redactor.forget()
            yield Example(clean.id, self.render(clean), clean.text(), clean.mode)
