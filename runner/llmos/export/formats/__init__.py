"""The export formats: each turns a trace into records of its shape and validates them.

=============  ==============================================================================
``seed``       the seed document's per-run JSON (:mod:`~llmos.export.formats.seed`)
``openai``     OpenAI chat fine-tuning JSONL (:mod:`~llmos.export.formats.openai_chat`)
``anthropic``  Anthropic Messages JSONL (:mod:`~llmos.export.formats.anthropic_messages`)
``sharegpt``   LLaMA-Factory's ShareGPT JSONL (:mod:`~llmos.export.formats.sharegpt`)
``hf``         a Hugging Face dataset folder (:mod:`~llmos.export.formats.hf`)
=============  ==============================================================================
"""

from __future__ import annotations

from llmos.export.formats.anthropic_messages import AnthropicFormat, validate_anthropic
from llmos.export.formats.base import ConversationFormat, Example, Format, Violation
from llmos.export.formats.hf import HFFormat, validate_hf
from llmos.export.formats.openai_chat import OpenAIFormat, validate_openai
from llmos.export.formats.seed import SeedFormat, validate_seed
from llmos.export.formats.sharegpt import ShareGPTFormat, validate_sharegpt

__all__ = [
    "FORMATS",
    "AnthropicFormat",
    "ConversationFormat",
    "Example",
    "Format",
    "HFFormat",
    "OpenAIFormat",
    "SeedFormat",
    "ShareGPTFormat",
    "Violation",
    "get_format",
    "validate_anthropic",
    "validate_hf",
    "validate_openai",
    "validate_seed",
    "validate_sharegpt",
]

#: ``--format`` name -> format class.
FORMATS: dict[str, type[Format]] = {
    f.name: f for f in (SeedFormat, OpenAIFormat, AnthropicFormat, ShareGPTFormat, HFFormat)
}


def get_format(name: str) -> Format:
    """The format called ``name``.

    Raises:
        ValueError: No format has that name.
    """
    try:
        return FORMATS[name]()
    except KeyError:
        raise ValueError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}") from None
