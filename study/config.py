"""One typed, frozen configuration for a study, built from a params YAML file.

`load_config("params/demo.yaml")` is the only way notebooks and the workflow obtain
settings. Every mistake in the file (unknown key, wrong type, value out of range,
unknown task or condition) raises `ConfigError` naming the file, the key, the value
and what is accepted. Relative paths in the file are resolved against the folder
that holds the file, so a params file means the same thing from any working dir.

YAML 1.1 reads `1e-5` as a string; float fields convert such strings (`"1e-5"` ->
1e-05) and refuse anything that is not a number.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from study.conditions import CONDITIONS, KINDS, REPLICATES, ConditionId
from study.registry import TASKS

REPLICATE_SEED_OFFSET = 1000


def replicate_seed(condition: str, seed: int) -> int:
    """The seed a condition draws its phase-2 data and trains with, given the study's: a
    replicate's is offset, so that it is another draw of the same recipe."""
    return seed + REPLICATE_SEED_OFFSET if ConditionId.parse(condition).kind in REPLICATES else seed


PHASE2_STREAM = 2
"""The stream phase 2 draws its training seed from (phase 3 uses the seeds themselves)."""


def phase2_training_seed(condition: str, seed: int) -> int:
    """The seed phase 2 trains with, given the study's (`replicate_seed`'s): never that seed
    itself, so that no phase-3 run is seeded like the phase 2 it starts from. Seeded alike, a
    phase-3 run's fresh head starts exactly where phase 2's head started: `en`, trained with
    its phase-3 seeds, then differed from its replicate, trained with others, by +5.8 points
    in Swahili at Holm p 0.014 in all three seeds (the demo's negative control, 2026-12-01)."""
    import numpy as np

    entropy = [replicate_seed(condition, seed), PHASE2_STREAM]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)


FEATURE_SETS = ("syntactic", "phonological", "inventory")


