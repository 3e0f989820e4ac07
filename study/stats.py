"""Uncertainty for every comparison the report makes.

The unit of evidence is a correctness matrix per (condition, language): one row per
phase-3 seed, one column per test example (1 = the model got it right), read from the
runs' prediction files.

A result varies for two reasons: which test examples were drawn, and which models the
training seeds (and phase-2 data draws) produced. Both count. A (seeds x examples) matrix
is a two-way crossed design with both factors random (`_crossed`): the variance of its
mean is the runs' part (the spread of per-run means over k) plus the test set's part (the
spread of per-example means over n), less the run-by-example noise both contain. Its
degrees of freedom are the runs', k - 1, and the interval and p-value are Student t's: the
paired t test over seeds that the spread of fine-tuning runs calls for (Reimers & Gurevych
2017; Dror et al. 2018), with the test set's own sampling error added.

Why not a bootstrap: a two-level bootstrap (seeds, then examples) learns the spread over
seeds from that many values. With 2 seeds it sees 3 distinct seed draws, halves their
variance, and has no tail; where two runs of one recipe differ by more than example noise
(as zero-shot transfer does, run to run), two runs that happen to differ the same way give
an interval that excludes 0. The demo's negative control (an A/A pair: `en` and a
replicate) came out significant this way in its 2- and 3-seed designs (Holm p 0.010 to
0.042). Nor Welch-Satterthwaite degrees of freedom: they grow when the runs' spread is
small by chance, exactly when it is underestimated. In simulation (run spread 5 points,
1800 examples, no true difference) the bootstrap called the difference significant in 27%,
19% and 15% of studies at 2, 3 and 5 seeds, Satterthwaite in 12%, 8% and 6%, this test in
2%, 4% and 5% (tests/test_stats.py keeps it there). The price is honest: few seeds give
few degrees of freedom (a t quantile of 12.7 at 2 seeds, 4.3 at 3, 2.8 at 5), so a study
with few seeds detects only effects that every seed shows alike.

- `bootstrap_ci`: accuracy with a 95% percentile interval from a two-level bootstrap,
  resampling seeds and test examples (both with replacement, examples jointly across
  seeds since every seed sees the same test set), as STUDY.md asks. It is descriptive:
  with few seeds it is narrower than the t interval of a comparison (below).
- `paired_test`: the accuracy difference of two conditions on the same test examples,
  its t interval and two-sided p-value.
- `holm`: Holm's step-down correction over a family of comparisons (statsmodels).
- `minimum_detectable_effect`: the smallest accuracy difference a paired comparison of
  this design (its seeds and test examples) detects with the given power, from the same
  standard error and degrees of freedom as the p-value beside it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from study.conditions import COMPARISONS, CONTROLS, REPLICATES, ConditionId

RESAMPLES = 2000


def bootstrap_ci(correct: np.ndarray, resamples: int = RESAMPLES, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """Accuracy of a (seeds x examples) 0/1 matrix with a two-level bootstrap interval."""
    correct = np.atleast_2d(np.asarray(correct, dtype=float))
    stats = _resample_means(correct[None], resamples, seed)[:, 0]
    low, high = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(correct.mean()), float(low), float(high)


def _resample_means(stack: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of `resamples` two-level bootstrap draws of a (k x seeds x examples) stack; the
    same seed and example draws apply to all k matrices (paired). Returns (resamples x k)."""
    _, n_seeds, n = stack.shape
    seed_counts, example_counts = _two_level_draws(seed, resamples, (n_seeds, n))
    # a draw's mean is a sum over the drawn (seed, example) pairs, i.e. counts x values: one
    # matrix product per matrix instead of a gathered copy per draw (0/1 values: the same
    # sums, exactly)
    return np.stack([((example_counts @ m.T) * seed_counts).sum(axis=1) / (n_seeds * n)
                     for m in stack], axis=1)


