"""Run state: the machine state of one run, persisted to ``execution_state.md`` at every transition.

``execution_state.md`` has two readers. Its YAML front matter holds the whole machine state
(:meth:`RunState.to_dict`), which the runner reads back with :func:`load_state`; its body is the
same state rendered for people through the Jinja2 template in ``system/ExecutionStateTemplate.md``.
Claude Code, acting as SystemAgent, writes the same format.

Each run lives in ``workspace/runs/<execution_id>/``: ``execution_state.md`` (current state and
the most recent transitions), ``journal.jsonl`` (every transition, append-only) and
``artifacts/`` (outputs too large to inline). ``workspace/execution_state.md`` mirrors the latest
run. Every write is atomic: temporary file, fsync, rename (a simulation batch skips the fsyncs and
the mirror: see :class:`RunStore`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from llmos._atomic import append_line, atomic_write_text
from llmos._redact import redact, redact_text
from llmos.exceptions import StateError

__all__ = [
    "RECENT_TRANSITIONS",
    "SCHEMA_VERSION",
    "RunState",
    "RunStore",
    "StepState",
    "Transition",
    "load_state",
    "new_execution_id",
    "utc_now",
]

#: Version of the state file format; a file with another version is refused.
SCHEMA_VERSION = 1
#: How many transitions the state file keeps; the journal keeps all of them.
RECENT_TRANSITIONS = 20
#: Strings longer than this (characters) are stored as artifact files and referenced.
INLINE_LIMIT = 2000

RUN_STATUSES = ("running", "paused", "completed", "failed")


def utc_now() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_execution_id() -> str:
    """A new execution id: ``run-YYYYMMDD-HHMMSS-xxxxxx`` (UTC time and 6 random hex digits)."""
    import secrets

    return f"run-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@dataclass(kw_only=True)
class Transition:
    """One recorded change of state.

    Attributes:
        seq: 1-based position in the run's journal.
        at: UTC time (ISO 8601).
        kind: ``phase`` (run phase change), ``step`` (step status change), ``tool_call`` or
            ``agent_call`` (a call finished).
        source: The phase or status before (``""`` for calls).
        target: The phase or status after (for calls: ``ok`` or ``error``).
        step: The step id, for step and call transitions.
        detail: A short human-readable note (error message, tool name, reason).
        data: Extra fields (tool, inputs and outputs of calls, duration_s, cost_usd).
    """

    seq: int
    at: str
    kind: str
    source: str
    target: str
    step: str | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, omitting empty optional fields."""
        out = asdict(self)
        for key in ("step", "detail", "data"):
            if not out[key]:
                del out[key]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transition:
        """Inverse of :meth:`to_dict`."""
        return cls(
            seq=int(data["seq"]),
            at=str(data["at"]),
            kind=str(data["kind"]),
            source=str(data["source"]),
            target=str(data["target"]),
            step=data.get("step"),
            detail=data.get("detail", ""),
            data=dict(data.get("data") or {}),
        )


@dataclass(kw_only=True)
class StepState:
    """The state of one planned step.

    Attributes:
        id: Step id.
        component: Component name.
        tool: The Claude Code tool called, for tool steps.
        kind: ``tool`` or ``agent``.
        status: One of ``pending``, ``running``, ``completed``, ``failed``, ``skipped``.
        attempts: Calls made so far (retries included).
        started_at: UTC ISO time the step started, or ``None``.
        finished_at: UTC ISO time it ended, or ``None``.
        duration_s: Seconds from start to end.
        cost_usd: US dollars spent by the step.
        inputs: The rendered inputs (long strings as artifact references).
        outputs: The outputs (long strings as artifact references).
        error: The error message when the step failed.
        source: Provenance of the outputs: ``real``, ``replayed``, ``example`` or ``generated``.
        document_sha256: Content hash of the component document the step used.
        quality_metrics: Metrics the runner measured on the outputs (summaries), or a list of
            them for a ``for_each`` step; ``None`` when none apply.
        note: How the step ended when it is worth saying (e.g. completed by a fallback).
    """

    id: str
    component: str
    kind: str = "tool"
    tool: str | None = None
    status: str = "pending"
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float = 0.0
    cost_usd: float = 0.0
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    source: str | None = None
    document_sha256: str | None = None
    quality_metrics: Any = None
    note: str | None = None


