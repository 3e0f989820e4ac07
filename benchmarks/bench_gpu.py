"""The training core at the full study's model size, against the run_xnli recipe, on a GPU.

    make bench-gpu                                   # = python benchmarks/bench_gpu.py
    python benchmarks/bench_gpu.py --shapes small --device cpu --steps 6   # the CPU path (tested)

The model is xlm-roberta-large's shape (24 layers, hidden 1024, 16 heads, FFN 4096,
vocabulary 250,002, 514 positions) with random weights: speed does not depend on them, and
nothing is downloaded. The data is random words of a word-level tokenizer with XLM-R's
vocabulary size and special tokens, so the study's own code (tokenization, its Trainer
settings, its collator, its evaluation) runs unchanged. Pair lengths follow a log-normal
model of XNLI with XLM-R's tokenizer: mean 40 tokens, 1% beyond 100, cut at 128.

Three training setups, each the same examples, learning rate and global batch (32):

- recipe: transformers' run_xnli.py as documented (pad to 128, the default Trainer and
  optimizer, fp16);
- tuned: what a careful user passes to the same script (--bf16, no padding to max length,
  --group_by_length, --optim adamw_torch_fused);
- study: `study.training.train_target` with params/full.yaml's phase 3 settings.

Each trains `--steps` optimizer steps; the first `--warmup` are not timed (allocation,
kernel selection). Throughput counts real tokens, not padding: tokens per timed step are
the run's real tokens over its steps. MFU is 6·N·tokens/s over the bf16 matmul peak
measured in the same run, N the parameters outside the embeddings. Then: evaluation over
the 15 XNLI test languages (5,010 pairs each; `--eval-examples`), the study's way
(`study.evaluation.predict`) and the recipe's (Trainer.predict, pad to 128, batch 8);
settings that could lift MFU, each on its own; and the projection of params/full.yaml's
hours at the measured rate. Figures are printed and written to `--out`; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHAPES = {
    "large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
              "intermediate_size": 4096, "vocab_size": 250_002},
    "small": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 128, "vocab_size": 1_000},
}
BATCH, LR, SEED, MAX_LENGTH, LANGUAGES, TEST_SIZE = 32, 3e-5, 0, 128, 15, 5010
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # XLM-R's ids 0-3


# ---------------------------------------------------------------- model, tokenizer, data

def build_model(shapes: str, folder: Path) -> Path:
    """A randomly initialised XLM-R of `shapes` and a word-level tokenizer of its vocabulary
    (XLM-R's special tokens and pair template), saved as a model folder the study loads."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaForMaskedLM, set_seed

    spec = SHAPES[shapes]
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    vocab.update({f"w{i}": i for i in range(len(SPECIALS), spec["vocab_size"] - 1)})
    vocab["<mask>"] = spec["vocab_size"] - 1
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                  cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                                  model_max_length=512)
    set_seed(SEED)
    config = XLMRobertaConfig(**spec, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                              bos_token_id=0, eos_token_id=2)
    XLMRobertaForMaskedLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def pair_lengths(n: int, rng) -> list[int]:
    """Tokens per pair, specials included: log-normal, mean about 40, cut to [10, 128]."""
    import numpy as np

    return np.clip(np.round(rng.lognormal(math.log(37.0), 0.4, n)), 10, MAX_LENGTH).astype(int).tolist()


def pairs(n: int, vocab_size: int, seed: int, lang: str = "en"):
    """`n` NLI pairs of random words, their lengths from `pair_lengths` (two thirds premise),
    labels uniform: a datasets.Dataset in the study's canonical columns."""
    import numpy as np
    from datasets import Dataset

    rng = np.random.default_rng(seed)
    premise, hypothesis = [], []
    for total in pair_lengths(n, rng):
        words = total - 4  # <s> A </s> </s> B </s>
        a = max(1, round(words * 2 / 3))
        ids = rng.integers(len(SPECIALS), vocab_size - 1, words)
        premise.append(" ".join(f"w{i}" for i in ids[:a]))
        hypothesis.append(" ".join(f"w{i}" for i in ids[a:]) or "w4")
    return Dataset.from_dict({"premise": premise, "hypothesis": hypothesis,
                              "label": rng.integers(0, 3, n).tolist(), "lang": [lang] * n})


def real_tokens(ds, tok) -> int:
    enc = tok(list(ds["premise"]), list(ds["hypothesis"]), truncation="longest_first", max_length=MAX_LENGTH)
    return sum(map(len, enc["input_ids"]))


