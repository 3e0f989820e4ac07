"""The study's training and evaluation core side by side with the standard recipe.

    make bench                              # = python benchmarks/bench.py
    python benchmarks/bench.py              # side by side; + the split of outputs/demo if finished
    python benchmarks/bench.py --run-demo   # + run the demo from clean (in a temporary folder), timed
    python benchmarks/bench.py --quick      # a smoke run: minutes, figures meaningless

The recipe is transformers' `run_xnli.py` as its settings describe it, written here from
those settings: every example padded to 128 tokens, fp32, the default Trainer (random
order, default collator, evaluation batch 8). The tuned recipe is the same script with the
flags a careful user passes (no padding to max length, `--group_by_length`, `--optim
adamw_torch_fused`, `--bf16` where the CPU has bf16 arithmetic): the peer to beat. All
sides get the same model, data, batch size (32), learning rate and seed, on the same
machine, each in a fresh process (so each peak RSS is its own). Models: the demo's (built
by the demo's params) and a "small" XLM-R (hidden 256, 4 layers, 4 heads, FFN 1024, vocab
8000, random weights: speed does not depend on them). Data: the demo's NLI data (`--data`
takes another local folder of the same layout, e.g. real XNLI files).

FLOP utilisation is 6·N·tokens per second (training; 2·N·tokens evaluating) over the
matmul peak measured here in the same precision, N the parameters outside the
embeddings and tokens the real (unpadded) ones. Figures go to `benchmarks/results.json`
and are printed as tables; nothing is asserted (the machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
         "intermediate_size": 1024, "vocab_size": 8000}
BATCH, LR, SEED, RECIPE_LENGTH = 32, 2e-5, 0, 128


# ---------------------------------------------------------------- one case, in its process

def _peak_rss_mb() -> float:
    """This process's peak resident memory. Linux keeps ru_maxrss across exec, so a case
    would inherit the driver's peak; VmHWM belongs to the process image and starts afresh."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _data(case: dict):
    """The English train split and every target language's test split (NLI targets)."""
    from study.config import load_config
    from study.data import load_split
    from study.registry import TASKS

    cfg = load_config(Path(case["params"]))
    d = cfg.data
    target = next(t for t, spec in d.targets.items() if TASKS[spec.train].head == "pair_classification")
    train = load_split(d.targets[target].train, "en", "train", d)
    train = train.select(range(min(len(train), case["train_examples"])))
    tests = [(name, lang, load_split(name, lang, "test", d, limit=case["eval_examples"]))
             for name, langs in d.evaluated(target) for lang in langs]
    return train, tests


def _model_dir(case: dict, work: Path) -> str:
    """The demo's built model, or the small config with random weights and its tokenizer."""
    if case["model"] == "demo":
        return case["demo_model"]
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForMaskedLM, set_seed

    set_seed(SEED)
    tok = AutoTokenizer.from_pretrained(case["demo_model"])
    config = XLMRobertaConfig(**SMALL, max_position_embeddings=258, type_vocab_size=1,
                              pad_token_id=1, bos_token_id=0, eos_token_id=2)
    out = work / "small"
    XLMRobertaForMaskedLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def _classifier(path: str):
    from transformers import set_seed

    from study.training import load_classifier

    set_seed(SEED)
    return load_classifier(path)


