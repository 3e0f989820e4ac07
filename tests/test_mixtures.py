"""Multi-task mixtures: a language's quota split over the tasks that provide it."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import concatenated

from study.config import ConfigError, load_config
from study.leakage import evaluation_keys
from study.selection import Phase2Plan, build_phase2_set, candidate_pool

ROOT = Path(__file__).resolve().parents[1]


def _rows(tag: str, n: int) -> str:
    return "".join(json.dumps({"premise": f"{tag} premise {i}", "hypothesis": f"{tag} claim {i}",
                               "label": i % 3}) + "\n" for i in range(n))


def _cfg(tmp_path: Path, mnli: int, anli_per_round: int, **selection):
    data = tmp_path / "data"
    for lang in ("en", "de"):
        shutil.copytree(ROOT / "data/demo/demo_nli" / lang, data / "demo_nli" / lang)
    (data / "mnli/en").mkdir(parents=True)
    (data / "mnli/en/train.jsonl").write_text(_rows("mnli", mnli))
    (data / "anli/en").mkdir(parents=True)
    for r in (1, 2, 3):
        (data / f"anli/en/train_r{r}.jsonl").write_text(_rows(f"anli-r{r}", anli_per_round))
    overrides = {"data.local_dir": str(data),
                 "data.targets": {"demo_nli": {"train": "demo_nli", "languages": ["en", "de"]}},
                 "data.phase2_en": ["mnli", "anli"], "selection.budget": 300,
                 "output_root": str(tmp_path), **{f"selection.{k}": v for k, v in selection.items()}}
    cfg = load_config(ROOT / "params/demo.yaml", overrides)
    return cfg, Phase2Plan(pool={}, excluded=(), languages={"en": ("en",)})


def _counts(ds):
    return {task: list(ds["task"]).count(task) for task in set(ds["task"])}


def test_equal_task_quota_splits_a_language_over_its_tasks(tmp_path):
    cfg, plan = _cfg(tmp_path, mnli=400, anli_per_round=100)
    sets, report = build_phase2_set(cfg, plan, "en", evaluation_keys(cfg))
    ds = concatenated(sets)
    assert len(ds) == 300 and _counts(ds) == {"mnli": 150, "anli": 150}
    tasks = report["en"]["tasks"]
    assert {t: (r["planned"], r["available"], r["used"]) for t, r in tasks.items()} == {
        "mnli": (150, 400, 150), "anli": (150, 300, 150)}
    rounds = {p.split(" ")[0] for p in ds["premise"] if p.startswith("anli")}
    assert rounds == {"anli-r1", "anli-r2", "anli-r3"}  # drawn from all three rounds


def test_short_task_gives_all_it_has_and_the_other_task_the_rest(tmp_path):
    cfg, plan = _cfg(tmp_path, mnli=400, anli_per_round=20)  # ANLI: 60 in all
    sets, report = build_phase2_set(cfg, plan, "en", evaluation_keys(cfg))
    ds = concatenated(sets)
    assert _counts(ds) == {"mnli": 240, "anli": 60} and len(ds) == 300
    assert report["en"]["tasks"]["anli"]["planned"] == 150


def test_temperature_task_quota_follows_sizes(tmp_path):
    cfg, plan = _cfg(tmp_path, mnli=600, anli_per_round=100, task_quota="temperature", temperature=1.0)
    sets, _ = build_phase2_set(cfg, plan, "en", evaluation_keys(cfg))
    ds = concatenated(sets)
    assert _counts(ds) == {"mnli": 200, "anli": 100}  # 600 : 300 at T = 1


def test_mixture_is_drawn_deterministically_from_the_seed(tmp_path):
    cfg, plan = _cfg(tmp_path, mnli=400, anli_per_round=100)
    first = concatenated(build_phase2_set(cfg, plan, "en", evaluation_keys(cfg))[0])
    again = concatenated(build_phase2_set(cfg, plan, "en", evaluation_keys(cfg))[0])
    other = cfg.model_copy(update={"phase2_seed": 1})
    moved = concatenated(build_phase2_set(other, plan, "en", evaluation_keys(cfg))[0])
    assert list(first["premise"]) == list(again["premise"]) != list(moved["premise"])


def test_pool_language_lists_every_task_that_has_it():
    cfg = load_config(ROOT / "params/full.yaml", {
        "data.phase2_pool": ["klue_nli", "ocnli", "xnli_mt"],
        "data.targets": {"xnli": {"train": "mnli", "languages": ["en", "de"]}}})
    pool, excluded = candidate_pool(cfg)
    assert pool["ko"] == ("klue_nli",) and pool["zh"] == ("ocnli", "xnli_mt") and excluded == ("de",)


@pytest.mark.parametrize(("value", "message"), [
    (["mnli", "mnli"], r"data.phase2_en.*lists a task twice"),
    (["klue_nli"], r"task 'klue_nli' has no English"),
    (["americas_nli"], r"task 'americas_nli' has no train split"),
])
def test_bad_english_mixture_is_named(value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(ROOT / "params/full.yaml", {"data.phase2_en": value})


def test_each_encoder_seed_draws_its_own_examples(tmp_path):
    """phase2_seed_policy per_seed: the encoder of seed s trains on examples drawn with s, so
    the spread over seeds counts the data draw; the quotas stay the condition's, the default
    is phase2_seed's draw, and a replicate draws apart from its original at every seed."""
    cfg, plan = _cfg(tmp_path, mnli=900, anli_per_round=100)
    plan = Phase2Plan(pool={}, excluded=(), languages={"en": ("en",), "en-replicate": ("en",)})
    held_out = evaluation_keys(cfg)

    def draw(condition, seed=None):
        sets, report = build_phase2_set(cfg, plan, condition, held_out, seed=seed)
        return {t: list(ds["premise"]) for t, ds in sets.items()}, report

    default, report0 = draw("en")
    assert draw("en", cfg.phase2_seed)[0] == default
    other, report1 = draw("en", cfg.phase2_seed + 1)
    assert report1 == report0  # the same quotas per language and task
    assert {t: len(p) for t, p in other.items()} == {t: len(p) for t, p in default.items()}
    assert {t: sorted(p) for t, p in other.items()} != {t: sorted(p) for t, p in default.items()}
    for seed in (0, 1):
        assert draw("en-replicate", seed)[0] != draw("en", seed)[0]
