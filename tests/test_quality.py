"""Quality metrics: measured from what the run produced, with documented definitions."""

from __future__ import annotations

from types import SimpleNamespace

from llmos.quality import grounding, run_metrics, summary_metrics

SOURCE = (
    "psmisc is a package of small utilities that use the proc file-system. "
    "fuser identifies processes using files or sockets. killall kills processes by name. "
    "There are two ways of getting the latest source. "
    "For the latest psmisc source, visit the GitLab psmisc page."
)


def test_a_sentence_copied_from_the_source_is_supported() -> None:
    assert grounding(SOURCE, ["fuser identifies processes using files or sockets."]) == 1.0


def test_a_sentence_the_source_does_not_contain_is_not_supported() -> None:
    assert grounding(SOURCE, ["The storming of the Bastille began the French revolution."]) == 0.0


def test_grounding_is_the_share_of_supported_sentences_and_key_points() -> None:
    claims = [
        "psmisc is a package of small utilities. Napoleon crowned himself emperor in Paris.",
        "killall kills processes by name.",
        "Rivers flow downhill towards seas.",
    ]
    assert grounding(SOURCE, claims) == 0.5


def test_a_sentence_may_draw_on_neighbouring_source_sentences() -> None:
    fused = "fuser identifies processes using sockets and killall kills processes by name."
    assert grounding(SOURCE, [fused]) == 1.0


def test_summary_metrics_shape() -> None:
    metrics = summary_metrics(SOURCE, "killall kills processes by name.", ["fuser identifies processes."])
    assert metrics == {
        "source_words": 44,
        "summary_words": 5,
        "compression_ratio": round(5 / 44, 4),
        "grounding": 1.0,
        "word_overlap": 1.0,
        "key_points": 1,
    }


def step(status: str, *, attempts: int = 1, error: str | None = None, cost: float = 0.0) -> SimpleNamespace:
    return SimpleNamespace(status=status, attempts=attempts, error=error, cost_usd=cost, duration_s=0.5)


def test_the_score_multiplies_success_schema_and_grounding() -> None:
    steps = [step("completed", cost=0.01), step("completed", attempts=2), step("failed", error="boom")]
    summaries = {"summarize": [{"grounding": 0.5}, {"grounding": 1.0}]}
    metrics = run_metrics(steps, summaries, schema_ok=True)
    assert metrics == {
        "steps_planned": 3,
        "steps_completed": 2,
        "step_success_rate": 0.6667,
        "errors": 1,
        "retries": 1,
        "cost_usd": 0.01,
        "duration_s": 1.5,
        "outputs_match_schema": True,
        "summaries": summaries,
        "score": round(0.6667 * 0.75, 4),
    }
    assert run_metrics(steps, summaries, schema_ok=False)["score"] == 0.0
    assert run_metrics([step("completed")], {}, schema_ok=True)["score"] == 1.0
