"""Phase-2 data per condition: which languages, and exactly `budget` examples each.

Every condition sees the same number of examples (STUDY.md); only the data differs.
A condition's budget is split over its languages (`selection.quota`: equal shares, the
first `budget % k` languages getting one more, or temperature sampling over their sizes);
a language's quota is split over the tasks that provide it (`selection.task_quota`), which
makes a multi-task mixture when several do (English: MNLI + ANLI). Short languages or
tasks give all they have and the rest goes to the others. Zero-shot discipline: a pool
task's languages that an evaluated task of the same family tests are excluded (NLI data in
an XNLI language would be translate-train).
"""

from __future__ import annotations

from dataclasses import dataclass

from study import typology
from study.conditions import ConditionId, facts
from study.config import StudyConfig, replicate_seed
from study.data import DataError, load_split
from study.registry import TASKS


@dataclass(frozen=True)
class Phase2Plan:
    """The phase-2 languages of each condition id (random draws are random-0, random-1...)."""

    pool: dict[str, tuple[str, ...]]  # language -> the pool tasks providing it
    excluded: tuple[str, ...]  # pool languages dropped because the target tests them
    languages: dict[str, tuple[str, ...]]  # condition id -> languages ("en" included)

    def condition_ids(self) -> list[str]:
        return list(self.languages)


def candidate_pool(cfg: StudyConfig) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Non-English pool languages (each with the tasks that have it) and the excluded ones."""
    pool: dict[str, list[str]] = {}
    excluded = []
    for name in cfg.data.phase2_pool:
        # same task family as an evaluated task, in one of its languages: translate-train
        held_out = cfg.data.zero_shot_languages(TASKS[name].family)
        for lang in TASKS[name].languages:
            if lang == typology.ENGLISH:
                continue
            if lang in held_out:
                excluded.append(lang)
            else:
                pool.setdefault(lang, []).append(name)
    return {lang: tuple(tasks) for lang, tasks in pool.items()}, tuple(sorted(set(excluded)))


def plan_phase2(cfg: StudyConfig, dist) -> Phase2Plan:
    """Choose each condition's languages from the pool, given the distance matrix."""
    pool, excluded = candidate_pool(cfg)
    k = cfg.selection.k
    langs: dict[str, tuple[str, ...]] = {}
    choose = {"diverse": typology.select_diverse, "similar": typology.select_similar}
    for c in cfg.conditions:
        kind = facts(c)  # a replicate chooses as its original
        if kind.choose == "random":
            draws = typology.select_random(list(pool), k, cfg.selection.random_draws, cfg.phase2_seed)
            langs.update({str(ConditionId(c, draw=d)): tuple(x) for d, x in enumerate(draws)})
        elif "translated" in kind.reads:  # the labelled reference: not zero-shot
            langs[c] = cfg.data.translate_train_languages()
        elif kind.reads:
            langs[c] = (("en",) if "en" in kind.reads else ()) + (
                tuple(choose[kind.choose](list(pool), dist, k)) if kind.choose else ())
    return Phase2Plan(pool=pool, excluded=excluded, languages=langs)