@dataclass(kw_only=True)
class RunState:
    """The whole machine state of a run (the front matter of execution_state.md).

    Attributes:
        schema_version: :data:`SCHEMA_VERSION`.
        execution_id: The run's id.
        scenario: Scenario name.
        scenario_path: The scenario file.
        goal: The run's goal.
        mode: ``execution`` or ``simulation``.
        provider: The provider that answers agent steps (``local``, ``scripted``, ...).
        status: One of ``running``, ``paused``, ``completed``, ``failed``.
        phase: The current run phase (see SystemAgent.md's state machine).
        started_at: UTC ISO time.
        updated_at: UTC ISO time of the last transition.
        finished_at: UTC ISO time the run ended, or ``None``.
        duration_s: Seconds from start to the last transition.
        project_root: The project root in use.
        workspace: The workspace folder.
        inputs: The scenario inputs, resolved.
        plan: The steps as planned (the scenario ``steps`` schema).
        steps: Per-step state, in plan order.
        current_step: Id of the step being run, or ``None``.
        cost_usd: US dollars spent so far.
        budget_usd: The cap in US dollars, or ``None``.
        transition_count: Transitions recorded so far (the journal's length).
        recent_transitions: The last :data:`RECENT_TRANSITIONS` transitions.
        error: ``{"message", "step", "type"}`` when the run failed, else ``None``.
        paused_reason: Why the run paused (budget spent, approval needed), else ``None``.
        outputs: Files the run wrote (absolute paths).
    """

    schema_version: int = SCHEMA_VERSION
    execution_id: str
    scenario: str = ""
    scenario_path: str = ""
    goal: str = ""
    mode: str = "execution"
    provider: str = ""
    status: str = "running"
    phase: str = "INITIALIZE"
    started_at: str = ""
    updated_at: str = ""
    finished_at: str | None = None
    duration_s: float = 0.0
    project_root: str = ""
    workspace: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    plan: list[dict[str, Any]] = field(default_factory=list)
    steps: list[StepState] = field(default_factory=list)
    current_step: str | None = None
    cost_usd: float = 0.0
    budget_usd: float | None = None
    transition_count: int = 0
    recent_transitions: list[Transition] = field(default_factory=list)
    error: dict[str, Any] | None = None
    paused_reason: str | None = None
    outputs: list[str] = field(default_factory=list)

    def step(self, step_id: str) -> StepState:
        """The state of one step.

        Raises:
            KeyError: No such step.
        """
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def to_dict(self) -> dict[str, Any]:
        """The state as plain data (YAML/JSON-safe)."""
        out = asdict(self)
        out["recent_transitions"] = [t.to_dict() for t in self.recent_transitions]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, path: Path | None = None) -> RunState:
        """Rebuild a state from :meth:`to_dict` output.

        Raises:
            StateError: Unknown schema version, or a missing or ill-typed field.
        """
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise StateError(
                f"unknown state schema_version {version!r}; this runner reads version {SCHEMA_VERSION}", path=path
            )
        try:
            fields = dict(data)
            fields["steps"] = [StepState(**s) for s in data.get("steps") or []]
            fields["recent_transitions"] = [Transition.from_dict(t) for t in data.get("recent_transitions") or []]
            state = cls(**fields)
        except (TypeError, KeyError, ValueError) as exc:
            raise StateError(f"malformed run state: {exc}", path=path) from None
        if state.status not in RUN_STATUSES:
            raise StateError(f"unknown run status {state.status!r}", path=path)
        return state