@lru_cache(maxsize=16)
def _two_level_draws(seed: int, resamples: int, sizes: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """For each level (its size), how often each index is drawn in each resample: a
    (resamples x size) count matrix per level. The draws are made as a loop over resamples
    makes them (level after level within a resample), so the numbers do not depend on how
    they are computed; the same (seed, resamples, sizes) are drawn once and shared."""
    rng = np.random.default_rng(seed)
    draws = [np.empty((resamples, size), dtype=np.int64) for size in sizes]
    for r in range(resamples):
        for level, size in enumerate(sizes):
            draws[level][r] = rng.integers(0, size, size)
    return tuple(_counts(d, size) for d, size in zip(draws, sizes, strict=True))


def _counts(draws: np.ndarray, size: int) -> np.ndarray:
    """(resamples x size) how often each index was drawn in each resample."""
    flat = (np.arange(len(draws))[:, None] * size + draws).ravel()
    counts = np.bincount(flat, minlength=len(draws) * size).reshape(len(draws), size).astype(float)
    counts.flags.writeable = False  # shared through the cache
    return counts


def paired_test(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """a - b in accuracy (both seeds x examples on the same examples): the difference, its
    standard error over seeds and test examples, its degrees of freedom, and the t interval
    and two-sided p-value that follow (module docstring).

    Equal numbers of seeds pair seed i with seed i (the same phase-3 seed): the unit is the
    per-seed difference. Otherwise (the pooled random draws) each condition's runs count on
    their own (Welch) and the examples stay paired."""
    a = np.atleast_2d(np.asarray(a, dtype=float))
    b = np.atleast_2d(np.asarray(b, dtype=float))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"paired comparison needs the same test examples: {a.shape[1]} vs {b.shape[1]}")
    if len(a) == len(b):
        estimate, se, df = _crossed(a - b)
    else:
        estimate, se, df = _unpaired(a, b)
    low, high, p = _t_interval(estimate, se, df, level)
    return {"difference": estimate, "ci_low": low, "ci_high": high, "p": p, "se": se, "df": df,
            "n": int(a.shape[1]), "seeds": int(min(len(a), len(b)))}


def _crossed(x: np.ndarray) -> tuple[float, float, float]:
    """Mean, standard error and df of a (seeds x examples) matrix whose rows are training
    runs and whose columns are test examples, both random (a two-way crossed design).

    var(mean) = var(run means) / k + (var(example means) - residual / k) / n: the runs' part
    (each run's mean, over the k runs) and the test set's part (each example's mean over the
    runs, over the n examples), less the example-by-run noise that both contain (the
    residual mean square of the two-way table), which would otherwise count twice. The df
    is the runs' k - 1: how far the runs' spread can be trusted bounds the whole estimate
    (with one run, the examples' n - 1, and the spread over runs is not counted)."""
    k, n = x.shape
    example_means, run_means, mean = x.mean(axis=0), x.mean(axis=1), float(x.mean())
    examples = float(np.var(example_means, ddof=1)) / n if n > 1 else 0.0
    if k == 1:
        return mean, float(np.sqrt(examples)), float(max(n - 1, 1))
    residual = x - example_means[None] - run_means[:, None] + mean
    noise = float((residual ** 2).sum()) / ((k - 1) * max(n - 1, 1))
    runs = float(np.var(run_means, ddof=1)) / k
    return mean, float(np.sqrt(runs + max(0.0, examples - noise / (k * n)))), float(k - 1)


def _unpaired(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """mean(a) - mean(b) where a and b have their own runs (seeds not paired) on the same
    examples: the runs' part of each (Welch), the per-example differences' part, and the
    Welch-Satterthwaite df of the two runs' parts (a single run: the examples' n - 1)."""
    n = a.shape[1]
    per_example = a.mean(axis=0) - b.mean(axis=0)
    parts = [(float(np.var(m.mean(axis=1), ddof=1)) / len(m), len(m) - 1) for m in (a, b) if len(m) > 1]
    variance = float(np.var(per_example, ddof=1)) / n + sum(v for v, _ in parts)
    return float(per_example.mean()), float(np.sqrt(variance)), (
        welch_satterthwaite(parts) if parts else float(max(n - 1, 1)))


def _t_interval(estimate: float, se: float, df: float, level: float) -> tuple[float, float, float]:
    """(low, high, two-sided p of 0) of a t-distributed estimate."""
    from scipy.stats import t as student

    if se == 0:
        return estimate, estimate, (1.0 if estimate == 0 else 0.0)
    half = float(student.ppf((1 + level) / 2, df)) * se
    return estimate - half, estimate + half, float(2 * student.sf(abs(estimate) / se, df))


def welch_satterthwaite(parts: list[tuple[float, int]]) -> float:
    """Degrees of freedom of a sum of variance estimates, each (variance, its df):
    (sum v)^2 / sum(v^2 / df); between the smallest df and their sum."""
    total = sum(v for v, _ in parts)
    denominator = sum(v * v / df for v, df in parts if df > 0 and v > 0)
    if total == 0 or denominator == 0:
        return float(max((df for _, df in parts), default=1))
    return float(total * total / denominator)


def holm(pvalues) -> np.ndarray:
    """Holm-corrected p-values (family-wise error), in the given order."""
    from statsmodels.stats.multitest import multipletests

    pvalues = np.asarray(pvalues, dtype=float)
    if len(pvalues) == 0:
        return pvalues
    return multipletests(pvalues, method="holm")[1]


def minimum_detectable_effect(standard_error: float, alpha: float = 0.05, power: float = 0.8,
                              df: float = np.inf) -> float:
    """Smallest true accuracy difference that a t test with this standard error and degrees
    of freedom finds with `power` at two-sided level `alpha`:
    (t_(1-alpha/2, df) + t_(power, df)) * standard_error (z quantiles for large df).

    With `paired_test`'s standard error and df this is the design's: more seeds shrink the
    seed part of the error and raise the df, more test examples shrink the example part.
    With one seed it is the familiar (z + z) * sd / sqrt(n), sd the spread of the
    per-example differences."""
    from scipy.stats import t as student

    return float((student.ppf(1 - alpha / 2, df) + student.ppf(power, df)) * standard_error)


# -- study level: read the runs' predictions, compare the conditions --------------------
ZERO_SHOT = "zero-shot"
LEVEL = 0.05


def correctness(runs, task: str, split: str = "test") -> dict[tuple[str, str], np.ndarray]:
    """(condition, language) -> seeds x examples 0/1 matrix of `task`, from the runs'
    prediction files (predictions/{task}/{split}-{lang}.jsonl, in test-set order; runs that
    did not evaluate `task` have none), seeds in ascending order;
    'avg' concatenates the languages (equal weight per example, as the average of equal
    test sets). The `random` draws (random-0, random-1, ...) are also pooled into one
    'random' condition whose replicates are every draw's seeds: the control is "k random
    languages", not one particular draw."""
    import json
    from collections import defaultdict

    rows: dict[tuple[str, str], dict[int, np.ndarray]] = defaultdict(dict)
    for run in runs:
        m = json.loads((run / "metrics.json").read_text())
        for path in sorted((run / "predictions" / task).glob(f"{split}-*.jsonl")):
            lang = path.stem.removeprefix(f"{split}-")
            preds = [json.loads(x) for x in path.read_text().splitlines()]
            rows[m["condition"], lang][m["seed"]] = np.array([p["gold"] == p["pred"] for p in preds],
                                                             dtype=float)
    out = {key: np.stack([by_seed[s] for s in sorted(by_seed)]) for key, by_seed in rows.items()}
    for pooled in sorted({_draw(c)[1] for c, _ in out if _draw(c)}):
        draws = sorted({c for c, _ in out if _draw(c) and _draw(c)[1] == pooled})
        for lang in sorted({lang for c, lang in out if c in draws}):
            found = [out[c, lang] for c in draws if (c, lang) in out]
            if len(found) == len(draws) and len({m.shape[1] for m in found}) == 1:
                out[pooled, lang] = np.concatenate(found)  # draws x seeds as the replicates
    for condition in {c for c, _ in out}:
        langs = sorted(lang for c, lang in out if c == condition)
        if len({len(out[condition, lang]) for lang in langs}) == 1:  # same seeds everywhere
            out[condition, "avg"] = np.concatenate([out[condition, lang] for lang in langs], axis=1)
    return out


def _draw(condition: str) -> tuple[str, str] | None:
    """'random-1' -> ('', 'random'); 'qa/random-0' -> ('qa/', 'qa/random'); else None."""
    cid = ConditionId.parse(condition)
    return (cid.prefix, str(cid.pooled)) if cid.is_draw else None


def with_pooled_random(conditions: list[str]) -> list[str]:
    """The conditions with `random` (the draws pooled, see `correctness`) before its draws;
    per family in a several-family study (`qa/random`)."""
    pooled = {_draw(c)[1] for c in conditions if _draw(c)}
    out: list[str] = []
    for c in conditions:
        if c in pooled:
            continue
        if _draw(c) and _draw(c)[1] not in out:
            out.append(_draw(c)[1])
        out.append(c)
    return out


def accuracy_intervals(correct: dict, order: list[str]) -> pd.DataFrame:
    """Accuracy (percent) with its 95% two-level bootstrap interval, per condition and language."""
    rows = []
    for (condition, lang), matrix in correct.items():
        mean, low, high = bootstrap_ci(matrix)
        rows.append({"condition": condition, "language": lang, "accuracy": 100 * mean,
                     "ci_low": 100 * low, "ci_high": 100 * high, "seeds": len(matrix),
                     "n": matrix.shape[1]})
    df = pd.DataFrame(rows)
    order = with_pooled_random(order)
    df["condition"] = pd.Categorical(df["condition"], [c for c in order if c in set(df.condition)])
    return df.sort_values(["condition", "language"]).reset_index(drop=True)


def comparisons(correct: dict, conditions: list[str], positive_languages=None) -> pd.DataFrame:
    """Every paired comparison of the study, per language and on the average: difference in
    points with its 95% t interval and p-value over runs and examples, Holm-corrected p
    over the whole family, and the minimum detectable effect (80% power, 5% level) of that
    comparison. The controls (CONTROLS) come first, marked in column `control`, each a Holm
    family of its own; `conditions` are the study's zero-shot conditions (references and
    replicates are compared only as controls). `positive_languages`: the languages on which
    the positive control is known to be positive (those translate-train trains on; None:
    every non-English language)."""
    present = {c for c, _ in correct}
    # the random draws are compared as one pooled `random` condition, not draw by draw
    conditions = [c for c in with_pooled_random(conditions)
                  if c in present and not _draw(c) and c not in _replicates()]
    # within each phase-2 family (prefix `qa/` in a several-family study), then each vs none
    prefixes = list(dict.fromkeys(ConditionId.parse(c).prefix for c in conditions))
    pairs = [(p + a, p + b) for p in prefixes for a, b in COMPARISONS
             if {p + a, p + b} <= set(conditions)]
    pairs += [(c, "none") for c in conditions if c != "none" and "none" in conditions]
    columns = ["comparison", "control", "language", "difference", "ci_low", "ci_high", "p", "p_holm",
               "mde", "n", "seeds"]
    controls = pd.DataFrame(_control_rows(correct, present, positive_languages), columns=columns)
    study = pd.DataFrame([row for a, b in pairs for row in _pair_rows(correct, a, b)], columns=columns)
    study["p_holm"] = holm(study["p"].to_numpy())
    # each control answers its own question, so each is its own family (pooled row and every
    # language): the study's comparisons do not dilute a control, nor one control the other
    controls["p_holm"] = controls.groupby("control")["p"].transform(lambda p: holm(p.to_numpy()))
    return pd.concat([controls, study], ignore_index=True) if len(controls) else study


def _replicates() -> set[str]:
    """Negative-control conditions: compared with their original only, as a control."""
    return set(REPLICATES)


def _pair_rows(correct: dict, a: str, b: str, control: str = "", langs=None) -> list[dict]:
    if langs is None:
        langs = sorted({lang for c, lang in correct if c == a} & {lang for c, lang in correct if c == b})
    rows = []
    for lang in langs:
        result = paired_test(correct[a, lang], correct[b, lang])
        rows.append({"comparison": f"{a} vs {b}", "control": control, "language": lang,
                     "difference": 100 * result["difference"], "ci_low": 100 * result["ci_low"],
                     "ci_high": 100 * result["ci_high"], "p": result["p"],
                     "mde": 100 * minimum_detectable_effect(result["se"], df=result["df"]),
                     "n": result["n"], "seeds": result["seeds"]})
    return rows


def _control_rows(correct: dict, present: set[str], positive_languages=None) -> list[dict]:
    """Each control present (conditions.CONTROLS), per non-English language and on their
    pooled examples (`zero-shot`); each is Holm-corrected as a family of its own."""
    rows = []
    for kind, (a, b) in CONTROLS.items():
        if not {a, b} <= present:
            continue
        langs = sorted(({lang for c, lang in correct if c == a} & {lang for c, lang in correct if c == b})
                       - {"en", "avg"})
        if kind == "positive" and positive_languages is not None:
            langs = [lang for lang in langs if lang in set(positive_languages)]
        if not langs or len({len(correct[c, lang]) for c in (a, b) for lang in langs}) != 1:
            continue  # seeds must match to pool the languages
        both = dict(correct)
        for c in (a, b):
            both[c, ZERO_SHOT] = np.concatenate([correct[c, lang] for lang in langs], axis=1)
        rows += _pair_rows(both, a, b, kind, [ZERO_SHOT, *langs])
    return rows


def control_verdicts(compared: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """One row per control of a comparisons table (its `zero-shot` row): what was expected,
    what came out, and whether the two agree. The positive control is judged on the pooled
    languages; the negative one fails if any of its rows, pooled or one language, is
    significant after Holm (each would be a false discovery): `significant_in` lists them."""
    rows = []
    for kind, (a, b) in CONTROLS.items():
        row = compared[(compared.control == kind) & (compared.language == ZERO_SHOT)]
        if row.empty:
            continue
        r = row.iloc[0]
        significant = compared[(compared.control == kind) & (compared.p_holm < level)]
        if kind == "positive":
            expected = f"{a} beats {b}: interval above 0 and Holm p < {level}"
            passed = bool(r.ci_low > 0 and r.p_holm < level)
        else:
            expected = f"no difference: Holm p >= {level}, pooled and in every language"
            passed = significant.empty
        rows.append({"control": kind, "comparison": r.comparison, "difference": r.difference,
                     "ci_low": r.ci_low, "ci_high": r.ci_high, "p": r.p, "p_holm": r.p_holm,
                     "seeds": int(r.seeds), "expected": expected, "as_expected": passed,
                     "significant_in": tuple(significant.language)})
    return pd.DataFrame(rows, columns=["control", "comparison", "difference", "ci_low", "ci_high", "p",
                                       "p_holm", "seeds", "expected", "as_expected", "significant_in"])


# -- gain against typological distance --------------------------------------------------
def gain_table(accuracy: pd.DataFrame, distances: pd.DataFrame, baseline: str = "none",
               exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per (condition, seed, language) of a task: the gain in points over the
    baseline's mean over seeds, with the language's distance to English and to the
    condition's nearest phase-2 language (`selection/target_distances.csv`)."""
    acc = accuracy[(accuracy.language != "avg") & (accuracy.split == "test")]
    base = acc[acc.condition == baseline].groupby("language")["value"].mean()
    rows = acc[(acc.condition != baseline) & ~acc.condition.isin(exclude)
               & acc.language.isin(base.index)]
    rows = rows.assign(gain=100 * (rows["value"].to_numpy() - base.loc[rows.language].to_numpy()))
    merged = rows.merge(distances, left_on=["language", "condition"],
                        right_on=["target_language", "condition"], how="inner")
    return merged[["condition", "seed", "language", "gain", "to_english", "to_nearest_phase2",
                   "nearest_phase2_language"]].reset_index(drop=True)


PREDICTORS = ("to_english", "to_nearest_phase2")


def gain_regression(gains: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """gain ~ to_english + to_nearest_phase2 with a random intercept per target language
    (statsmodels MixedLM, REML): slope per distance with its Wald interval and p-value.
    With fewer than three languages, or a design the fit cannot invert (distances that
    move together, as when `en` is the only phase-2 condition: its nearest phase-2
    language is English), the table is empty. A fit that does not converge is marked
    (`converged`)."""
    import warnings

    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    columns = ["term", "slope", "ci_low", "ci_high", "p", "languages", "observations", "converged"]
    if gains.language.nunique() < 3:
        return pd.DataFrame(columns=columns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = smf.mixedlm("gain ~ " + " + ".join(PREDICTORS), gains, groups=gains["language"]).fit(
                reml=True)
        except (np.linalg.LinAlgError, ValueError):  # singular: the design does not identify it
            return pd.DataFrame(columns=columns)
    converged = bool(fit.converged) and not any(issubclass(w.category, ConvergenceWarning)
                                                for w in caught)
    ci = fit.conf_int(alpha=1 - level)
    return pd.DataFrame([{"term": term, "slope": float(fit.params[term]), "ci_low": float(ci.loc[term, 0]),
                          "ci_high": float(ci.loc[term, 1]), "p": float(fit.pvalues[term]),
                          "languages": int(gains.language.nunique()), "observations": len(gains),
                          "converged": converged}
                         for term in ("Intercept", *PREDICTORS)], columns=columns)
