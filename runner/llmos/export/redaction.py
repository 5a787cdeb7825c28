"""Redaction of secrets and e-mail addresses in every string of an exported example.

Secrets (API keys, tokens, private keys, ``key=value`` credentials) are replaced by
:func:`llmos._redact.redact_text`, the same function that cleans state files and traces, so an
export never keeps what a run would not have written. E-mail addresses are replaced by
``[REDACTED_EMAIL]`` with :data:`EMAIL`, a deliberately simple pattern (RFC 5322's full grammar
matches far more than people write):

    local part   one or more of  A-Z a-z 0-9 . _ % + -   (not preceded by one of them)
    @
    domain       one or more labels of A-Z a-z 0-9 and inner hyphens, each followed by a dot
    top level    two to 63 letters

``redact_text`` tries each of its patterns at every position of a string, which is slow on large
texts (about 130 ns a character). Every pattern it holds contains a fixed fragment
(:data:`TRIGGERS`: ``sk-``, ``bearer`` and a space, ``token`` then ``=`` or ``:`` ...), so a string
holding none of them (compared in ASCII lower case, after ruling out the four non-ASCII letters
that case-insensitive matching equates with ASCII ones) cannot hold a secret and is skipped; so is
a string shorter than the shortest secret. That shortcut is taken only while ``llmos._redact``
holds exactly the patterns it was written for (:data:`COVERED`); when they change, every string goes
through ``redact_text`` until :data:`TRIGGERS` is brought up to date.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from llmos import _redact
from llmos.export.conversation import Conversation, ToolCall

__all__ = [
    "COVERED",
    "EMAIL",
    "EMAIL_REDACTED",
    "TRIGGERS",
    "Redactor",
    "Trigger",
    "may_hold_secret",
    "prefilter_active",
]

#: An e-mail address (see the module docstring).
EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\b"
)
#: What an e-mail address is replaced by.
EMAIL_REDACTED = "[REDACTED_EMAIL]"

# Whitespace as a str pattern's ``\s`` matches it, in ASCII text.
_WS = r"[\t\n\x0b\x0c\r\x1c-\x1f ]"


class Trigger:
    """A fixed part every match of some ``llmos._redact`` pattern holds (in lower case).

    Args:
        fragment: A regular expression starting with a literal (ASCII, lower case), e.g. ``gh[pousr]_``.
        then: What always follows it in such a match (``\\s`` for whitespace), or ``None``.
    """

    __slots__ = ("ascii_pattern", "fragment", "text_pattern")

    def __init__(self, fragment: str, then: str | None = None) -> None:
        self.fragment = re.compile(fragment.encode("ascii"))
        full = fragment + (then or "")
        # a str pattern's \s also matches \x1c-\x1f in ASCII text (and more outside it)
        self.ascii_pattern = re.compile(full.replace(r"\s", _WS).encode("ascii")) if then else self.fragment
        self.text_pattern = re.compile(full) if then else None

    def found(self, low: bytes, text: str, ascii_only: bool) -> bool:
        """Whether it occurs; ``low`` is ``text`` in UTF-8 with ASCII letters in lower case."""
        if ascii_only:
            return self.ascii_pattern.search(low) is not None
        if self.fragment.search(low) is None:
            return False
        return self.text_pattern is None or self.text_pattern.search(text.lower()) is not None


def _assigned(keyword: str) -> Trigger:
    return Trigger(keyword, r"\s*[=:]")


#: Any text a pattern of ``llmos._redact`` matches holds one of these (see :class:`Trigger`).
TRIGGERS: tuple[Trigger, ...] = (
    Trigger("sk-"),  # sk-ant-..., sk-...
    Trigger("gh[pousr]_"),
    Trigger("xox[abpr]-"),
    Trigger("akia"),
    Trigger("aiza"),
    Trigger("private key"),
    Trigger("bearer", r"\s"),
    _assigned("api[_-]?key"),
    _assigned("secret"),
    _assigned("token"),  # token, auth_token, auth-token
    _assigned("passw(?:or)?d"),
    _assigned("access[_-]?key"),
)
#: The non-ASCII letters Python's case-insensitive matching equates with ASCII ones (İ ı ſ K).
_FOLDS = ("\u0130", "\u0131", "\u017f", "\u212a")
#: No pattern of ``llmos._redact`` matches fewer characters (``token=`` and eight more).
_SHORTEST_SECRET = 14

#: The ``llmos._redact`` patterns :data:`TRIGGERS` was written for.
COVERED = frozenset(
    {
        r"sk-ant-[A-Za-z0-9_\-]{10,}",
        r"\bsk-[A-Za-z0-9_\-]{20,}",
        r"\bgh[pousr]_[A-Za-z0-9]{20,}",
        r"\bxox[abpr]-[A-Za-z0-9\-]{10,}",
        r"\bAKIA[0-9A-Z]{16}\b",
        r"\bAIza[0-9A-Za-z_\-]{35}\b",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
        r"(?i)\b(bearer)\s+[A-Za-z0-9._\-]{16,}",
        r"(?i)\b((?:api[_-]?key|secret|token|password|passwd|auth[_-]?token|access[_-]?key)\s*[=:]\s*)"
        r"(['\"]?)[^\s'\"&]{8,}\2",
        # Not a redaction pattern: redact_text's own pre-check, a superset of the patterns above.
        r"sk-|gh[pousr]_|xox[abpr]-|AKIA|AIza|-----BEGIN|(?i:bearer)|(?i:api[_-]?key|secret|token|passw|access[_-]?key)",
    }
)


def _redact_patterns() -> set[str]:
    found: set[str] = set()
    for value in vars(_redact).values():
        items = value if isinstance(value, (list, tuple)) else [value]
        found.update(p.pattern for p in items if isinstance(p, re.Pattern))
    return found


def prefilter_active() -> bool:
    """Whether strings without a :data:`TRIGGERS` fragment skip ``redact_text`` (see the module docstring)."""
    return _redact_patterns() <= COVERED


def _leaves(value: Any, out: list[str]) -> list[str]:
    """Every string of a JSON-like value (dict keys included), appended to ``out``."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                out.append(k)
            _leaves(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _leaves(v, out)
    return out


def may_hold_secret(text: str) -> bool:
    """Whether a pattern of ``llmos._redact`` could match in ``text`` (see the module docstring)."""
    if len(text) < _SHORTEST_SECRET:
        return False
    ascii_only = text.isascii()
    if not ascii_only and any(c in text for c in _FOLDS):
        return True
    low = text.encode("utf-8").lower()
    return any(trigger.found(low, text, ascii_only) for trigger in TRIGGERS)


class Redactor:
    """Redacts secrets and e-mail addresses in strings, JSON-like values and conversations, counting them.

    :meth:`value` and :meth:`conversation` first look at all the strings at once (joined by line
    breaks, which no pattern's trigger spans): when none may hold a secret or an address, the
    value is returned as it is, without a copy.

    Attributes:
        secrets: Secrets replaced so far.
        emails: E-mail addresses replaced so far.
    """

    def __init__(self) -> None:
        self.secrets = 0
        self.emails = 0
        self._prefilter = prefilter_active()
        self._memo: dict[tuple[str, bool], tuple[str, int, int]] = {}

    def text(self, text: str, *, secrets: bool = True, emails: bool = True) -> str:
        """``text`` with its secrets and e-mail addresses replaced.

        Args:
            text: The text.
            secrets: Look for secrets (``False``: the caller knows there are none).
            emails: Look for e-mail addresses (``False``: the caller knows there are none).
        """
        if len(text) < 6:
            return text
        key = (text, secrets)
        memo = self._memo.get(key)
        if memo is None:
            out, found, addresses = text, 0, 0
            if secrets and (not self._prefilter or may_hold_secret(text)):
                out = _redact.redact_text(text)
                if out != text:
                    found = out.count(_redact.REDACTED) - text.count(_redact.REDACTED)
            if emails and "@" in out:
                out, addresses = EMAIL.subn(EMAIL_REDACTED, out)
            memo = (out, found, addresses)
            if len(text) > 256:  # long texts recur within one example (a file read, then summarised)
                self._memo[key] = memo
        self.secrets += memo[1]
        self.emails += memo[2]
        return memo[0]

    def forget(self) -> None:
        """Drop the texts remembered from the current example (call between examples)."""
        self._memo.clear()

    def _scan(self, strings: list[str]) -> tuple[bool, bool]:
        joined = "\n".join(strings)
        return (not self._prefilter or may_hold_secret(joined)), "@" in joined

    def _copy(self, value: Any, secrets: bool, emails: bool) -> Any:
        if isinstance(value, str):
            return self.text(value, secrets=secrets, emails=emails)
        if isinstance(value, dict):
            return {
                self.text(k, secrets=secrets, emails=emails) if isinstance(k, str) else k: self._copy(
                    v, secrets, emails
                )
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self._copy(v, secrets, emails) for v in value]
        return value

    def value(self, value: Any) -> Any:
        """``value`` (JSON-like) with every string redacted (dict keys included); a copy if anything may change."""
        secrets, emails = self._scan(_leaves(value, []))
        if not (secrets or emails):
            return value
        return self._copy(value, secrets, emails)

    def conversation(self, conv: Conversation) -> Conversation:
        """``conv`` with every string redacted (system, user, arguments, results, final).

        Returns:
            ``conv`` itself when nothing may change, else a copy.
        """
        strings = [conv.system, conv.user, conv.final]
        for c in conv.calls:
            _leaves([c.arguments, c.output, c.error], strings)
        secrets, emails = self._scan(strings)
        if not (secrets or emails):
            return conv

        def text(value: str) -> str:
            return self.text(value, secrets=secrets, emails=emails)

        calls = [
            ToolCall(
                id=c.id,
                name=c.name,
                arguments=self._copy(c.arguments, secrets, emails),
                output=self._copy(c.output, secrets, emails),
                error=None if c.error is None else text(c.error),
                agent=c.agent,
            )
            for c in conv.calls
        ]
        return replace(conv, system=text(conv.system), user=text(conv.user), calls=calls, final=text(conv.final))