def load_state(path: str | Path) -> RunState:
    """Read an execution_state.md (written by the runner or by Claude Code).

    Raises:
        StateError: The file is missing, has no front matter, or holds an invalid state.
    """
    file = Path(path)
    try:
        post = frontmatter.load(str(file))
    except FileNotFoundError:
        raise StateError("no such state file", path=file) from None
    except yaml.YAMLError as exc:
        raise StateError(f"front matter is not valid YAML: {exc}", path=file) from None
    if not post.metadata:
        raise StateError("no front matter with the run state", path=file)
    return RunState.from_dict(dict(post.metadata), path=file)


_STATE_FIELDS = tuple(f.name for f in fields(RunState))
_STEP_FIELDS = tuple(f.name for f in fields(StepState))

# libyaml's emitter when PyYAML was built with it (about 10x faster than the pure-Python one).
_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[valid-type,misc]
    pass


def _str_presenter(dumper: yaml.representer.SafeRepresenter, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_front_matter(data: dict[str, Any]) -> str:
    """YAML for a front matter block (block style, keys in order, Unicode kept)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


# -- the front matter, piece by piece -----------------------------------------------------------
#
# Rewriting execution_state.md at every transition used to dump the whole state to YAML each time,
# though a transition changes a few fields. RunStore.render instead dumps each top-level scalar,
# each container field, each step and each recent transition on its own ("pieces") and reuses the
# YAML of the pieces that did not change. The YAML of a block mapping is the concatenation of the
# YAML of its keys, and a block sequence's that of its items, so the text is the same as a whole
# dump, with one exception handled here: the document end marker ``...``, which the emitter adds
# when a keep-chomped block scalar (``|+``, a string ending in two newlines) leaves the document
# open. libyaml closes it again only at the next block scalar; PyYAML's own emitter at any next
# token. So each piece says how it leaves the document (open, closed, or as it was).


class _Representer(yaml.representer.SafeRepresenter):
    """The representer of :func:`dump_front_matter`, on its own (to dump a node twice)."""


_Representer.add_representer(str, _str_presenter)
_STR = "tag:yaml.org,2002:str"


def _serialize(node: yaml.Node) -> str:
    return yaml.serialize(node, Dumper=_Dumper, allow_unicode=True, width=120)


def _sticky_end() -> bool:
    return dump_front_matter({"a": "x\n\n", "b": 1}).endswith("\n...\n")


_STICKY_END = _sticky_end()


def _yaml_piece(data: Any) -> tuple[str, bool | None]:
    """The YAML of a piece of the front matter (a mapping of top-level keys, or a one-item list)
    without the document end marker, and how the piece leaves the document: open (``True``: a
    dump ending here ends with ``...``), closed (``False``), or as it was (``None``)."""
    node = _Representer(default_flow_style=False, sort_keys=False).represent_data(data)
    text = _serialize(node)
    if text.endswith("\n...\n"):
        return text[:-4], True
    if not _STICKY_END:
        return text, False
    # Only strings with a line break become block scalars. After a keep-chomped scalar, the
    # document stays open unless one of them does: emit them alone after one to find out (a
    # value's style depends on the string alone; a key with a line break is emitted otherwise).
    strings: list[str] = []
    keep = yaml.ScalarNode(_STR, "x\n\n", style="|")
    if not _multiline_values(data, strings):  # not in practice: emit the whole piece after one
        probe = [keep, node]
    elif not strings:
        return text, None
    else:
        probe = [keep, *(yaml.ScalarNode(_STR, v, style="|") for v in strings)]
    seq = yaml.SequenceNode("tag:yaml.org,2002:seq", probe, flow_style=False)
    return text, None if _serialize(seq).endswith("\n...\n") else False


def _multiline_values(value: Any, out: list[str]) -> bool:
    """Collect the strings with a line break among the values of ``value``, in order; ``False``
    when a mapping key has a line break."""
    if isinstance(value, str):
        if "\n" in value:
            out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\n" in key:
                return False
            if not _multiline_values(item, out):
                return False
    elif isinstance(value, list):
        return all(_multiline_values(item, out) for item in value)
    return True


@functools.lru_cache(maxsize=1024, typed=True)
def _scalar_piece(name: str, value: str | float | None) -> tuple[Any, str, bool | None]:
    """A top-level scalar of the state: redacted, and its YAML piece."""
    if isinstance(value, str):
        plain = redact_text(value)
        return (plain, *_yaml_piece({name: plain}))
    # Numbers, booleans and null are plain scalars: "name: <the representer's text>".
    return value, f"{name}: {_Representer().represent_data(value).value}\n", None


def _field_piece(name: str, value: Any) -> tuple[Any, str, bool | None]:
    """A top-level container field of the state: redacted, and its YAML piece."""
    plain = redact(value)
    return (plain, *_yaml_piece({name: plain}))


def _transition_piece(transition: Transition) -> tuple[Any, str, bool | None]:
    """A recent transition of the state: as plain data, redacted, and its YAML piece."""
    plain = redact(transition.to_dict())
    return (plain, *_yaml_piece([plain]))


def _step_field_piece(name: str, value: Any) -> tuple[Any, str, bool | None]:
    """A field of a step: as plain data (what ``asdict`` makes of it), redacted, and its YAML in
    the step's sequence item (``- name: ...`` for the first field, ``  name: ...`` after)."""
    plain = redact(_as_plain(value))
    text, ends = _yaml_piece([{name: plain}])
    return plain, text if name == _STEP_FIELDS[0] else "  " + text[2:], ends


def _as_plain(value: Any) -> Any:
    """``value`` with any dataclass inside turned into a dict, as ``dataclasses.asdict`` does."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return {k: _as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_plain(v) for v in value]
    return value


@functools.lru_cache(maxsize=16)
def compile_template(source: str) -> Any:
    """Compile the Jinja2 source of execution_state.md's body (blocks trimmed, no autoescape).

    Compiled once per source and process (a template renders any number of states), so runs after
    the first skip the compilation.
    """
    import jinja2

    env = jinja2.Environment(autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env.from_string(source)


def sample_states() -> list[RunState]:
    """States covering every field shape, for checking that a template renders before any run."""
    step = StepState(id="s", component="C", tool="Read", status="failed", attempts=2, error="e", duration_s=1.0)
    return [
        RunState(execution_id="check-fresh"),
        RunState(
            execution_id="check-full",
            budget_usd=1.0,
            cost_usd=0.5,
            steps=[step],
            current_step="s",
            inputs={"k": "v"},
            error={"message": "m", "step": "s", "type": "RunError"},
            paused_reason="p",
            outputs=["/x"],
            recent_transitions=[Transition(seq=1, at="t", kind="phase", source="", target="X")],
        ),
    ]


@functools.cache
def _renameat2() -> Any:
    """Linux's renameat2(2) from the C library, or ``None``."""
    if sys.platform != "linux":
        return None
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(tmp: Path, path: Path) -> bool:
    """Swap ``tmp`` and an existing ``path`` (``RENAME_EXCHANGE``: as atomic as a rename);
    ``False`` when that cannot be done here (not Linux, no such file yet, a file system without it)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    return bool(renameat2(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(path), _RENAME_EXCHANGE) == 0)


def _append_unsynced(path: Path, line: str) -> None:
    """Like :func:`~llmos._atomic.append_line` (one O_APPEND write) without the fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8"))
    finally:
        os.close(fd)


class RunStore:
    """Persists one run: state file, mirror, journal and artifacts.

    Args:
        workspace: The workspace folder.
        execution_id: The run's id; its folder is ``workspace/runs/<execution_id>``.
        template: The Jinja2 source of the state file body (from ExecutionStateTemplate.md).
        durable: ``False`` skips the fsyncs, for simulation batches (:mod:`llmos.simulate`), whose
            runs can simply be run again, so surviving a power loss is not worth an fsync per file
            per transition. Writes stay atomic (a temporary file renamed, or swapped, into place:
            whoever opens a file finds a whole version) and a journal line is still one
            ``write``; but the file a write replaces is reused for the next one (see
            :meth:`write`), so a reader that keeps a state file open across two transitions may
            see it change under it. Call :meth:`close` when the run ends.
        mirror: ``False`` leaves ``workspace/execution_state.md`` alone (a simulation batch runs
            many runs at once; "the latest run" means nothing there).
    """

    def __init__(
        self, workspace: Path, execution_id: str, template: str, *, durable: bool = True, mirror: bool = True
    ) -> None:
        self.workspace = workspace
        self.run_dir = workspace / "runs" / execution_id
        self.state_path = self.run_dir / "execution_state.md"
        self.journal_path = self.run_dir / "journal.jsonl"
        self.artifacts_dir = self.run_dir / "artifacts"
        self.mirror_path = workspace / "execution_state.md"
        self.durable = durable
        self.mirror = mirror
        self._template = compile_template(template)
        self._parts: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._spares: set[Path] = set()
        self.run_dir.mkdir(parents=True, exist_ok=True)

    def write(self, path: Path, text: str) -> None:
        """Replace a file of the run atomically (fsynced when the store is durable).

        Without fsync (a batch), the new text goes to a temporary file that is swapped with the
        old file where Linux can (see :func:`_exchange`), and the old file is kept as the
        temporary file of the next write, removed by :meth:`close`. A batch rewrites thousands of
        state files a second, and on ext4 each plain rename over a file first writes the new data
        to disk (its auto_da_alloc safeguard), and each new file costs an inode that ext4 finds
        more slowly the more files were deleted lately; swapped and reused, a version the next
        transition replaces never reaches the disk and no inode is made or freed.
        """
        if self.durable:
            atomic_write_text(path, text)
            return
        tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"  # one process writes a run's files
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o644)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            try:
                encoded = text.encode("utf-8")
                data = memoryview(encoded)
                while data:
                    data = data[os.write(fd, data) :]
                # Cut what is left of the old text; not with O_TRUNC, as ext4 also writes a file
                # out to disk when it was truncated to nothing.
                os.ftruncate(fd, len(encoded))
            finally:
                os.close(fd)
            if _exchange(tmp, path):
                self._spares.add(tmp)  # now the old file
            else:
                os.replace(tmp, path)
                self._spares.discard(tmp)
        except BaseException:
            self._spares.discard(tmp)
            tmp.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        """Remove the temporary files kept for the next write (call once the run has ended)."""
        for tmp in self._spares:
            tmp.unlink(missing_ok=True)
        self._spares.clear()

    def offload(self, name: str, value: Any) -> Any:
        """Replace long strings inside ``value`` with artifact references.

        Strings longer than :data:`INLINE_LIMIT` characters are written to
        ``artifacts/<name>.<sha12>.txt`` (the name reduced to ``[A-Za-z0-9_.-]``, secrets redacted)
        and replaced by
        ``{"artifact": "artifacts/...", "chars": N, "sha256": ..., "preview": first 200 chars}``.
        """
        if isinstance(value, str) and len(value) > INLINE_LIMIT:
            value = redact_text(value)
            digest = hashlib.sha256(value.encode("utf-8")).hexdigest()
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:80] or "value"
            rel = f"artifacts/{stem}.{digest[:12]}.txt"
            target = self.run_dir / rel
            if not target.exists():
                self.write(target, value)
            return {"artifact": rel, "chars": len(value), "sha256": digest, "preview": value[:200]}
        if isinstance(value, dict):
            return {k: self.offload(f"{name}.{k}", v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.offload(f"{name}.{i}", v) for i, v in enumerate(value)]
        return value

    def render(self, state: RunState) -> str:
        """The full text of execution_state.md for ``state``: front matter plus rendered body."""
        data, front = self._plain(state)
        body = self._template.render(state=data)
        return f"---\n{front}---\n{body}"

    def _plain(self, state: RunState) -> tuple[dict[str, Any], str]:
        """``redact(state.to_dict())`` and its :func:`dump_front_matter` text, from pieces.

        Each step, recent transition and container field is converted, redacted and dumped once
        and reused while its ``repr`` stays the same (the cache keeps the pieces the previous
        state used); scalars are cached by value. See :func:`_yaml_piece`.
        """
        previous = self._parts
        cache: dict[tuple[str, str], tuple[Any, ...]] = {}
        pieces: list[tuple[str, bool | None]] = []

        def lookup(key: tuple[str, str], make: Any) -> tuple[Any, ...]:
            hit = previous.get(key) or cache.get(key)
            if hit is None:
                hit = make()
            cache[key] = hit
            return hit

        def step_piece(step: StepState) -> tuple[Any, ...]:
            # A step changes a field or two at a time: its fields are pieces of their own. The
            # YAML of a one-key mapping in a sequence item ("- key: ...") is that key's text in
            # the whole item, "- " becoming "  " after the first key.
            fields: dict[str, Any] = {}
            texts: list[str] = []
            ends: bool | None = None
            keys = []
            for field_name in _STEP_FIELDS:
                item = getattr(step, field_name)
                key = ("steps." + field_name, repr(item))
                fields[field_name], text, field_ends = lookup(key, lambda n=field_name, v=item: _step_field_piece(n, v))
                texts.append(text)
                ends = ends if field_ends is None else field_ends
                keys.append(key)
            return fields, "".join(texts), ends, keys

        data: dict[str, Any] = {}
        for name in _STATE_FIELDS:
            value = getattr(state, name)
            if value is None or isinstance(value, (str, int, float)):
                data[name], text, ends = _scalar_piece(name, value)
                pieces.append((text, ends))
            elif name == "steps" and value:
                pieces.append(("steps:\n", None))
                data[name] = []
                for step in value:
                    hit = lookup(("steps", repr(step)), lambda step=step: step_piece(step))
                    for key in hit[3]:  # keep the step's field pieces for when it changes
                        cache[key] = previous.get(key) or cache[key]
                    data[name].append(hit[0])
                    pieces.append((hit[1], hit[2]))
            elif name == "recent_transitions" and value:
                pieces.append(("recent_transitions:\n", None))
                data[name] = []
                for transition in value:
                    hit = lookup((name, repr(transition)), lambda t=transition: _transition_piece(t))
                    data[name].append(hit[0])
                    pieces.append((hit[1], hit[2]))
            else:
                hit = lookup((name, repr(value)), lambda name=name, value=value: _field_piece(name, value))
                data[name] = hit[0]
                pieces.append((hit[1], hit[2]))
        self._parts = cache
        open_ended = False
        for _, ends in pieces:
            open_ended = open_ended if ends is None else ends
        return data, "".join(text for text, _ in pieces) + ("...\n" if open_ended else "")

    def record(self, state: RunState, transition: Transition) -> None:
        """Persist one transition: append it to the journal, then rewrite the state file and mirror.

        Raises:
            StateError: The disk refused the write.
        """
        try:
            text = self.render(state)
        except Exception as exc:  # a template that parses but cannot render this state
            raise StateError(f"ExecutionStateTemplate.md cannot render the state: {exc}", path=self.state_path) from exc
        try:
            done = self._parts.get(("recent_transitions", repr(transition)))  # redacted by render
            plain = done[0] if done is not None else redact(transition.to_dict())
            line = json.dumps(plain, ensure_ascii=False, default=str)
            (append_line if self.durable else _append_unsynced)(self.journal_path, line)
            self.write(self.state_path, text)
            if self.mirror:
                self.write(self.mirror_path, text)
        except OSError as exc:
            raise StateError(f"cannot persist the run state: {exc}", path=self.state_path) from exc

    def journal(self) -> list[Transition]:
        """Every transition recorded so far, from the journal."""
        if not self.journal_path.exists():
            return []
        with self.journal_path.open(encoding="utf-8") as handle:
            return [Transition.from_dict(json.loads(line)) for line in handle if line.strip()]