class ConfigError(ValueError):
    """A params file is wrong; the message says where and what would be accepted."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Section):
    """Phase 1: the pretrained multilingual encoder."""

    name_or_path: str = Field(description="Hub id (xlm-roberta-large) or a local directory.")
    build: Literal["tiny-xlmr"] | None = Field(
        None, description="Build this model locally (demo) instead of loading name_or_path."
    )
    vocab_size: int = Field(4000, gt=100, description="Tokenizer vocabulary asked for (build only).")
    hidden_size: int = Field(64, gt=0)
    num_layers: int = Field(2, gt=0)
    num_heads: int = Field(2, gt=0)
    ffn_size: int = Field(128, gt=0)
    mlm_epochs: float = Field(
        0.0, ge=0, description="Masked-LM pretraining epochs over the demo text (build only)."
    )
    corpus: Path | None = Field(
        None, description="Pretraining text (build only): a folder of {lang}.txt, one sentence or "
        "tab-separated pair a line (data/demo/demo_pretrain); null: the study's training sentences.")
    align_embeddings: bool = Field(
        False, description="Build only: start the word embeddings from the corpus folder's "
        "dictionary.tsv (translations near each other) and keep them fixed in pretraining.")

    @model_validator(mode="after")
    def _alignment_needs_a_corpus(self) -> ModelConfig:
        if self.align_embeddings and self.corpus is None:
            raise ValueError("align_embeddings needs model.corpus, the folder with its dictionary.tsv "
                             "(data/demo/demo_pretrain), or align_embeddings: false")
        return self

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> ModelConfig:
        if self.build and self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} must be divisible by num_heads {self.num_heads}"
            )
        return self


Source = Literal["hub", "local", "xtreme"]


class TargetConfig(_Section):
    """One phase-3 target (the mapping key is its task): trained on English `train`, model
    selection on English dev, evaluated zero-shot on dev and test of every language."""

    train: str = Field(description="English training and dev data of the target (mnli for xnli).")
    languages: tuple[str, ...] | None = Field(
        None, description="Languages evaluated zero-shot; null: every language of the target.")
    also_evaluate: tuple[str, ...] = Field(
        (), description="Tasks evaluated with the same model, no extra training (americas_nli).")
    train_before: tuple[str, ...] = Field(
        (), description="English tasks trained first, in order, each from the last one's model and "
        "choosing its checkpoint on its own English dev, before `train` starts from the last (XTREME's "
        "train_xcopa.sh: siqa, then copa). Empty: `train` alone.")
    select_on: Literal["target", "train"] = Field(
        "target", description="The English dev set that chooses phase 3's checkpoint. target: the "
        "target's own English dev, as XTREME's scripts do (XNLI en dev, 2,490 pairs), or the train "
        "task's where the target has no English dev (XCOPA: COPA's validation); train: the train "
        "task's dev (MNLI's, 9,815 pairs).")

    @field_validator("train")
    @classmethod
    def _english_train(cls, name: str) -> str:
        _check_task(name)
        task = TASKS[name]
        if "en" not in task.languages or not {"train", "dev"} <= set(task.splits):
            raise ValueError(f"task {name!r} needs English train and dev splits to train a target; "
                             f"it has languages {list(task.languages)} and splits {list(task.splits)}")
        return name

    @field_validator("also_evaluate", "train_before", mode="before")
    @classmethod
    def _one_or_more(cls, names: Any) -> Any:
        return (names,) if isinstance(names, str) else names

    @model_validator(mode="after")
    def _steps_share_the_head(self) -> TargetConfig:
        head = TASKS[self.train].head
        for name in self.train_before:
            _check_task(name)
            task = TASKS[name]
            if "en" not in task.languages or not {"train", "dev"} <= set(task.splits):
                raise ValueError(f"train_before: task {name!r} needs English train and dev splits; it has "
                                 f"languages {list(task.languages)} and splits {list(task.splits)}")
            if task.head != head:
                raise ValueError(f"train_before: task {name!r} has head {task.head}, but {self.train!r} "
                                 f"trains {head}: each step continues the last one's model, head included")
        if len(set(self.train_before)) != len(self.train_before) or self.train in self.train_before:
            raise ValueError(f"train_before {list(self.train_before)}: a task at most once, and not "
                             f"`train` ({self.train!r}) itself")
        return self

    @field_validator("also_evaluate")
    @classmethod
    def _known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            _check_task(name)
            if "test" not in TASKS[name].splits:
                raise ValueError(f"task {name!r} has no test split to evaluate")
        return names


def _phase2_tasks(names: tuple[str, ...], field: str) -> tuple[str, ...]:
    """Check a phase2_en or phase2_pool list (field names which)."""
    if not names:
        raise ValueError("needs at least one task")
    if len(set(names)) != len(names):
        raise ValueError(f"lists a task twice: {list(names)}")
    for name in names:  # phase 2 trains every head (study.multitask)
        _check_task(name)
        task = TASKS[name]
        if "train" not in task.splits:
            raise ValueError(f"task {name!r} has no train split; it has {list(task.splits)}")
        if field == "phase2_en" and "en" not in task.languages:
            raise ValueError(f"task {name!r} has no English; its languages: {list(task.languages)}")
        if field == "phase2_pool" and task.languages == ("en",):
            raise ValueError(f"task {name!r} has only English: list it under phase2_en")
    return names


class Phase2Family(_Section):
    """One phase-2 task family of a several-family study: its English side and its pool."""

    phase2_en: tuple[str, ...] = Field(description="English phase-2 task(s) of the family.")
    phase2_pool: tuple[str, ...] = Field(description="Tasks whose non-English languages form its pool.")

    @field_validator("phase2_en", mode="before")
    @classmethod
    def _one_or_more(cls, names: Any) -> Any:
        return (names,) if isinstance(names, str) else names

    @field_validator("phase2_en", "phase2_pool")
    @classmethod
    def _known_tasks(cls, names: tuple[str, ...], info) -> tuple[str, ...]:
        return _phase2_tasks(names, info.field_name)


class DataConfig(_Section):
    """Where each role's data comes from. Task names are keys of study/tasks.yaml.

    Sources: `hub` (datasets.load_dataset), `local` (jsonl in the Hub schema at
    {local_dir}/{task}/{lang}/{split}.jsonl) and `xtreme` (the XTREME download layout
    under xtreme_dir, e.g. xnli/dev-{lang}.tsv). `source` applies to every task;
    `sources` overrides it per task.
    """

    source: Source = "hub"
    sources: dict[str, Source] = Field(default_factory=dict, description="Per-task source override.")
    local_dir: Path | None = Field(
        None, description="With source: local, files at {local_dir}/{task}/{lang}/{split}.jsonl"
    )
    xtreme_dir: Path | None = Field(None, description="With source: xtreme, the XTREME download folder.")
    targets: dict[str, TargetConfig] = Field(
        description="Phase-3 targets by task name: each trains on English and is evaluated "
                    "zero-shot on every language (e.g. xnli, xcopa).")
    phase2_en: tuple[str, ...] | None = Field(
        None, description="English phase-2 task, or a list of tasks mixed (quotas: selection.task_quota).")
    phase2_pool: tuple[str, ...] | None = Field(
        None, description="Tasks whose non-English languages form the pool; a language several "
                          "tasks have gets a mixture of them.")
    families: dict[str, Phase2Family] = Field(
        default_factory=dict,
        description="Several phase-2 task families in one grid (instead of phase2_en/phase2_pool): "
                    "name -> {phase2_en, phase2_pool}. Every condition runs once per family.")
    translate_train: str | None = Field(
        None, description="Condition translate-train: the task with machine-translated training "
                          "data in the target languages (xnli_mt). Not zero-shot: a labelled reference.")
    max_train_examples: int | None = Field(None, gt=0, description="Cap on phase-3 training examples.")
    max_eval_examples: int | None = Field(None, gt=0, description="Cap per language on dev/test.")

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, targets: dict[str, TargetConfig]) -> dict[str, TargetConfig]:
        if not targets:
            raise ValueError("needs at least one target, e.g. {xnli: {train: mnli}}")
        for name, target in targets.items():
            _check_target(name)
            task = TASKS[name]
            train = TASKS[target.train]
            if train.head != task.head or train.label_set != task.label_set:
                raise ValueError(f"target {name!r} ({task.head}) cannot be trained on "
                                 f"{target.train!r} ({train.head}); the head and labels must match")
            for also in target.also_evaluate:
                other = TASKS[also]
                if other.head != task.head or other.label_set != task.label_set:
                    raise ValueError(f"target {name!r}: also_evaluate {also!r} has another head or "
                                     f"label set than {name!r}, so {name!r}'s model cannot predict it")
            if target.languages is not None:
                unknown = [x for x in target.languages if x not in task.languages]
                if unknown or not target.languages:
                    raise ValueError(f"targets.{name}.languages {list(target.languages)}: "
                                     f"{unknown or 'empty'} not languages of {name!r}; accepted: "
                                     f"{list(task.languages)}")
        return targets

    @field_validator("phase2_en", mode="before")
    @classmethod
    def _one_or_more(cls, names: Any) -> Any:
        return (names,) if isinstance(names, str) else names

    @field_validator("phase2_en", "phase2_pool")
    @classmethod
    def _known_tasks(cls, names: tuple[str, ...] | None, info) -> tuple[str, ...] | None:
        return None if names is None else _phase2_tasks(names, info.field_name)

    @field_validator("families")
    @classmethod
    def _family_names(cls, families: dict[str, Phase2Family]) -> dict[str, Phase2Family]:
        for name in families:
            if not re.fullmatch(r"[a-z0-9_-]+", name):
                raise ValueError(f"family name {name!r}: use lower-case letters, digits, _ or - (it "
                                 "names output folders)")
        if len(families) == 1:
            raise ValueError(f"families lists one family ({list(families)}); give one family as "
                             "phase2_en and phase2_pool, or two or more under families")
        return families

    @model_validator(mode="after")
    def _one_way_to_give_phase2(self) -> DataConfig:
        single = self.phase2_en is not None or self.phase2_pool is not None
        if single and self.families:
            raise ValueError("give either phase2_en and phase2_pool (one phase-2 family) or families "
                             "(several), not both")
        if not self.families and (self.phase2_en is None or self.phase2_pool is None):
            missing = [k for k in ("phase2_en", "phase2_pool") if getattr(self, k) is None]
            raise ValueError(f"needs {' and '.join(missing)} (or families: name -> {{phase2_en, "
                             "phase2_pool}})")
        return self

    @field_validator("sources")
    @classmethod
    def _known_source_tasks(cls, sources: dict[str, str]) -> dict[str, str]:
        for name in sources:
            _check_task(name)
        return sources

    def source_of(self, task: str) -> str:
        return self.sources.get(task, self.source)

    def tasks(self) -> list[str]:
        """Every task the study reads, each once."""
        evaluated = [t for name in self.targets for t, _ in self.evaluated(name)]
        trained = [t.train for t in self.targets.values()]
        translated = [self.translate_train] if self.translate_train else []
        phase2 = [t for f in self.families.values() for t in (*f.phase2_en, *f.phase2_pool)]
        phase2 += [*(self.phase2_en or ()), *(self.phase2_pool or ())]
        return list(dict.fromkeys([*evaluated, *trained, *phase2, *translated]))

    @model_validator(mode="after")
    def _sources_are_usable(self) -> DataConfig:
        for task in self.tasks():
            kind = self.source_of(task)
            if kind == "local" and self.local_dir is None:
                raise ValueError(f"task {task!r} reads source local, which needs local_dir "
                                 "(the folder holding {task}/{lang}/*.jsonl)")
            if kind == "xtreme" and self.xtreme_dir is None:
                raise ValueError(f"task {task!r} reads source xtreme, which needs xtreme_dir")
            if kind == "xtreme" and not TASKS[task].xtreme_files:
                with_layout = sorted(n for n, t in TASKS.items() if t.xtreme_files)
                raise ValueError(f"task {task!r} has no XTREME layout; source xtreme is accepted "
                                 f"for {with_layout}")
        return self

    def eval_languages(self, target: str) -> tuple[str, ...]:
        """The languages `target` is evaluated on zero-shot (English included where it has it)."""
        return self.targets[target].languages or TASKS[target].languages

    def selection_task(self, target: str) -> str:
        """The task whose English dev chooses `target`'s phase-3 checkpoint (its select_on):
        the target's own where it has an English dev (XNLI), else the train task's (XCOPA,
        which has no English: COPA's validation)."""
        spec, task = self.targets[target], TASKS[target]
        own = "en" in task.languages and "dev" in task.splits
        return target if spec.select_on == "target" and own else spec.train

    def evaluated(self, target: str) -> list[tuple[str, tuple[str, ...]]]:
        """(task, languages) evaluated with `target`'s phase-3 model: the target itself, then
        its also_evaluate tasks in every language (AmericasNLI with the XNLI model)."""
        return [(target, self.eval_languages(target)),
                *((also, TASKS[also].languages) for also in self.targets[target].also_evaluate)]

    def translate_train_languages(self) -> tuple[str, ...]:
        """The non-English languages condition translate-train trains on: those of the
        translate_train task that a target of its family is evaluated on."""
        if self.translate_train is None:
            return ()
        task = TASKS[self.translate_train]
        tested = self.zero_shot_languages(task.family)
        return tuple(lang for lang in task.languages if lang != "en" and lang in tested)

    def evaluated_languages(self) -> tuple[str, ...]:
        """Every language some target's model is evaluated on, each once."""
        return tuple(dict.fromkeys(lang for name in self.targets
                                   for _, langs in self.evaluated(name) for lang in langs))

    def zero_shot_languages(self, family: str) -> set[str]:
        """Languages of every evaluated task of `family`: phase-2 data of that family in these
        languages would be translate-train, so the pools exclude them."""
        return {lang for name in self.targets for task, langs in self.evaluated(name)
                if TASKS[task].family == family for lang in langs}


class SelectionConfig(_Section):
    """How phase-2 languages are chosen and how much data every condition gets."""

    k: int = Field(gt=0, description="Number of non-English phase-2 languages per condition.")
    budget: int = Field(gt=0, description="Phase-2 training examples, identical for every condition.")
    feature_sets: tuple[Literal["syntactic", "phonological", "inventory"], ...] = FEATURE_SETS
    random_draws: int = Field(2, gt=0, description="Number of seeded draws for condition random.")
    quota: Literal["equal", "temperature"] = Field(
        "equal", description="How a condition's budget is split over its languages."
    )
    temperature: float = Field(
        3.3, gt=0, description="With quota: temperature, shares follow size ** (1 / temperature)."
    )
    uriel_codes: dict[str, str] = Field(
        default_factory=dict,
        description="ISO 639-3 code URIEL uses for a study language where the default (langcodes' "
                    "macrolanguage) is not wanted, e.g. {zh: cmn}; required for codes URIEL lacks.")
    task_quota: Literal["equal", "temperature"] = Field(
        "equal", description="How a language's quota is split over the tasks that provide it "
                             "(a multi-task mixture): equal, or by temperature over their sizes.")
    leakage: Literal["drop", "fail"] = Field(
        "drop", description="Phase-2 examples found in a target dev/test set: drop them, or stop."
    )


    @field_validator("uriel_codes")
    @classmethod
    def _three_letters(cls, codes: dict[str, str]) -> dict[str, str]:
        bad = {k: v for k, v in codes.items() if not (len(v) == 3 and v.isalpha() and v.islower())}
        if bad:
            raise ValueError(f"{bad}: values must be ISO 639-3 codes (three lower-case letters)")
        return codes


class TrainConfig(_Section):
    """Hyperparameters of one phase. Phase 2 trains a fixed budget (no model selection)."""

    lr: float = Field(gt=0, lt=1)
    epochs: float = Field(gt=0)
    batch_size: int = Field(gt=0)
    eval_batch_size: int = Field(128, gt=0)
    max_length: int = Field(128, gt=8, description="Tokens per sequence (QA: per context window).")
    doc_stride: int | None = Field(None, gt=0, description=(
        "QA: tokens shared by consecutive context windows; null: a third of max_length "
        "(XTREME: 128 of 384)."))
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    group_by_length: bool = Field(True, description=(
        "Batches of similar lengths (less padding). Off where length tells the label apart: in "
        "the demo's NLI data a batch of one length is mostly one class."))
    freeze_embeddings: bool = Field(False, description=(
        "Keep the word embeddings fixed (the demo's phase 3: English training cannot pull English "
        "words away from their translations)."))
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="bf16/fp16 autocast where the hardware has it; fp32 otherwise.")
    logging_steps: int = Field(20, gt=0)
    grad_accum: int = Field(1, gt=0, description="Gradient accumulation steps (batch_size is per step).")
    save_steps: int | None = Field(
        None, gt=0, description="Checkpoint (and, in phase 3, evaluate on English dev) every N "
                                "optimiser steps; null: once per epoch. A killed run resumes here.")
    early_stopping_patience: int | None = Field(
        None, gt=0, description="Phase 3: stop after this many evaluations without a better dev score.")
    oracle_every: int = Field(1, ge=0, description=(
        "Phase 3: at every n-th English-dev check, also predict every target language's dev (and, "
        "where it is the best so far, test) for the oracle beside model selection (study/oracle.py); "
        "0: no oracle."))
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory (large models).")
    task_sampler: Literal["proportional", "temperature", "uniform"] = Field(
        "proportional", description="Phase 2 with several tasks: how often each task's batch comes.")
    sampler_temperature: float = Field(2.0, gt=0, description="task_sampler: temperature; size ** (1/T).")
    mlm: bool = Field(False, description="Phase 2: add masked-LM on the phase-2 text as a task.")
    mlm_probability: float = Field(0.15, gt=0, lt=1)

    @model_validator(mode="after")
    def _stride_fits(self) -> TrainConfig:
        if self.doc_stride is not None and self.doc_stride >= self.max_length:
            raise ValueError(f"doc_stride {self.doc_stride} must be smaller than max_length "
                             f"{self.max_length} (windows would not advance)")
        return self

    @property
    def stride(self) -> int:
        return self.doc_stride if self.doc_stride is not None else self.max_length // 3