def non_embedding_parameters(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


# ---------------------------------------------------------------- measuring

def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def step_clock(device: str):
    """A Trainer callback that notes the time at the end of every optimizer step."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        times: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            _sync(device)
            self.times.append(time.perf_counter())

    clock = Clock()
    clock.times = []
    return clock


def matmul_peak(device: str, precision: str, size: int) -> float:
    """FLOP/s of the best of 10 products of two size x size matrices."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[precision]
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best


def _peak_memory_reset(device: str) -> None:
    """Free the last setup's model, gradients and optimizer state, then start the count."""
    import gc

    import torch

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_memory_gb(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2 ** 30 if device == "cuda" else None


def train_setup(name: str, model_dir: Path, train, tok, device: str, work: Path, warmup: int,
                change: dict | None = None) -> dict:
    """Train one setup for len(train) / 32 steps; its timed rate after `warmup` steps."""
    from transformers import (
        AutoModelForSequenceClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    change = change or {}
    clock = step_clock(device)
    _peak_memory_reset(device)
    batch = effective_batch(change)
    steps = len(train) // batch
    common = dict(output_dir=str(work / name), per_device_train_batch_size=BATCH, learning_rate=LR,
                  max_steps=steps, seed=SEED, report_to="none", disable_tqdm=True, save_strategy="no",
                  logging_steps=10_000, use_cpu=device == "cpu")
    if name == "study":
        from study.config import load_config
        from study.training import train_target

        t = load_config(ROOT / "params" / "full.yaml").phase3.model_copy(
            update={"epochs": 1, "save_steps": 10 ** 6, "logging_steps": 10 ** 6, "oracle_every": 0,
                    **change})
        if device == "cpu":
            t = t.model_copy(update={"precision": "fp32"})
        with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its logs
            trainer = train_target(str(model_dir), "pair_classification", train, None, t, SEED, work / name,
                                   run_key={"bench": name, **change}, callbacks=(clock,))
        model, precision = trainer.model, t.precision
        steps = trainer.state.global_step
    else:
        set_seed(SEED)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3)
        if name == "recipe":  # run_xnli.py: --max_seq_length 128 --pad_to_max_length --fp16
            features = train.map(lambda b: tok(b["premise"], b["hypothesis"], padding="max_length",
                                               max_length=MAX_LENGTH, truncation=True), batched=True,
                                 remove_columns=["premise", "hypothesis", "lang"])
            precision = "fp16" if device == "cuda" else "fp32"
            args = TrainingArguments(**common, fp16=precision == "fp16")
            collate = default_data_collator
        else:  # tuned: --bf16 --group_by_length --optim adamw_torch_fused, padding per batch
            features = train.map(lambda b: tok(b["premise"], b["hypothesis"], max_length=MAX_LENGTH,
                                               truncation=True), batched=True,
                                 remove_columns=["premise", "hypothesis", "lang"])
            precision = "bf16" if device == "cuda" else "fp32"
            args = TrainingArguments(**common, bf16=precision == "bf16", optim="adamw_torch_fused",
                                     train_sampling_strategy="group_by_length", **change)
            collate = DataCollatorWithPadding(tok)
        trainer = Trainer(model=model, args=args, train_dataset=features.rename_column("label", "labels"),
                          data_collator=collate, callbacks=[clock])
        with contextlib.redirect_stdout(io.StringIO()):
            trainer.train()
    times = clock.times
    timed = len(times) - warmup
    if timed < 1:
        raise SystemExit(f"--steps {steps} leaves no timed step after --warmup {warmup}")
    seconds = times[-1] - times[warmup - 1] if warmup else times[-1] - times[0]
    tokens = real_tokens(train, tok) * timed / len(times)
    optim = getattr(trainer.args.optim, "value", str(trainer.args.optim))
    return {"setup": name, "change": change, "precision": precision, "optim": optim,
            "padding": "max_length" if name == "recipe" else "per batch", "steps": len(times),
            "timed_steps": timed,
            "batch": batch, "seconds": seconds, "examples_per_s": timed * batch / seconds,
            "tokens_per_s": tokens / seconds,
            "flop_per_s": 6 * non_embedding_parameters(model) * tokens / seconds,
            "peak_memory_gb": _peak_memory_gb(device)}


def eval_setup(name: str, model_dir: Path, tests: list, tok, device: str, work: Path) -> dict:
    """Evaluate every language's test set, the study's way or the recipe's."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        Trainer,
        TrainingArguments,
        default_data_collator,
    )

    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3).to(device)
    _peak_memory_reset(device)
    tokens = sum(real_tokens(ds, tok) for ds in tests)
    start = time.perf_counter()
    if name == "study":
        from study.config import load_config
        from study.evaluation import predict

        p = load_config(ROOT / "params" / "full.yaml").phase3
        precision = p.precision if device == "cuda" else "fp32"
        for ds in tests:
            predict(model, tok, ds, "pair_classification", p.eval_batch_size, MAX_LENGTH, precision)
    else:
        precision = "fp16" if device == "cuda" else "fp32"
        args = TrainingArguments(output_dir=str(work / "eval"), report_to="none", disable_tqdm=True,
                                 fp16_full_eval=False, fp16=precision == "fp16", use_cpu=device == "cpu")
        trainer = Trainer(model=model, args=args, data_collator=default_data_collator)
        for ds in tests:
            trainer.predict(ds.map(lambda b: tok(b["premise"], b["hypothesis"], padding="max_length",
                                                 max_length=MAX_LENGTH, truncation=True), batched=True,
                                   remove_columns=["premise", "hypothesis", "lang"]))
    _sync(device)
    seconds = time.perf_counter() - start  # tokenization included on both sides
    del model
    torch.cuda.empty_cache() if device == "cuda" else None
    examples = sum(len(ds) for ds in tests)
    return {"setup": name, "precision": precision, "examples": examples, "seconds": seconds,
            "examples_per_s": examples / seconds, "tokens_per_s": tokens / seconds,
            "peak_memory_gb": _peak_memory_gb(device)}


# The settings that could lift the study core's MFU, each on its own. torch.compile is not a
# setting of the study, so it is measured on the tuned recipe. Packing several pairs into one
# sequence needs per-sequence attention masks, which the core's model does not take: not measured.
VARIANTS = [
    ("study", {"batch_size": 64}, "per-device batch 64 (global batch 64)"),
    ("study", {"batch_size": 16, "grad_accum": 2},
     "per-device batch 16, 2 accumulation steps (XTREME's shape)"),
    ("study", {"group_by_length": False}, "no length bucketing (random order, padding per batch)"),
    ("study", {"gradient_checkpointing": True}, "gradient checkpointing on"),
    ("tuned", {"torch_compile": True}, "tuned recipe with torch.compile"),
]


def effective_batch(change: dict) -> int:
    """Examples per optimizer step of a setup changed by `change` (the study's batch_size is per
    step, times grad_accum)."""
    return change.get("batch_size", BATCH) * change.get("grad_accum", 1)


def projection(rate_tokens_per_s: float, n: float) -> dict:
    """params/full.yaml's hours at a measured training rate: the plan's FLOP over the rate's FLOP/s."""
    from study import costs
    from study.config import load_config

    cfg = load_config(ROOT / "params" / "full.yaml")
    table, n_plan = costs.plan(cfg)
    flop = table.loc["total", "PFLOP"] * 1e15
    rate = 6 * n * rate_tokens_per_s
    return {"plan_flop": flop, "flop_per_s": rate, "hours": flop / rate / 3600,
            "plan_model_parameters": n_plan}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", choices=list(SHAPES), default="large")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps per setup (default 60)")
    parser.add_argument("--warmup", type=int, default=10, help="steps not timed (default 10)")
    parser.add_argument("--eval-examples", type=int, default=TEST_SIZE, help="per language (default 5010)")
    parser.add_argument("--no-variants", action="store_true", help="skip the settings table")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results-gpu.json")
    args = parser.parse_args(argv)
    import datasets
    import torch
    import transformers


    os.environ.setdefault("TQDM_DISABLE", "1")  # the study's Trainer settings read it
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()  # a fresh head's load report, per setup
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run on a GPU machine, or pass --device cpu (small shapes)")
    warmup = min(args.warmup, args.steps - 1)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    out = {"date": time.strftime("%Y-%m-%d"), "device": device_name, "shapes": args.shapes,
           "torch": torch.__version__, "transformers": transformers.__version__,
           "steps": args.steps, "warmup": warmup, "batch": BATCH}
    print(f"{device_name}, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"shapes {args.shapes}", file=sys.stderr, flush=True)
    out["peak_flop_per_s"] = matmul_peak(args.device, "bf16" if args.device == "cuda" else "fp32",
                                         8192 if args.device == "cuda" else 512)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        model_dir = build_model(args.shapes, work / "model")
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_dir)
        vocab = SHAPES[args.shapes]["vocab_size"]
        train = pairs(args.steps * BATCH, vocab, SEED)
        from transformers import AutoModelForSequenceClassification

        n = non_embedding_parameters(AutoModelForSequenceClassification.from_pretrained(model_dir,
                                                                                        num_labels=3))
        out["non_embedding_parameters"] = n
        out["train"] = []
        for name in ("recipe", "tuned", "study"):
            print(f"train {name} ...", file=sys.stderr, flush=True)
            out["train"].append(train_setup(name, model_dir, train, tok, args.device, work, warmup))
        tests = [pairs(args.eval_examples, vocab, SEED + 1 + i, f"l{i}") for i in range(LANGUAGES)]
        out["eval"] = []
        for name in ("recipe", "study"):
            print(f"eval {name} ...", file=sys.stderr, flush=True)
            out["eval"].append(eval_setup(name, model_dir, tests, tok, args.device, work))
        out["variants"] = []
        for setup, change, label in [] if args.no_variants else VARIANTS:
            if change.get("torch_compile") and args.device == "cpu":
                continue  # compiling on the CPU path takes minutes and says nothing about a GPU
            print(f"variant: {label} ...", file=sys.stderr, flush=True)
            data = train if effective_batch(change) == BATCH else pairs(args.steps * effective_batch(change),
                                                                        vocab, SEED)  # as many steps
            try:
                row = train_setup(setup, model_dir, data, tok, args.device, work, warmup, change)
            except Exception as e:  # one variant failing is a figure too
                row = {"setup": setup, "change": change, "error": f"{type(e).__name__}: {e}"[:300]}
            out["variants"].append({**row, "label": label})
    study = next(r for r in out["train"] if r["setup"] == "study")
    out["projection"] = projection(study["tokens_per_s"], n) if args.shapes == "large" else None
    from study.io import atomic_write_json

    atomic_write_json(args.out, out)
    print(tables(out))
    print(f"\nfigures: {args.out}")
    return out


def tables(r: dict) -> str:
    peak = r["peak_flop_per_s"]
    lines = [f"{r['device']} ({r['date']}), torch {r['torch']}, transformers {r['transformers']}; "
             f"shapes {r['shapes']}, {r['non_embedding_parameters'] / 1e6:.1f}M parameters outside the "
             f"embeddings; matmul peak {peak / 1e12:.1f} TFLOP/s; {r['steps']} steps of {r['batch']}, "
             f"the first {r['warmup']} not timed", "",
             "| train | precision | examples/s | tokens/s | vs recipe | vs tuned | MFU "
             "| peak GPU memory GB |",
             "|---|---|---|---|---|---|---|---|"]
    ref = {row["setup"]: row for row in r["train"]}

    def mem(row):
        return "-" if row.get("peak_memory_gb") is None else f"{row['peak_memory_gb']:.1f}"

    names = {"recipe": "run_xnli recipe (pad 128, fp16)",
             "tuned": "tuned recipe (bf16, no pad, group_by_length, fused AdamW)",
             "study": "study core (params/full.yaml phase 3)"}
    for row in r["train"]:
        lines.append(f"| {names[row['setup']]} | {row['precision']} | {row['examples_per_s']:.1f} "
                     f"| {row['tokens_per_s']:.0f} "
                     f"| {row['examples_per_s'] / ref['recipe']['examples_per_s']:.2f}x "
                     f"| {row['examples_per_s'] / ref['tuned']['examples_per_s']:.2f}x "
                     f"| {100 * row['flop_per_s'] / peak:.1f}% | {mem(row)} |")
    lines += ["", "| evaluation (15 languages) | precision | examples/s | tokens/s | vs recipe "
              "| peak GPU memory GB |",
              "|---|---|---|---|---|---|"]
    base = next(row for row in r["eval"] if row["setup"] == "recipe")
    for row in r["eval"]:
        lines.append(f"| {names[row['setup']].split(' (')[0]} | {row['precision']} "
                     f"| {row['examples_per_s']:.0f} "
                     f"| {row['tokens_per_s']:.0f} | {row['examples_per_s'] / base['examples_per_s']:.2f}x "
                     f"| {mem(row)} |")
    if r["variants"]:
        lines += ["", "| setting, on its own | examples/s | vs its setup | MFU | peak GPU memory GB |",
                  "|---|---|---|---|---|"]
        for row in r["variants"]:
            if "error" in row:
                lines.append(f"| {row['label']} | failed: {row['error']} | | | |")
                continue
            lines.append(f"| {row['label']} | {row['examples_per_s']:.1f} "
                         f"| {row['examples_per_s'] / ref[row['setup']]['examples_per_s']:.2f}x "
                         f"| {100 * row['flop_per_s'] / peak:.1f}% | {mem(row)} |")
    if r.get("projection"):
        p = r["projection"]
        lines += ["", f"params/full.yaml at the study core's measured rate ({p['flop_per_s'] / 1e12:.0f} "
                      f"TFLOP/s): {p['hours']:.1f} hours on one {r['device']}"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