def _non_embedding_parameters(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


def _recipe_features(ds, tok):
    return ds.map(lambda b: tok(b["premise"], b["hypothesis"], padding="max_length",
                                max_length=RECIPE_LENGTH, truncation=True),
                  batched=True, remove_columns=["premise", "hypothesis", "lang"])


def _real_tokens(ds, tok, max_length: int) -> int:
    enc = tok(list(ds["premise"]), list(ds["hypothesis"]), truncation="longest_first", max_length=max_length)
    return sum(map(len, enc["input_ids"]))


def run_case(case: dict) -> dict:
    import torch

    torch.set_num_threads(case["threads"])
    if case["kind"] == "peak":
        return {**_matmul_peak(case["precision"], case["size"]), "peak_rss_mb": _peak_rss_mb()}
    os.environ["TQDM_DISABLE"] = "1"
    with tempfile.TemporaryDirectory(prefix="bench-") as work:  # its model and Trainer output, removed after
        return _measure(case, Path(work))


def _measure(case: dict, work: Path) -> dict:
    train, tests = _data(case)
    path = _model_dir(case, work)
    model, tok = _classifier(path)
    n = _non_embedding_parameters(model)
    result = {"non_embedding_parameters": n}
    if case["kind"] == "train":
        tokens = _real_tokens(train, tok, RECIPE_LENGTH)
        if case["impl"] == "recipe":
            from transformers import Trainer, TrainingArguments, default_data_collator

            args = TrainingArguments(output_dir=str(work / "out"), per_device_train_batch_size=BATCH,
                                     learning_rate=LR, num_train_epochs=1, seed=SEED, report_to="none",
                                     disable_tqdm=True)
            trainer = Trainer(model=model, args=args, train_dataset=_recipe_features(train, tok),
                              data_collator=default_data_collator)
            seconds = trainer.train().metrics["train_runtime"]
            result["optim"] = getattr(args.optim, "value", str(args.optim))
        elif case["impl"] == "tuned":  # the flags a careful user passes to run_xnli.py
            from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

            args = TrainingArguments(output_dir=str(work / "out"), per_device_train_batch_size=BATCH,
                                     learning_rate=LR, num_train_epochs=1, seed=SEED, report_to="none",
                                     disable_tqdm=True, bf16=case["precision"] == "bf16", use_cpu=True,
                                     train_sampling_strategy="group_by_length", optim="adamw_torch_fused")
            features = train.map(lambda b: tok(b["premise"], b["hypothesis"], max_length=RECIPE_LENGTH,
                                               truncation=True), batched=True,
                                 remove_columns=["premise", "hypothesis", "lang"])
            trainer = Trainer(model=model, args=args, train_dataset=features,
                              data_collator=DataCollatorWithPadding(tok))
            seconds = trainer.train().metrics["train_runtime"]
            result["optim"] = getattr(args.optim, "value", str(args.optim))
        else:
            from study.config import TrainConfig
            from study.training import train_target

            t = TrainConfig(lr=LR, epochs=1, batch_size=BATCH, max_length=RECIPE_LENGTH,
                            precision=case["precision"], logging_steps=10_000)
            trainer = train_target(path, "pair_classification", train, None, t, SEED, work / "out",
                                   run_key={"bench": case})
            seconds = trainer.state.log_history[-1]["train_runtime"]
        result.update(examples=len(train), tokens=tokens, seconds=seconds, flop=6 * n * tokens)
    else:
        tokens = sum(_real_tokens(ds, tok, RECIPE_LENGTH) for _, _, ds in tests)
        examples = sum(len(ds) for _, _, ds in tests)
        if case["impl"] == "recipe":
            from transformers import Trainer, TrainingArguments, default_data_collator

            args = TrainingArguments(output_dir=str(work / "out"), report_to="none", disable_tqdm=True)
            trainer = Trainer(model=model, args=args, data_collator=default_data_collator)
            seconds = sum(trainer.predict(_recipe_features(ds, tok)).metrics["test_runtime"]
                          for _, _, ds in tests)
        else:
            from study import timing
            from study.evaluation import predict

            for _, _, ds in tests:
                predict(model, tok, ds, "pair_classification", case["eval_batch_size"], RECIPE_LENGTH,
                        case["precision"])
            seconds = timing.TOTALS["evaluate"]  # the model's work, not the tokenization
        result.update(examples=examples, tokens=tokens, seconds=seconds, flop=2 * n * tokens,
                      languages=len(tests))
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def _matmul_peak(precision: str, size: int) -> dict:
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    n = 256  # grow to `size`, but stop where one product takes long (emulated bf16: ~1 GFLOP/s)
    while True:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        start = time.perf_counter()
        a @ b
        if n >= size or time.perf_counter() - start > 0.2:
            break
        n *= 2
    size = n
    a @ b
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(3):
            a @ b
        best = min(best, (time.perf_counter() - start) / 3)
    return {"flop_per_s": 2 * size ** 3 / best, "size": size}


# ---------------------------------------------------------------- the demo's wall-time split

CATEGORIES = ("notebook start-up and imports", "tokenization", "training", "evaluation",
              "report rendering", "other (data, selection, writing)")


def demo_split(study_dir: Path) -> dict:
    """Seconds per category summed over the demo's jobs, from what each job recorded
    (runner `timing.json`, kernel `timing-kernel.jsonl`, the base model's build.json)."""
    from study.timing import JOB_FILE, kernel_phases

    totals = dict.fromkeys(CATEGORIES, 0.0)
    jobs, spans = 0, []
    build = study_dir / "pretrained" / "build.json"
    if build.is_file():
        t = json.loads(build.read_text()).get("timing", {})
        jobs += 1
        spans.append((t.get("started"), t.get("finished")))
        totals[CATEGORIES[0]] += t.get("startup", 0) + t.get("imports", 0)
        totals["tokenization"] += t.get("tokenize", 0)
        totals["training"] += t.get("train", 0)
        totals[CATEGORIES[5]] += t.get("job", 0) - sum(t.get(k, 0) for k in ("startup", "imports",
                                                                                 "tokenize", "train"))
    for record in sorted(study_dir.rglob(JOB_FILE)):
        job = json.loads(record.read_text())
        phases = kernel_phases(record.parent)
        jobs += 1
        spans.append((job.get("started"), job.get("finished")))
        outside = job["job"] - job["cells"] - job.get("render_html", 0)  # runner, papermill, kernel
        totals[CATEGORIES[0]] += outside + phases.get("imports", 0)
        if record.parent.name == "analysis":
            totals["report rendering"] += job["cells"] + job.get("render_html", 0)
            continue
        for phase, name in (("tokenize", "tokenization"), ("train", "training"), ("evaluate", "evaluation")):
            totals[name] += phases.get(phase, 0)
        totals[CATEGORIES[5]] += job["cells"] - sum(phases.get(p, 0) for p in
                                                     ("imports", "tokenize", "train", "evaluate"))
    job_seconds = sum(totals.values())
    known = [s for s in spans if None not in s]
    # first job's start to last job's end: the workflow's own start-up and check are not in it
    wall = {"jobs_wall_seconds": round(max(e for _, e in known) - min(s for s, _ in known), 1)} \
        if known and len(known) == len(spans) else {}
    return {"jobs": jobs, "job_seconds": round(job_seconds, 1), **wall,
            "categories": {k: {"seconds": round(v, 1),
                               "share": round(v / job_seconds, 3) if job_seconds else 0}
                           for k, v in totals.items()}}


def run_demo(cores: int, work: Path) -> tuple[Path, float]:
    """The demo from clean into `work` (a copy of params/demo.yaml with absolute paths)."""
    import yaml

    params = yaml.safe_load((ROOT / "params" / "demo.yaml").read_text())
    params["output_root"] = str(work / "outputs")
    params["data"]["local_dir"] = str((ROOT / "data" / "demo").resolve())
    params["model"]["corpus"] = str((ROOT / "data" / "demo" / "demo_pretrain").resolve())
    copy = work / "demo.yaml"
    copy.write_text(yaml.safe_dump(params, sort_keys=False))
    start = time.time()
    subprocess.run([sys.executable, "-m", "study.grid", "run", str(copy), "--cores", str(cores)],
                   cwd=ROOT, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return work / "outputs" / params["study"], time.time() - start


# ---------------------------------------------------------------- driver and tables

def _spawn(case: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode or not lines:
        raise SystemExit(f"benchmark case {case} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def machine() -> dict:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").is_file() \
        else platform.processor()
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "platform": platform.platform()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--params", type=Path, default=ROOT / "params" / "demo.yaml",
                        help="the study whose data and demo model are used (default: the demo)")
    parser.add_argument("--train-examples", type=int, default=None,
                        help="per model (default: 3000 for the demo model, 1024 for the small one)")
    parser.add_argument("--eval-examples", type=int, default=None, help="per language (default: all)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--demo-dir", type=Path,
                        help="a finished demo study folder to split (default: outputs/demo)")
    parser.add_argument("--run-demo", action="store_true", help="run the demo from clean, timed")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args(argv)
    if args.case:
        print("RESULT " + json.dumps(run_case(json.loads(args.case))), flush=True)
        return

    from study.config import load_config
    from study.pretrained import ensure_base_model

    if args.quick:
        args.train_examples, args.eval_examples = 64, 32
    demo_model = str(Path(ensure_base_model(load_config(args.params))).resolve())  # built once
    cfg = load_config(args.params)
    base = {"params": str(args.params.resolve()), "threads": args.threads, "demo_model": demo_model,
            "train_examples": args.train_examples, "eval_examples": args.eval_examples,
            "eval_batch_size": cfg.phase3.eval_batch_size}  # the study as its params run it
    size = 512 if args.quick else 2048
    results: dict = {"machine": machine(), "settings": {k: v for k, v in base.items() if k != "params"},
                     "peak": {}, "train": [], "eval": []}
    results["settings"]["batch_size"] = BATCH
    for precision in ("fp32", "bf16"):
        results["peak"][precision] = _spawn({**base, "kind": "peak", "precision": precision, "size": size})
    from study.training import cpu_has_bf16

    bf16 = cpu_has_bf16()  # emulated bf16 is tens of times slower: the study trains in fp32 there
    results["machine"]["bf16_arithmetic"] = bf16
    variants = [("recipe", "fp32"), ("tuned", "bf16" if bf16 else "fp32"), ("study", "fp32")] + (
        [("study", "bf16")] if bf16 else [])
    for model in ("demo", "small"):
        for kind in ("train", "eval"):
            for impl, precision in variants:
                if kind == "eval" and impl == "tuned":
                    continue  # its flags are training flags: it evaluates as the recipe does
                print(f"{kind} {model} {impl} {precision} ...", file=sys.stderr, flush=True)
                examples = args.train_examples or {"demo": 3000, "small": 1024}[model]
                r = _spawn({**base, "kind": kind, "model": model, "impl": impl, "precision": precision,
                            "train_examples": examples})
                r.update(model=model, impl=impl, precision=precision,
                         examples_per_s=r["examples"] / r["seconds"], tokens_per_s=r["tokens"] / r["seconds"],
                         flop_per_s=r["flop"] / r["seconds"])
                r["utilisation"] = r["flop_per_s"] / results["peak"][precision]["flop_per_s"]
                results[kind].append(r)
    if args.run_demo:
        with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
            study_dir, wall = run_demo(args.threads, Path(tmp))
            results["demo"] = {"wall_seconds": round(wall, 1), "source": "run by this benchmark",
                               **demo_split(study_dir)}
    else:
        demo_dir = args.demo_dir or ROOT / "outputs" / "demo"
        if (demo_dir / "report.html").is_file():  # a finished demo (make demo)
            results["demo"] = {"source": str(demo_dir), **demo_split(demo_dir)}
        else:
            print(f"no finished demo in {demo_dir}: run `make demo` first, or pass --run-demo",
                  file=sys.stderr)
    from study.io import atomic_write_json

    atomic_write_json(args.out, results)
    print(tables(results))
    print(f"\nfigures: {args.out}")


def tables(r: dict) -> str:
    m = r["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['cpu_capability']}"
             + ("" if m.get("bf16_arithmetic") else "; no bf16 arithmetic: bf16 rows skipped") + ")",
             "matmul peak: " + ", ".join(f"{p} {v['flop_per_s'] / 1e9:.0f} GFLOP/s"
                                         for p, v in r["peak"].items()),
             ""]
    for kind in ("train", "eval"):
        lines += [f"| {kind} | model | implementation | precision | examples/s | tokens/s | speed-up "
                  "| vs tuned | FLOP utilisation | peak RSS MB |", "|" + "---|" * 10]
        for row in r[kind]:
            ref = next(x for x in r[kind] if x["model"] == row["model"] and x["impl"] == "recipe")
            tuned = next((x for x in r[kind] if x["model"] == row["model"] and x["impl"] == "tuned"), None)
            name = {"recipe": "run_xnli recipe (pad 128)",
                    "tuned": "tuned recipe (no pad, group_by_length, fused AdamW, bf16 where native)"}.get(
                        row["impl"], "study core")
            lines.append(f"| {kind} | {row['model']} | {name} | {row['precision']} "
                         f"| {row['examples_per_s']:.0f} | {row['tokens_per_s']:.0f} "
                         f"| {row['examples_per_s'] / ref['examples_per_s']:.2f}x "
                         + (f"| {row['examples_per_s'] / tuned['examples_per_s']:.2f}x " if tuned else "| - ")
                         + f"| {100 * row['utilisation']:.1f}% | {row['peak_rss_mb']:.0f} |")
        lines.append("")
    if "demo" in r:
        d = r["demo"]
        wall = f", wall {d['wall_seconds']:.0f} s (make demo's own clock)" if "wall_seconds" in d else ""
        wall += f", first job's start to last job's end {d['jobs_wall_seconds']:.0f} s" \
            if "jobs_wall_seconds" in d else ""
        lines += [f"demo: {d['jobs']} jobs, {d['job_seconds']:.0f} s of job time{wall}",
                  "| part | seconds (summed over jobs) | share |", "|---|---|---|"]
        lines += [f"| {k} | {v['seconds']:.0f} | {100 * v['share']:.0f}% |"
                  for k, v in d["categories"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