class PlanConfig(_Section):
    """What `python -m study.grid plan` needs to project the compute a study will cost."""

    tokens_per_sequence: int | None = Field(
        None, gt=0, description="Mean tokens of one input sequence (null: max_length, an upper bound).")
    parameters: float | None = Field(
        None, gt=0, description="Non-embedding parameters of the model (null: counted from its config).")
    hardware: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="Profile name -> sustained training FLOP/s on it.")
    memory_mb: dict[str, int] = Field(
        default_factory=dict,
        description="Stage -> peak host memory of one job (MB). Local runs start jobs only while "
                    "their sum fits in the memory available; stages left out count 2000.")
    runtime_hardware: str | None = Field(
        None, description="The `hardware` profile a cluster's jobs run on, for their time limits "
                          "(null: the slowest profile).")
    runtime_safety: float = Field(
        3.0, ge=1, description="A phase-2 or phase-3 job's time limit (SLURM --time) is its projected "
                               "hours times this, plus runtime_startup_minutes.")
    runtime_startup_minutes: int = Field(
        30, ge=0, description="Minutes a job spends outside the projected FLOPs (loading the model "
                              "and data, the leakage check, writing; 30: a large model on a shared disk).")
    max_runtime_minutes: int = Field(
        2880, gt=0, description="The longest time limit a job asks for (the partition's MaxTime); also "
                                "the limit of a job the plan cannot project.")

    @model_validator(mode="after")
    def _runtime_hardware_is_a_profile(self) -> PlanConfig:
        if self.runtime_hardware is not None and self.runtime_hardware not in self.hardware:
            raise ValueError(f"runtime_hardware {self.runtime_hardware!r} is not a profile of plan.hardware; "
                             f"accepted: {sorted(self.hardware)}")
        return self

    @field_validator("memory_mb", mode="before")
    @classmethod
    def _known_stages(cls, value: Any) -> Any:
        stages = ("base_model", "select", "phase2", "phase3", "report")
        if isinstance(value, dict):
            for stage, mb in value.items():
                if stage not in stages:
                    raise ValueError(f"memory_mb: unknown stage {stage!r}; the stages are {list(stages)}")
                if isinstance(mb, bool) or not isinstance(mb, int) or mb <= 0:
                    raise ValueError(f"memory_mb {stage!r}: expected a positive number of MB, got {mb!r}")
        return value



