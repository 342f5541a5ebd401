"""Every probe set keeps the score it has (issue 15: "the existing dev set and probes must not fall below their
current scores"), as two numbers: accuracy (right / all) and precision (right / answered).

The floors are the scores measured when each was last raised, so a change to the offline writer that answers
one more question wrongly, or refuses one it used to answer, fails here with the report of what changed.
The probes were scored untouched first; those first numbers are in docs/DEVELOPMENT.md, not here.
"""

from typing import Any

import pytest

from evals.accuracy import DATASETS, load_dataset, run_eval
from evals.followups import load_chats, run_chats
from graph.settings import Settings

# dataset → (right, answered) at the last measurement: accuracy and precision may not fall below these.
FLOORS: dict[str, tuple[int, int]] = {
    "holdout_probe.jsonl": (60, 60),
    "holdout_probe2.jsonl": (29, 30),
    "holdout_probe3.jsonl": (59, 60),
    "holdout_probe4.jsonl": (27, 28),
    "holdout_probe5.jsonl": (50, 56),
    "holdout_probe6.jsonl": (29, 30),
    "holdout_probe7.jsonl": (56, 59),
    "holdout_probe8.jsonl": (67, 67),
    "holdout_probe9.jsonl": (65, 65),
    "holdout_probe10.jsonl": (47, 48),
    "holdout_probe11.jsonl": (57, 57),
}
FOLLOW_UP_FLOORS: dict[str, tuple[int, int]] = {"followups.jsonl": (32, 32), "followups_probe2.jsonl": (29, 29)}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FLOORS))
async def test_probe_keeps_its_score(name: str, registry: Any) -> None:
    right, answered = FLOORS[name]
    report = await run_eval(load_dataset(DATASETS / name), registry)
    got_right = sum(o.correct for o in report.outcomes)
    assert got_right >= right, report.format()
    assert report.precision >= right / answered, report.format()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FOLLOW_UP_FLOORS))
async def test_follow_up_set_keeps_its_score(name: str, registry: Any, demo_data_dir: Any) -> None:
    right, answered = FOLLOW_UP_FLOORS[name]
    settings = Settings(data_dir=demo_data_dir, retry_delay_scale=0.0, content_batch_ms=0)
    report = await run_chats(load_chats(DATASETS / name), registry, settings)
    assert sum(o.correct for o in report.outcomes) >= right, report.format()
    assert report.precision >= right / answered, report.format()


def test_the_newest_probes_are_fresh_sized_and_bilingual() -> None:
    probe = load_dataset(DATASETS / "holdout_probe9.jsonl")
    assert len(probe) >= 60 and sum(e.locale == "zh" for e in probe) >= len(probe) / 3
    chats = load_chats(DATASETS / "followups_probe2.jsonl")
    assert len(chats) >= 25 and sum(c.locale == "zh" for c in chats) >= len(chats) / 3
