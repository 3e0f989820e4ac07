"""What the grid would cost: examples, tokens and FLOP per job, and hours per profile
(`python -m study.grid plan`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from study.config import StudyConfig
from study.jobgraph import jobs, phase2_conditions, phase2_seeds, run_conditions
from study.registry import TASKS


@dataclass
class Cost:
    stage: str
    jobs: int
    train_tokens: float
    eval_tokens: float


def model_parameters(cfg: StudyConfig) -> float:
    """Non-embedding parameters (the N of 6·N FLOPs per trained token): `plan.parameters`,
    or counted from the model's shape (the demo's params; a Hub model's cached config)."""
    if cfg.plan.parameters:
        return cfg.plan.parameters
    m = cfg.model
    if m.build:
        layers, hidden, ffn = m.num_layers, m.hidden_size, m.ffn_size
    else:
        from transformers import AutoConfig

        try:
            c = AutoConfig.from_pretrained(m.name_or_path)
        except OSError as e:
            raise RuntimeError(f"{cfg.source_file}: the plan needs the size of {m.name_or_path!r}; its "
                               "config is not in the local cache and the Hub cannot be reached. Set "
                               "plan.parameters (non-embedding parameters, e.g. 3.0e8 for "
                               "xlm-roberta-large)") from e
        layers, hidden, ffn = c.num_hidden_layers, c.hidden_size, c.intermediate_size
    return float(layers * (4 * hidden * hidden + 2 * hidden * ffn))


def examples(cfg: StudyConfig, task: str, lang: str, split: str, limit: int | None) -> int:
    """Examples in one split: counted in local files; from the registry for the Hub."""
    spec = TASKS[task]
    if cfg.data.source_of(task) == "hub":
        if split not in spec.examples:
            raise KeyError(f"study/tasks.yaml: task {task!r} has no `examples` count for split "
                           f"{split!r}; the plan needs it to estimate the cost of a Hub study")
        n = spec.examples[split]
    else:
        from study.data import load_split

        n = len(load_split(task, lang, split, cfg.data))
    return min(n, limit) if limit else n


def _tokens(cfg: StudyConfig, task: str, max_length: int) -> float:
    """Tokens one example costs: the params' estimate of a sequence (at most max_length),
    once per answer choice for multiple choice."""
    per_sequence = min(cfg.plan.tokens_per_sequence or max_length, max_length)
    spec = TASKS[task]
    return per_sequence * (len(spec.fields["choices"]) if spec.head == "multiple_choice" else 1)


def _phase2_tokens(cfg: StudyConfig) -> float:
    """Tokens one phase-2 job trains on: the fixed budget, `epochs` times; an NLI-length
    sequence per example."""
    p2 = cfg.phase2
    per_sequence = min(cfg.plan.tokens_per_sequence or p2.max_length, p2.max_length)
    return cfg.selection.budget * p2.epochs * per_sequence


def _phase3_tokens(cfg: StudyConfig, target: str) -> tuple[float, float]:
    """Tokens one phase-3 job of `target` trains on and evaluates (English dev at each
    checkpoint, data.targets.<target>.select_on's; the oracle's checks, counting each test set
    at each of them, an upper bound; then dev and test of every language evaluated with its
    model)."""
    d, p3, t = cfg.data, cfg.phase3, cfg.data.targets[target]
    n_train = examples(cfg, t.train, "en", "train", d.max_train_examples)
    n_dev = examples(cfg, d.selection_task(target), "en", "dev", d.max_eval_examples)
    tok = _tokens(cfg, t.train, p3.max_length)
    steps = math.ceil(n_train / p3.batch_size) * p3.epochs
    checks = steps / p3.save_steps if p3.save_steps else p3.epochs  # English dev, model selection
    evaluate = (checks + 1) * n_dev * tok
    if p3.oracle_every:  # the oracle's checks: dev of each language, and test (at most: where dev improved)
        from study.oracle import oracle_sets

        per_check = sum(examples(cfg, task, lang, split, d.max_eval_examples)
                        for task, lang in oracle_sets(cfg, target) for split in ("dev", "test"))
        evaluate += math.floor(checks / p3.oracle_every) * per_check * tok
    for task, langs in d.evaluated(target):
        for lang in langs:
            for split in ("dev", "test"):
                if split in TASKS[task].splits:
                    evaluate += examples(cfg, task, lang, split, d.max_eval_examples) * tok
    train = n_train * p3.epochs * tok
    for task in t.train_before:  # steps trained first (XTREME's XCOPA: SIQA), each choosing on its dev
        n = examples(cfg, task, "en", "train", d.max_train_examples)
        n_dev = examples(cfg, task, "en", "dev", d.max_eval_examples)
        tok_before = _tokens(cfg, task, p3.max_length)
        steps = math.ceil(n / p3.batch_size) * p3.epochs
        train += n * p3.epochs * tok_before
        evaluate += ((steps / p3.save_steps if p3.save_steps else p3.epochs) + 1) * n_dev * tok_before
    return train, evaluate


