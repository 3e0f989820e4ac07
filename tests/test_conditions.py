"""Condition ids: one type reads and writes them, and no module splits one by hand."""

import re
from pathlib import Path

import pytest

from study.conditions import CONDITIONS, KINDS, ConditionId, facts, ids, label

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text, kind, family, draw", [
    ("none", "none", None, None),
    ("diverse", "diverse", None, None),
    ("random", "random", None, None),
    ("random-12", "random", None, 12),
    ("qa/random-0", "random", "qa", 0),
    ("nli/en+diverse", "en+diverse", "nli", None),
    ("translate-train", "translate-train", None, None),
    ("paraphrase/en-replicate", "en-replicate", "paraphrase", None),
])
def test_an_id_parses_into_its_parts_and_formats_back(text, kind, family, draw):
    cid = ConditionId.parse(text)
    assert (cid.kind, cid.family, cid.draw) == (kind, family, draw)
    assert str(cid) == text
    assert ConditionId.parse(cid) is cid


def test_a_draw_pools_into_its_familys_random_condition():
    assert str(ConditionId.parse("qa/random-3").pooled) == "qa/random"
    assert ConditionId.parse("qa/random-3").prefix == "qa/"
    assert ConditionId.parse("qa/random-3").name == "random-3"
    assert ConditionId.parse("diverse").pooled == ConditionId("diverse")


@pytest.mark.parametrize("text, named", [
    ("divers", "'divers'"), ("qa/random-x", "'random-x'"), ("diverse-1", "'diverse-1'"), ("", "''")])
def test_a_bad_id_is_refused_naming_it_and_what_is_accepted(text, named):
    with pytest.raises(ValueError) as e:
        ConditionId.parse(text)
    assert named in str(e.value) and "accepted" in str(e.value)


def test_the_grids_ids_one_family_and_several():
    kinds = ["none", "en", "random", "translate-train", "en-replicate"]
    assert ids(kinds, 2) == ["en", "random-0", "random-1", "translate-train", "en-replicate"]
    assert ids(kinds, 1, ["nli", "qa"]) == ["nli/en", "nli/random-0", "nli/en-replicate",
                                            "qa/en", "qa/random-0", "qa/en-replicate", "translate-train"]
    # translate-train has no family of its own: the first family's slice selects its data
    assert ConditionId.parse("translate-train").home(["nli", "qa"]) == "nli"
    assert ConditionId.parse("qa/en").home(["nli", "qa"]) == "qa"
    assert ConditionId.parse("en").home([]) is None


def test_a_replicate_follows_its_originals_recipe():
    assert facts("en-replicate") == KINDS["en"] and facts("qa/random-2") == KINDS["random"]
    assert label("en-replicate") == "en-replicate (negative control)"
    assert label("translate-train") == "translate-train (reference, not zero-shot)"
    assert label("qa/random") == "qa/random (draws pooled)" and label("random-0") == "random-0"
    assert set(CONDITIONS) == set(KINDS)


# a condition id taken apart by hand: its family split off, a draw recognised by its prefix
HAND_SPLIT = re.compile(r"""rpartition\(["']/["']\)|split\(["']/["']|startswith\(["']random"""
                        r"""|f["']random-\{|["']random-["']""")


def test_no_condition_id_is_split_or_built_by_hand_outside_conditionid():
    sources = [p for p in (ROOT / "study").rglob("*.py") if p.name != "conditions.py"]
    sources += [ROOT / "workflow" / "Snakefile", *(ROOT / "workflow").rglob("*.smk")]
    sources += sorted((ROOT / "notebooks").glob("*.ipynb"))
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in sources
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if HAND_SPLIT.search(line)]
    assert len(sources) > 30
    assert not found, "condition ids split by hand (use study.conditions.ConditionId):\n" + "\n".join(found)


def test_the_grep_finds_a_hand_split_id():
    assert HAND_SPLIT.search('family, _, kind = condition.rpartition("/")')
    assert HAND_SPLIT.search("if c.startswith('random-'):")
    assert HAND_SPLIT.search('ids += [f"random-{d}" for d in draws]')
    assert not HAND_SPLIT.search('kind = ConditionId.parse(c).kind')