class DesignConfig(_Section):
    """What the design must tell apart, checked before anything trains (study/design.py)."""

    seed_sd: dict[str, float] = Field(
        default_factory=dict, description="Target -> assumed standard deviation (accuracy points) of "
        "one condition's average test accuracy over training seeds: the predicted minimum detectable "
        "effect rests on it. A target left out gets no prediction (and `plan` says so); entries for targets "
        "the study does not have are unused.")
    seed_sd_source: dict[str, str] = Field(
        default_factory=dict,
        description="Target -> where its seed_sd comes from (a publication, a pilot run).")
    max_overlap: float = Field(
        0.0, ge=0, le=1, description="Largest share of languages diverse and similar may share (of "
        "the smaller set) before check and plan warn.")
    min_distance_gap: float = Field(
        0.05, ge=0, description="Smallest difference between diverse and similar, in mean pairwise "
        "distance and in mean distance to English, before check and plan warn.")
    weak_contrast: Literal["warn", "error"] = Field(
        "warn", description="A design that fails max_overlap or min_distance_gap: warn in one line, "
        "or stop (for cluster runs).")

    @field_validator("seed_sd")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not v > 0}
        if bad:
            raise ValueError(f"{bad}: a standard deviation must be positive (points)")
        return value


class StudyConfig(_Section):
    study: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Name; outputs go to output_root/study.")
    description: str = ""
    output_root: Path = Path("../outputs")
    conditions: tuple[str, ...]
    seeds: tuple[Annotated[int, Field(ge=0)], ...] = Field(
        description="Phase-3 seeds (whole numbers >= 0), one run per (condition, seed).")
    phase2_seed: int = 0
    phase2_seed_policy: Literal["shared", "per_seed"] = Field(
        "shared", description="Phase-2 encoders per condition: 'shared' trains one (seed phase2_seed) "
        "for every phase-3 seed; 'per_seed' one per phase-3 seed, trained with a seed derived from it on "
        "examples drawn with it (the languages stay the condition's), so the spread over seeds includes "
        "phase 2's own: its training and its data draw.")
    threads: int = Field(1, gt=0, description="CPU threads per job.")
    model: ModelConfig
    data: DataConfig
    selection: SelectionConfig
    phase2: TrainConfig
    phase3: TrainConfig
    plan: PlanConfig = Field(default_factory=PlanConfig)
    design: DesignConfig = Field(default_factory=DesignConfig)
    source_file: Path | None = Field(None, exclude=True)

    @field_validator("conditions")
    @classmethod
    def _known_conditions(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if not names:
            raise ValueError(f"needs at least one condition from {list(CONDITIONS)}")
        for name in names:
            if name not in CONDITIONS:
                raise ValueError(f"unknown condition {name!r}; accepted: {list(CONDITIONS)}")
        if len(set(names)) != len(names):
            raise ValueError("lists a condition twice")
        return names

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: tuple[int, ...]) -> tuple[int, ...]:
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError("needs at least one seed, each listed once")
        return seeds

    # -- derived locations -------------------------------------------------------------
    @model_validator(mode="after")
    def _translate_train_has_data(self) -> StudyConfig:
        if "translate-train" in self.conditions:
            name = self.data.translate_train
            if name is None:
                raise ValueError("condition 'translate-train' needs data.translate_train: the task "
                                 "with translated training data (xnli_mt)")
            if "train" not in TASKS[name].splits or not self.data.translate_train_languages():
                raise ValueError(f"data.translate_train {name!r} needs a train split in a language a "
                                 f"target of family {TASKS[name].family!r} is evaluated on; it has "
                                 f"splits {list(TASKS[name].splits)}, languages "
                                 f"{list(TASKS[name].languages)}")
        return self

    @model_validator(mode="after")
    def _k_fits_the_pool(self) -> StudyConfig:
        """diverse, similar, random and en+diverse choose k languages from each family's pool:
        its non-English languages that no target of the family is evaluated on."""
        chooses = [c for c in self.conditions if KINDS[c].choose]
        if not chooses:
            return self
        for name, family in self.phase2_families().items():
            d = family.data
            pool = sorted({lang for task in d.phase2_pool for lang in TASKS[task].languages
                           if lang != "en" and lang not in d.zero_shot_languages(TASKS[task].family)})
            if self.selection.k > len(pool):
                raise ValueError(
                    f"selection.k {self.selection.k} is larger than the phase-2 pool"
                    + (f" of family {name!r}" if self.data.families else "")
                    + f": {len(pool)} language(s) {pool} of {list(d.phase2_pool)} that no target is "
                    f"evaluated on; conditions {chooses} need k of them. Accepted: k from 1 to "
                    f"{len(pool)}, or more pool tasks/languages")
        return self

    @field_validator("output_root")
    @classmethod
    def _output_root_is_a_folder(cls, root: Path) -> Path:
        if root.exists() and not root.is_dir():
            raise ValueError(f"{root} is a file; expected a folder (created if missing) to hold "
                             "output_root/<study>/")
        return root

    @model_validator(mode="after")
    def _phase3_is_single_task(self) -> StudyConfig:
        if self.phase3.mlm:
            raise ValueError("phase3.mlm: masked LM is a phase-2 task; phase 3 trains the target only")
        return self

    @property
    def study_dir(self) -> Path:
        return self.output_root / self.study

    def phase2_families(self) -> dict[str, StudyConfig]:
        """Each phase-2 task family of the study -> the config of its grid slice (the study's
        config with that family as phase2_en and phase2_pool). One family: itself, named
        after its tasks' family (nli, qa, ...)."""
        if not self.data.families:
            return {family_name(self): self}
        first = next(iter(self.data.families))
        return {name: self.model_copy(update={
            "data": self.data.model_copy(update={"phase2_en": f.phase2_en, "phase2_pool": f.phase2_pool,
                                                 "families": {}}),
            # translate-train's data is the target task's own: the first family's slice has it
            "conditions": tuple(c for c in self.conditions if KINDS[c].per_family or name == first)})
            for name, f in self.data.families.items()}

    def resolved(self) -> dict[str, Any]:
        """The parameters as plain data (what a run records next to its outputs)."""
        return json.loads(self.model_dump_json())

    def fingerprint(self) -> str:
        """Short hash of the resolved parameters."""
        blob = json.dumps(self.resolved(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def family_name(cfg: StudyConfig) -> str:
    """A one-family config's phase-2 task family (nli, qa, ...), or 'multi-task (a, b)'."""
    families = sorted({TASKS[t].family for t in (*cfg.data.phase2_en, *cfg.data.phase2_pool)})
    families += ["mlm"] if cfg.phase2.mlm else []
    return families[0] if len(families) == 1 else f"multi-task ({', '.join(families)})"


def _check_task(name: str) -> str:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; accepted (study/tasks.yaml): {sorted(TASKS)}")
    return name


def _check_target(name: str) -> str:
    """A target: NLI pair classification or multiple choice, with a test split."""
    _check_task(name)
    task = TASKS[name]
    if task.head not in ("pair_classification", "multiple_choice") or "test" not in task.splits:
        ok = sorted(n for n, t in TASKS.items()
                    if t.head in ("pair_classification", "multiple_choice") and "test" in t.splits)
        raise ValueError(f"task {name!r} (head {task.head!r}, splits {list(task.splits)}) cannot be a "
                         f"target; targets are classification or multiple-choice tasks with a test "
                         f"split: {ok}")
    return name


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    raw = dict(raw)
    raw["output_root"] = (base / str(raw.get("output_root", "../outputs"))).resolve()
    model = raw.get("model")
    if isinstance(model, dict) and model.get("corpus") is not None:
        raw["model"] = {**model, "corpus": (base / str(model["corpus"])).resolve()}
    data = raw.get("data")
    if isinstance(data, dict):
        raw["data"] = {**data, **{key: (base / str(data[key])).resolve()
                                  for key in ("local_dir", "xtreme_dir") if data.get(key) is not None}}
    return raw


def _describe(error: dict[str, Any], model: type[BaseModel], raw: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    value = error.get("input")
    value = str(value) if isinstance(value, Path) else value
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        section = model
        for part in error["loc"][:-1]:
            field = section.model_fields.get(str(part))
            section = field.annotation if field else section
        allowed = sorted(getattr(section, "model_fields", {}))
        close = difflib.get_close_matches(str(error["loc"][-1]), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"key {key!r} is not a known setting{hint}; accepted here: {allowed}"
    if error["type"] == "missing":
        return f"key {key!r} is required but missing"
    msg = _PLAIN.get(error["type"], msg)
    if isinstance(value, dict) and error["type"] == "value_error":  # a check across a section's keys
        return msg if key == "(top level)" else f"section {key!r}: {msg}"
    return f"key {key!r}: value {value!r} is not accepted: {msg}"


# pydantic's wording for type errors, in the words of a params file
_PLAIN = {
    "tuple_type": "expected a list, e.g. [0, 1, 2]",
    "list_type": "expected a list, e.g. [a, b]",
    "dict_type": "expected a mapping (indented `key: value` lines)",
    "int_parsing": "expected a whole number",
    # pydantic converts YAML 1.1's strings such as "1e-5" (no dot: not a float in YAML 1.1)
    "float_parsing": "expected a number, e.g. 2e-5 or 0.1",
    "float_type": "expected a number, e.g. 2e-5 or 0.1",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected true or false",
    "string_type": "expected a text value",
}


def build_config(raw: Any, source: str | Path = "<parameters>") -> StudyConfig:
    """Validate plain data (a parsed params file) into a StudyConfig."""
    source = Path(source)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of settings at the top level, got {raw!r}")
    if "source_file" in raw:
        raise ConfigError(f"{source}: key 'source_file' is not a known setting (it is set by the loader)")
    raw = _resolve_paths(raw, source.parent)
    try:
        return StudyConfig(**raw, source_file=source)
    except ValidationError as exc:
        lines = [_describe(e, StudyConfig, raw) for e in exc.errors()]
        raise ConfigError(f"{source}: " + "\n  ".join(lines)) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> StudyConfig:
    """Read and validate a params file; `overrides` maps dotted keys to values."""
    return build_config(read_params(path, overrides), path)


def read_params(path: str | Path, overrides: dict[str, Any] | None = None) -> Any:
    """A params file's plain data, as written (`build_config` validates it)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the params file ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise ConfigError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value, path)
    return raw


def _set_dotted(raw: Any, dotted: str, value: Any, path: Path) -> None:
    node = raw
    *parents, last = dotted.split(".")
    for part in parents:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            raise ConfigError(f"{path}: override {dotted!r} does not name a section of the file")
        node = node[part]
    node[last] = value
