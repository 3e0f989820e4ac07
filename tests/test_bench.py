"""The benchmark's measurements (benchmarks/bench.py) on the smallest sizes.

Speed is printed by the benchmark, never asserted here (the machines are shared and
noisy): these tests check that each side does the work it claims, on the same data, and
that the figures are computed from what was measured.
"""

import importlib.util
import json
from pathlib import Path

import pytest

from study.config import load_config

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from conftest import TINY, write_params

    from study.pretrained import ensure_base_model

    params = write_params(tmp_path_factory.mktemp("bench"), **TINY)
    return {"params": str(params), "threads": 1, "train_examples": 64, "eval_examples": 16,
            "eval_batch_size": 64, "demo_model": ensure_base_model(load_config(params))}


def test_both_sides_train_on_the_same_examples_the_recipe_padded_to_128(base):
    from transformers import AutoTokenizer

    from study.training import cpu_has_bf16

    # the tuned recipe as make bench runs it: --bf16 where the CPU has bf16 arithmetic
    precision = {"recipe": "fp32", "tuned": "bf16" if cpu_has_bf16() else "fp32", "study": "fp32"}
    cases = {impl: bench.run_case({**base, "kind": "train", "model": "demo", "impl": impl,
                                   "precision": p}) for impl, p in precision.items()}
    recipe, tuned, study = cases["recipe"], cases["tuned"], cases["study"]
    assert recipe["examples"] == tuned["examples"] == study["examples"] == 64
    assert recipe["tokens"] == tuned["tokens"] == study["tokens"]  # real tokens, same data and tokenizer
    assert tuned["optim"] == "adamw_torch_fused"
    assert 64 * 8 < study["tokens"] < 64 * 128
    for r in cases.values():
        assert r["seconds"] > 0 and r["peak_rss_mb"] > 100
        assert r["flop"] == 6 * r["non_embedding_parameters"] * r["tokens"]
    train, _ = bench._data({**base, "params": base["params"]})
    padded = bench._recipe_features(train, AutoTokenizer.from_pretrained(base["demo_model"]))
    assert {len(x) for x in padded["input_ids"]} == {bench.RECIPE_LENGTH}


def test_evaluation_covers_every_target_language_on_both_sides(base):
    cfg = load_config(Path(base["params"]))
    target = next(iter(cfg.data.targets))
    languages = sum(len(langs) for _, langs in cfg.data.evaluated(target))
    for impl in ("recipe", "study"):
        r = bench.run_case({**base, "kind": "eval", "model": "demo", "impl": impl, "precision": "fp32"})
        assert r["languages"] == languages and r["examples"] == 16 * languages
        assert r["flop"] == 2 * r["non_embedding_parameters"] * r["tokens"] and r["seconds"] > 0


def test_small_config_is_the_one_the_issue_names(base, tmp_path):
    from transformers import AutoConfig

    path = bench._model_dir({**base, "model": "small"}, tmp_path)
    c = AutoConfig.from_pretrained(path)
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size,
            c.vocab_size) == (256, 4, 4, 1024, 8000)
    model, _ = bench._classifier(path)
    n = bench._non_embedding_parameters(model)
    # per layer: attention 4·256² + FFN 2·256·1024, plus biases and norms; the pair head 256² + 256·3
    assert 4 * (4 * 256**2 + 2 * 256 * 1024) + 256**2 < n < 4 * (4 * 256**2 + 2 * 256 * 1024) + 2 * 256**2


def test_tables_show_speed_up_against_the_recipe_and_utilisation_of_the_peak():
    row = {"model": "demo", "precision": "fp32", "peak_rss_mb": 500.0}
    results = {
        "machine": {"cpu": "x", "cores": 2, "torch": "2", "cpu_capability": "AVX2", "bf16_arithmetic": False},
        "peak": {"fp32": {"flop_per_s": 1e11}},
        "train": [{**row, "impl": "recipe", "examples_per_s": 100.0, "tokens_per_s": 4000.0,
                   "utilisation": 0.05},
                  {**row, "impl": "tuned", "examples_per_s": 200.0, "tokens_per_s": 8000.0,
                   "utilisation": 0.1},
                  {**row, "impl": "study", "examples_per_s": 250.0, "tokens_per_s": 10000.0,
                   "utilisation": 0.125}],
        "eval": [],
        "demo": {"jobs": 2, "job_seconds": 10.0,
                 "categories": {"training": {"seconds": 6.0, "share": 0.6},
                                "notebook start-up and imports": {"seconds": 4.0, "share": 0.4}}},
    }
    text = bench.tables(results)
    assert "| train | demo | study core | fp32 | 250 | 10000 | 2.50x | 1.25x | 12.5% | 500 |" in text
    assert "| train | demo | tuned recipe (no pad, group_by_length, fused AdamW, bf16 where native) | fp32 " \
        "| 200 | 8000 | 2.00x | 1.00x | 10.0% | 500 |" in text
    assert "no bf16 arithmetic" in text and "| training | 6 | 60% |" in text
    json.dumps(results)


