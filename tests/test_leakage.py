"""Leakage check with planted duplicates of target evaluation pairs."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import concatenated

from study.config import load_config
from study.leakage import LeakageError, evaluation_keys, example_keys, normalise
from study.selection import Phase2Plan, build_phase2_set

ROOT = Path(__file__).resolve().parents[1]


def test_normalisation():
    assert normalise("  Anna sees,  the BOOK. ") == normalise("anna sees the book") == "anna sees the book"
    assert normalise("彼は本を見る。") == "彼は本を見る"
    assert normalise("ｆｕｌｌ width") == "full width"  # NFKC


def _study(tmp_path: Path, leakage: str, planted: int):
    data = tmp_path / "data"
    for lang in ("en", "de", "ja"):
        shutil.copytree(ROOT / "data/demo/demo_nli" / lang, data / "demo_nli" / lang)
    test = [json.loads(x) for x in (data / "demo_nli/de/test.jsonl").open()][:planted]
    with (data / "demo_nli/en/train.jsonl").open("a") as fh:
        for row in [json.loads(x) for x in (data / "demo_nli/en/test.jsonl").open()][:planted]:
            # the same pair, disguised: other case, spacing and punctuation
            fh.write(json.dumps({**row, "premise": "  " + row["premise"].upper().rstrip("."),
                                 "hypothesis": row["hypothesis"] + " !"}) + "\n")
    with (data / "demo_nli/ja/train.jsonl").open("a") as fh:
        for row in test:  # a German test pair planted in the Japanese pool language
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    cfg = load_config(ROOT / "params/demo.yaml", {
        "data.local_dir": str(data),
        "data.targets": {"demo_nli": {"train": "demo_nli", "languages": ["en", "de"]}},
        "selection.budget": 1500, "selection.leakage": leakage, "output_root": str(tmp_path)})
    plan = Phase2Plan(pool={"ja": ("demo_nli",)}, excluded=("de",),
                      languages={"en": ("en",), "diverse": ("ja",)})
    return cfg, plan


def test_planted_duplicates_are_counted_and_dropped_keeping_the_budget(tmp_path):
    cfg, plan = _study(tmp_path, "drop", planted=7)
    held_out = evaluation_keys(cfg)
    for condition, lang in (("en", "en"), ("diverse", "ja")):
        sets, report = build_phase2_set(cfg, plan, condition, held_out)
        ds = concatenated(sets)
        assert report[lang]["leaked_removed"] == 7
        assert report[lang]["used"] == report[lang]["planned"] == len(ds) == cfg.selection.budget
        assert not set(example_keys(ds)) & held_out


def test_fail_mode_stops_naming_condition_language_and_count(tmp_path):
    cfg, plan = _study(tmp_path, "fail", planted=3)
    with pytest.raises(LeakageError, match=r"condition 'en': 3 en training examples of 'demo_nli'"):
        build_phase2_set(cfg, plan, "en", evaluation_keys(cfg))


def test_clean_data_has_no_leakage(tmp_path):
    cfg, plan = _study(tmp_path, "fail", planted=0)
    sets, report = build_phase2_set(cfg, plan, "en", evaluation_keys(cfg))
    ds = concatenated(sets)
    assert report["en"]["leaked_removed"] == 0 and len(ds) == cfg.selection.budget


def test_temperature_quota_follows_sizes_and_keeps_the_budget(tmp_path):
    cfg, _ = _study(tmp_path, "drop", planted=0)
    cfg = cfg.model_copy(update={"selection": cfg.selection.model_copy(
        update={"quota": "temperature", "temperature": 1.0})})
    plan = Phase2Plan(pool={"ja": ("demo_nli",)}, excluded=(), languages={"diverse": ("en", "ja")})
    sets, report = build_phase2_set(cfg, plan, "diverse", evaluation_keys(cfg))
    ds = concatenated(sets)
    # English has 3,000 training examples and Japanese 1,500: T = 1 splits 2:1.
    assert {lang: r["used"] for lang, r in report.items()} == {"en": 1000, "ja": 500}
    assert len(ds) == cfg.selection.budget == 1500
    assert sorted(set(ds["lang"])) == ["en", "ja"]