def shares(budget: int, n: int) -> list[int]:
    """Split `budget` into n near-equal integer parts that sum to it exactly."""
    return [budget // n + (1 if i < budget % n else 0) for i in range(n)]


def temperature_shares(budget: int, sizes: dict[str, int], temperature: float) -> dict[str, int]:
    """Split `budget` in proportion to size ** (1 / temperature), summing to it exactly.

    T = 1 follows the data sizes, larger T flattens towards equal shares (XLM-R's
    alpha = 0.3 is T = 3.3). Integer parts by largest remainder, ties in list order.
    """
    weights = {lang: n ** (1.0 / temperature) for lang, n in sizes.items()}
    total = sum(weights.values())
    exact = {lang: budget * w / total for lang, w in weights.items()}
    out = {lang: int(x) for lang, x in exact.items()}
    by_remainder = sorted(exact, key=lambda lang: -(exact[lang] - out[lang]))
    for lang in by_remainder[: budget - sum(out.values())]:
        out[lang] += 1
    return out


def language_budgets(condition: str, languages: tuple[str, ...], budget: int,
                     sizes: dict[str, int] | None = None,
                     temperature: float | None = None) -> dict[str, int]:
    """Each language's planned share of the budget: equal, or by temperature over `sizes`.

    `en+diverse` gives English half the budget and splits the other half over the
    non-English languages by the same rule.
    """
    def split(total: int, langs: tuple[str, ...]) -> dict[str, int]:
        if temperature is None:
            return dict(zip(langs, shares(total, len(langs)), strict=True))
        return temperature_shares(total, {lang: sizes[lang] for lang in langs}, temperature)

    if {"en", "pool"} <= set(facts(condition).reads):  # en+diverse: half English, half the pool's
        en_part = budget // 2
        return {"en": en_part, **split(budget - en_part, languages[1:])}
    return split(budget, languages)


def fill_quotas(planned: dict[str, int], available: dict[str, int]) -> dict[str, int]:
    """Quotas that sum to the planned total, moving what a short language lacks to the others.

    A language with fewer examples than its quota gives all it has; the remainder is
    split evenly (study.selection.shares) over the languages that still have examples,
    repeatedly, until the total is met. Fails only when all languages together are short.
    """
    total = sum(planned.values())
    if sum(available.values()) < total:
        raise DataError(f"the languages {sorted(planned)} have {sum(available.values())} usable "
                        f"examples in all ({available}), fewer than the budget {total}; "
                        "lower selection.budget")
    used = {lang: min(q, available[lang]) for lang, q in planned.items()}
    while (missing := total - sum(used.values())) > 0:
        open_langs = [lang for lang in planned if used[lang] < available[lang]]
        for lang, extra in zip(open_langs, shares(missing, len(open_langs)), strict=True):
            used[lang] += min(extra, available[lang] - used[lang])
    return used


def task_shares(total: int, sizes: dict[str, int], rule: str, temperature: float) -> dict[str, int]:
    """A language's quota over the tasks that provide it: equal, or by temperature over sizes."""
    if rule == "temperature":
        return temperature_shares(total, sizes, temperature)
    return dict(zip(sizes, shares(total, len(sizes)), strict=True))


def build_phase2_set(cfg: StudyConfig, plan: Phase2Plan, condition: str,
                     held_out: set[tuple[str, str]], cache: dict | None = None,
                     seed: int | None = None):
    """The condition's training sets (task -> Dataset), `selection.budget` examples in all.

    Each (language, task) train split loses the examples found in `held_out` (the target's
    evaluation pairs, see study.leakage). Languages get their quota (`language_budgets`,
    then `fill_quotas`: a short language gives all it has, the others the rest); each
    language's quota is split over its tasks the same way (`selection.task_quota`); each
    task gives a seeded sample of its share; each set has a `task` column. The report gives,
    per language: planned, available, used, leaked_removed, and the same per task.
    `cache` ((language, task) -> leak-free split, leaked count) lets conditions that share
    a language load and check it once. `seed` draws the examples (default phase2_seed; with
    phase2_seed_policy per_seed, each encoder's own seed): the languages stay the plan's.
    """
    from datasets import concatenate_datasets

    from study.leakage import LeakageError, drop_leaked

    sel = cfg.selection
    # a replicate draws its own examples
    seed = replicate_seed(condition, cfg.phase2_seed if seed is None else seed)
    cache = {} if cache is None else cache
    clean: dict[str, dict[str, object]] = {}
    report: dict[str, dict] = {}
    for lang in plan.languages[condition]:
        if "translated" in facts(condition).reads:
            tasks = (cfg.data.translate_train,)
        else:
            tasks = cfg.data.phase2_en if lang == "en" else plan.pool[lang]
        clean[lang], per_task = {}, {}
        for task in tasks:
            if (lang, task) not in cache:
                cache[lang, task] = drop_leaked(load_split(task, lang, "train", cfg.data), held_out)
            ds, leaked = cache[lang, task]
            if leaked and sel.leakage == "fail":
                raise LeakageError(
                    f"condition {condition!r}: {leaked} {lang} training examples of {task!r} "
                    f"occur in the dev/test sets of {sorted(cfg.data.targets)}; set "
                    "selection.leakage: drop to remove them, or use other phase-2 data")
            clean[lang][task] = ds
            per_task[task] = {"available": len(ds), "leaked_removed": leaked}
        report[lang] = {"tasks": per_task,
                        "available": sum(t["available"] for t in per_task.values()),
                        "leaked_removed": sum(t["leaked_removed"] for t in per_task.values())}
    available = {lang: r["available"] for lang, r in report.items()}
    temperature = sel.temperature if sel.quota == "temperature" else None
    planned = language_budgets(condition, plan.languages[condition], sel.budget, available, temperature)
    try:
        used = fill_quotas(planned, available)
    except DataError as exc:
        raise DataError(f"condition {condition!r}: {exc}") from None
    parts: dict[str, list] = {}
    for lang, n in used.items():
        report[lang].update(planned=planned[lang], used=n)
        sizes = {task: len(ds) for task, ds in clean[lang].items()}
        task_planned = task_shares(n, sizes, sel.task_quota, sel.temperature)
        for task, k in fill_quotas(task_planned, sizes).items():
            report[lang]["tasks"][task].update(planned=task_planned[task], used=k)
            if k:
                sample = clean[lang][task].shuffle(seed=seed).select(range(k))
                parts.setdefault(task, []).append(sample.add_column("task", [task] * k))
    sets = {task: concatenate_datasets(p).shuffle(seed=seed) for task, p in parts.items()}
    return sets, report