def costs(cfg: StudyConfig) -> list[Cost]:
    """Tokens each stage trains on and evaluates, summed over its jobs."""
    out = [Cost("select", 1, 0, 0)]
    n2 = len(phase2_conditions(cfg)) * len(phase2_seeds(cfg))
    out.append(Cost("phase2", n2, n2 * _phase2_tokens(cfg), 0))
    runs = len(run_conditions(cfg)) * len(cfg.seeds)
    per_target = [_phase3_tokens(cfg, target) for target in cfg.data.targets]
    out.append(Cost("phase3", runs * len(per_target), runs * sum(t for t, _ in per_target),
                    runs * sum(e for _, e in per_target)))
    out.append(Cost("report", 1, 0, 0))
    return out


def job_hours(cfg: StudyConfig, stage: str, target: str | None = None) -> float | None:
    """Projected hours of one job of `stage` (phase 3: of `target`) on the plan's hardware
    for run times (`plan.runtime_hardware`; else the slowest of `plan.hardware`); None where
    the plan has no hardware or does not project the stage (base model, selection, report)."""
    rates = cfg.plan.hardware
    if not rates or stage not in ("phase2", "phase3"):
        return None
    rate = rates[cfg.plan.runtime_hardware] if cfg.plan.runtime_hardware else min(rates.values())
    n = model_parameters(cfg)
    if stage == "phase2":
        flops = 6 * n * _phase2_tokens(cfg)
    else:
        train, evaluate = _phase3_tokens(cfg, target)
        flops = 6 * n * train + 2 * n * evaluate
    return flops / rate / 3600


def runtime_minutes(cfg: StudyConfig, stage: str, target: str | None = None) -> int:
    """The time limit of one job (the rules' `runtime`, SLURM's --time): its projected hours
    (`job_hours`) times `plan.runtime_safety`, plus `plan.runtime_startup_minutes` (loading,
    data, writing: outside the FLOP count), capped at `plan.max_runtime_minutes`; the cap
    itself where the plan projects nothing (a job is never stopped for a limit guessed)."""
    p = cfg.plan
    try:
        hours = job_hours(cfg, stage, target)
    except (RuntimeError, KeyError):  # no model size or no example counts: nothing to project from
        hours = None
    if hours is None:
        return p.max_runtime_minutes
    return min(p.max_runtime_minutes, math.ceil(hours * 60 * p.runtime_safety + p.runtime_startup_minutes))


def plan(cfg: StudyConfig):
    """Jobs per stage and projected compute: FLOPs = 6·N per trained token + 2·N per
    evaluated token; hours = FLOPs / each hardware profile's sustained FLOP/s."""
    import pandas as pd

    n = model_parameters(cfg)
    counts: dict[str, int] = {}
    for job in jobs(cfg):
        counts[job.stage] = counts.get(job.stage, 0) + 1
    by_stage = {c.stage: c for c in costs(cfg)}
    rows = []
    for stage, count in counts.items():
        c = by_stage.get(stage, Cost(stage, count, 0, 0))
        flops = 6 * n * c.train_tokens + 2 * n * c.eval_tokens
        rows.append({"stage": stage, "jobs": count, "train tokens": c.train_tokens,
                     "eval tokens": c.eval_tokens, "PFLOP": flops / 1e15,
                     **{f"hours on {name}": flops / rate / 3600 for name, rate in cfg.plan.hardware.items()}})
    table = pd.DataFrame(rows).set_index("stage")
    table.loc["total"] = table.sum(numeric_only=True)
    table["jobs"] = table["jobs"].astype(int)
    return table, n