def test_a_timing_record_never_fails_a_job(monkeypatch, tmp_path):
    from study import timing

    monkeypatch.setenv(timing.ENV, str(tmp_path / "gone" / "timing-kernel.jsonl"))
    with timing.timed("unwritable"):
        pass
    assert timing.TOTALS["unwritable"] >= 0 and not (tmp_path / "gone").exists()
    monkeypatch.setenv(timing.ENV, str(tmp_path / "timing-kernel.jsonl"))
    with timing.timed("tokenize"):
        pass
    assert set(timing.kernel_phases(tmp_path)) == {"tokenize"}


def _bench_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "benchmarks" / "bench_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_benchmark_pairs_have_xnli_like_lengths_as_the_tokenizer_counts_them(tmp_path):
    """The GPU benchmark's data: random words of a word-level tokenizer with XLM-R's special
    tokens, whose pair lengths (specials included) are exactly the sampled lengths."""
    import numpy as np
    from transformers import AutoTokenizer

    g = _bench_gpu()
    lengths = g.pair_lengths(20_000, np.random.default_rng(0))
    assert 37 < np.mean(lengths) < 43 and max(lengths) == g.MAX_LENGTH and min(lengths) >= 10
    assert 0.002 < np.mean(np.array(lengths) > 100) < 0.03  # the long tail
    tok = AutoTokenizer.from_pretrained(g.build_model("small", tmp_path / "model"))
    ds = g.pairs(50, g.SHAPES["small"]["vocab_size"], 3)
    enc = tok(ds[0]["premise"], ds[0]["hypothesis"])
    assert enc["input_ids"][0] == 0 and enc["input_ids"][-1] == 2 and 3 not in enc["input_ids"]  # no <unk>
    assert g.real_tokens(ds, tok) == sum(g.pair_lengths(50, np.random.default_rng(3)))


def test_the_gpu_benchmark_runs_its_cpu_path_at_small_shapes(tmp_path, capsys):
    """`bench_gpu.py --shapes small --device cpu`: the three training setups, both evaluations
    and the settings table, each figure from its own measured steps, written as JSON."""
    g = _bench_gpu()
    out = tmp_path / "gpu.json"
    r = g.main(["--shapes", "small", "--device", "cpu", "--steps", "4", "--warmup", "1",
                "--eval-examples", "8", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(r))
    train = {row["setup"]: row for row in r["train"]}
    assert list(train) == ["recipe", "tuned", "study"]
    assert train["recipe"]["padding"] == "max_length" and train["tuned"]["padding"] == "per batch"
    assert train["tuned"]["optim"] == train["study"]["optim"] == "adamw_torch_fused"
    for row in r["train"]:
        assert row["steps"] == 4 and row["timed_steps"] == 3 and row["seconds"] > 0
        assert row["examples_per_s"] == pytest.approx(3 * 32 / row["seconds"])
    assert [row["setup"] for row in r["eval"]] == ["recipe", "study"]
    assert all(row["examples"] == 15 * 8 for row in r["eval"])
    variants = {row["label"]: row for row in r["variants"]}
    assert len(variants) == 4 and "tuned recipe with torch.compile" not in variants  # not on a CPU
    assert variants["per-device batch 64 (global batch 64)"]["batch"] == 64
    assert all(row["steps"] == 4 for row in variants.values())  # as many steps, whatever the batch
    assert r["projection"] is None  # only the real shapes project the full study
    printed = capsys.readouterr().out
    assert "| study core (params/full.yaml phase 3) | fp32 |" in printed and "vs tuned" in printed
