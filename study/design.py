"""What a study's design can tell apart, checked before any GPU hour is spent.

`diagnose(cfg)` chooses every condition's phase-2 languages exactly as the data-selection
stage will (`selection.plan_phase2` over the same URIEL distances) and reports, for
every comparison the report will make (`conditions.COMPARISONS` and the controls), what the
two conditions' language sets are and how far apart:

- the languages of each side and their overlap;
- mean pairwise distance (how diverse a set is: what `diverse` maximises) and mean
  distance to English (what `similar` minimises);
- the language families and scripts of each side.

Two figures go with the table:

- **the confound the design cannot separate**: over every pair of languages in the pool
  and English, how strongly typological distance goes with a difference of family and of
  script (point-biserial correlations). Where they are high, a diverse-vs-similar effect
  is as much one of families or scripts as of typology;
- **the predicted minimum detectable effect** of a comparison on a target's test average,
  from the seeds, the test sizes and an assumed seed spread (`design.seed_sd`, with its
  source): standard error^2 = 2 seed_sd^2 / seeds (two conditions, each trained on its own
  seeds) + 0.5 / n (the test examples' part at its largest: independent errors at 50%
  accuracy), df = seeds - 1, and the same t formula as the observed MDE
  (`stats.minimum_detectable_effect`). The report sets it beside the observed one.

`warnings(diagnosis, cfg)` names a weak contrast in one line each: `diverse` and `similar`
sharing more than `design.max_overlap` of their languages, differing by less than
`design.min_distance_gap` in either distance, or `random` draws that repeat a set.
`python -m study.grid check` and `plan` print them; with `design.weak_contrast: error`
they stop instead (for cluster runs).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from study import typology
from study.conditions import COMPARISONS, CONTROLS, KINDS, ConditionId, recipe
from study.config import ConfigError, StudyConfig
from study.costs import examples
from study.selection import candidate_pool, plan_phase2
from study.stats import minimum_detectable_effect

WIDEN = ("data.phase2_pool (more pool tasks and languages), data.families (another task family "
         "with a wider pool) or selection.k")


@dataclass(frozen=True)
class Diagnosis:
    table: pd.DataFrame  # one row per (family, comparison)
    confound: pd.DataFrame  # one row per family: pairs, r(distance, family differs), r(..., script)
    mde: pd.DataFrame  # one row per target: seeds, test examples, assumed seed sd, se, df, mde
    random_sets: pd.DataFrame  # one row per family: possible sets, draws, distinct draws


def condition_sets(cfg: StudyConfig) -> dict[str, tuple[dict[str, tuple[str, ...]], pd.DataFrame]]:
    """Per phase-2 family: each condition id's phase-2 languages (as the selection stage will
    choose them) and the distance matrix over English, the family's pool and translate-train's
    languages."""
    out = {}
    for name, view in cfg.phase2_families().items():
        langs = [typology.ENGLISH, *sorted(candidate_pool(view)[0])]
        if any("translated" in KINDS[c].reads for c in view.conditions):  # the targets' own languages
            langs += [x for x in view.data.translate_train_languages() if x not in langs]
        dist = typology.distance_matrix(langs, view.selection.feature_sets, view.selection.uriel_codes)
        out[name] = chosen_sets(view, dist)
    return out


def chosen_sets(view: StudyConfig, dist: pd.DataFrame) -> tuple[dict[str, tuple[str, ...]], pd.DataFrame]:
    """One family's condition sets from a distance matrix that covers English, its pool and
    translate-train's languages (the selection stage's own matrix covers them)."""
    sets = dict(plan_phase2(view, dist).languages)
    for c in view.conditions:
        if recipe(c) != c and recipe(c) in sets:  # a replicate trains on its original's languages
            sets[c] = sets[recipe(c)]
    dist = dist.copy()
    dist.attrs = {**dist.attrs, "pool": [typology.ENGLISH, *sorted(candidate_pool(view)[0])]}
    return sets, dist


def _side(condition: str, sets: dict[str, tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The language set(s) of one side of a comparison: `random` is every draw."""
    if KINDS[condition].choose == "random":  # every draw
        return [v for k, v in sets.items() if ConditionId.parse(k).pooled == ConditionId(condition)]
    return [sets[condition]] if condition in sets else []


def _describe(langs: tuple[str, ...], dist: pd.DataFrame) -> dict:
    codes = dist.attrs.get("uriel_codes")
    pairs = [dist.loc[a, b] for a, b in itertools.combinations(langs, 2)]
    return {"pairwise": float(np.mean(pairs)) if pairs else float("nan"),
            "to_english": float(np.mean([dist.loc[typology.ENGLISH, x] for x in langs])),
            "families": sorted({typology.family(x, codes) for x in langs}),
            "scripts": sorted({typology.script(x) for x in langs})}


def comparison_pairs(cfg: StudyConfig) -> list[tuple[str, str, str]]:
    """(control, a, b) for the controls the study has and every comparison of STUDY.md whose
    conditions it runs (`conditions.COMPARISONS`); each condition is also compared with `none`,
    which has no phase-2 data and so no row here."""
    have = set(cfg.conditions)
    # controls are made within a one-family study only (the report's rule)
    pairs = [] if cfg.data.families else [(kind, a, b) for kind, (a, b) in CONTROLS.items() if {a, b} <= have]
    return pairs + [("", a, b) for a, b in COMPARISONS if {a, b} <= have]


TABLE_COLUMNS = ["family", "comparison", "control", "a_languages", "b_languages", "shared", "overlap",
                 "a_pairwise", "b_pairwise", "a_to_english", "b_to_english", "a_families", "b_families",
                 "a_scripts", "b_scripts"]


def design_table(cfg: StudyConfig, chosen=None) -> pd.DataFrame:
    """One row per (family, comparison) whose two sides both train in phase 2 (none of them
    where the study has only `none` and one condition)."""
    chosen = condition_sets(cfg) if chosen is None else chosen
    rows = []
    for family, (sets, dist) in chosen.items():
        for control, a, b in comparison_pairs(cfg):
            left, right = _side(a, sets), _side(b, sets)
            if not left or not right:
                continue
            da, db = [_describe(x, dist) for x in left], [_describe(x, dist) for x in right]
            shared = [len(set(x) & set(y)) / min(len(x), len(y)) for x in left for y in right]
            rows.append({
                "family": family, "comparison": f"{a} vs {b}", "control": control,
                "a_languages": " | ".join(",".join(x) for x in left),
                "b_languages": " | ".join(",".join(x) for x in right),
                "shared": ",".join(sorted(set().union(*left) & set().union(*right))),
                "overlap": float(np.mean(shared)),
                "a_pairwise": float(np.mean([d["pairwise"] for d in da])),
                "b_pairwise": float(np.mean([d["pairwise"] for d in db])),
                "a_to_english": float(np.mean([d["to_english"] for d in da])),
                "b_to_english": float(np.mean([d["to_english"] for d in db])),
                "a_families": ", ".join(sorted(set().union(*(d["families"] for d in da)))),
                "b_families": ", ".join(sorted(set().union(*(d["families"] for d in db)))),
                "a_scripts": ", ".join(sorted(set().union(*(d["scripts"] for d in da)))),
                "b_scripts": ", ".join(sorted(set().union(*(d["scripts"] for d in db)))),
            })
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def confound(chosen) -> pd.DataFrame:
    """Per family: over every pair of English and the pool's languages, the correlation of
    typological distance with 'the two are of different families' and with 'different
    scripts' (point-biserial; NaN where every pair is alike)."""
    rows = []
    for family, (_, dist) in chosen.items():
        codes = dist.attrs.get("uriel_codes")
        langs = dist.attrs.get("pool", list(dist.index))
        pairs = list(itertools.combinations(langs, 2))
        d = np.array([dist.loc[a, b] for a, b in pairs])
        fam = np.array([typology.family(a, codes) != typology.family(b, codes) for a, b in pairs], float)
        scr = np.array([typology.script(a) != typology.script(b) for a, b in pairs], float)
        rows.append({"family": family, "languages": len(langs), "pairs": len(pairs),
                     "r_family": _correlation(d, fam), "r_script": _correlation(d, scr),
                     "share_other_family": float(fam.mean()), "share_other_script": float(scr.mean())})
    return pd.DataFrame(rows)


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def test_examples(cfg: StudyConfig, target: str) -> int:
    """Test examples of a target's average: every test language of its task (the report's
    `avg` row concatenates them)."""
    return sum(examples(cfg, target, lang, "test", cfg.data.max_eval_examples)
               for lang in cfg.data.eval_languages(target))


def predicted_mde(cfg: StudyConfig, seeds: int | None = None) -> pd.DataFrame:
    """The minimum detectable effect (points) of a paired comparison on each target's test
    average, predicted from the design (module docstring); NaN without design.seed_sd."""
    k = len(cfg.seeds) if seeds is None else seeds
    rows = []
    for target in cfg.data.targets:
        sd = cfg.design.seed_sd.get(target)
        n = test_examples(cfg, target)
        examples = 0.5 / n * 100 ** 2  # points^2
        runs = 2 * sd ** 2 / k if sd is not None else float("nan")
        se = math.sqrt(runs + examples)
        df = k - 1 if k > 1 else n - 1
        rows.append({"target": target, "seeds": k, "test_examples": n,
                     "seed_sd": float("nan") if sd is None else sd,
                     "se": se, "df": df,
                     "mde": minimum_detectable_effect(se, df=df) if sd is not None else float("nan")})
    return pd.DataFrame(rows)


def random_sets(cfg: StudyConfig, chosen) -> pd.DataFrame:
    rows = []
    for family, (sets, _) in chosen.items():
        draws = [frozenset(v) for k, v in sets.items() if ConditionId.parse(k).is_draw]
        if not draws:
            continue
        view = cfg.phase2_families()[family]
        pool = len(candidate_pool(view)[0])
        rows.append({"family": family, "pool": pool, "k": view.selection.k,
                     "possible_sets": math.comb(pool, view.selection.k), "draws": len(draws),
                     "distinct_draws": len(set(draws)),
                     "draws_equal_to_diverse": sum(d == frozenset(sets.get("diverse", ())) for d in draws)})
    return pd.DataFrame(rows)


def diagnose(cfg: StudyConfig, mde: bool = True) -> Diagnosis:
    """The design table, the confound, the random draws and (with `mde`, which counts the
    test examples: it reads local data) the predicted MDE."""
    chosen = condition_sets(cfg)
    return Diagnosis(table=design_table(cfg, chosen), confound=confound(chosen),
                     mde=predicted_mde(cfg) if mde else pd.DataFrame(), random_sets=random_sets(cfg, chosen))


def warnings(diagnosis: Diagnosis, cfg: StudyConfig) -> list[str]:
    """One line per weak contrast (module docstring), each naming what would widen it."""
    d, out = cfg.design, []
    main = diagnosis.table[diagnosis.table.comparison == "diverse vs similar"] \
        if len(diagnosis.table) else diagnosis.table
    for r in main.itertuples():
        where = f" (family {r.family})" if cfg.data.families else ""
        gaps = {"mean pairwise distance": r.a_pairwise - r.b_pairwise,
                "mean distance to English": r.a_to_english - r.b_to_english}
        weak = [f"{name} by {gap:.3f}" for name, gap in gaps.items() if gap < d.min_distance_gap]
        if r.overlap > d.max_overlap:
            out.append(f"diverse vs similar{where}: the sets share {r.shared} ({r.overlap:.0%} of a "
                       f"set; design.max_overlap {d.max_overlap:.0%}); widen {WIDEN}")
        if weak:
            out.append(f"diverse vs similar{where}: diverse exceeds similar in {' and '.join(weak)} "
                       f"(design.min_distance_gap {d.min_distance_gap}); widen {WIDEN}")
    for r in diagnosis.random_sets.itertuples():
        where = f" (family {r.family})" if cfg.data.families else ""
        if r.distinct_draws < r.draws or r.draws_equal_to_diverse:
            out.append(f"random{where}: {r.draws} draws from {r.possible_sets} possible sets give "
                       f"{r.distinct_draws} distinct, {r.draws_equal_to_diverse} equal to diverse; "
                       f"widen {WIDEN}, or change phase2_seed")
    return out


def enforce(cfg: StudyConfig, diagnosis: Diagnosis | None = None) -> list[str]:
    """The design's warnings; a ConfigError instead with design.weak_contrast: error."""
    found = warnings(diagnosis or diagnose(cfg, mde=False), cfg)  # reads no data
    if found and cfg.design.weak_contrast == "error":
        raise ConfigError(f"{cfg.source_file}: the design cannot answer its question "
                          f"(design.weak_contrast: error): " + "; ".join(found))
    return found


def summary(diagnosis: Diagnosis, cfg: StudyConfig) -> str:
    """The diagnosis as text for the console (`plan`, `check`)."""
    t = diagnosis.table
    lines = ["design: what each comparison's phase-2 language sets differ in (study/design.py)"]
    if not len(t):
        lines.append("(no comparison between two conditions that train in phase 2)")
    else:
        shown = pd.DataFrame({
            **({"family": t.family} if cfg.data.families else {}),
            "comparison": t.comparison + t.control.map(lambda c: f" ({c} control)" if c else ""),
            "a": t.a_languages.map(_short), "b": t.b_languages.map(_short),
            "shared": t.shared.replace("", "-"),
            "pairwise a/b": [f"{x:.3f}/{y:.3f}".replace("nan", "-")
                             for x, y in zip(t.a_pairwise, t.b_pairwise, strict=True)],
            "to en a/b": [f"{x:.3f}/{y:.3f}" for x, y in zip(t.a_to_english, t.b_to_english, strict=True)],
            "families a/b": [f"{_count(x)}/{_count(y)}"
                             for x, y in zip(t.a_families, t.b_families, strict=True)],
            "scripts a/b": [f"{x} / {y}" if len(x) + len(y) < 40 else f"{_count(x)}/{_count(y)}"
                            for x, y in zip(t.a_scripts, t.b_scripts, strict=True)],
        })
        lines.append(shown.to_string(index=False))
        main = t[t.comparison == "diverse vs similar"]
        for r in main.itertuples():
            where = f" ({r.family})" if cfg.data.families else ""
            lines.append(f"diverse vs similar{where}: families {r.a_families} / {r.b_families}; "
                         f"scripts {r.a_scripts} / {r.b_scripts}")
    for r in diagnosis.random_sets.itertuples():
        where = f" ({r.family})" if cfg.data.families else ""
        lines.append(f"random{where}: {r.draws} draws of k={r.k} from a pool of {r.pool} "
                     f"({r.possible_sets} possible sets): {r.distinct_draws} distinct")
    for r in diagnosis.confound.itertuples():
        lines.append(f"confound ({r.family} pool and English, {r.pairs} pairs): typological distance goes "
                     f"with a family difference r = {_r(r.r_family)} and a script difference r = "
                     f"{_r(r.r_script)} ({r.share_other_family:.0%} of pairs differ in family, "
                     f"{r.share_other_script:.0%} in script)")
    d = cfg.design
    others = {k: predicted_mde(cfg, k).set_index("target").mde for k in (3, 5, 10) if k != len(cfg.seeds)}
    for r in diagnosis.mde.itertuples():
        if r.seed_sd is None or r.seed_sd != r.seed_sd:
            lines.append(f"predicted MDE ({r.target}): none (no design.seed_sd for {r.target}: the assumed "
                         f"spread over seeds it rests on)")
            continue
        lines.append(f"predicted MDE ({r.target}, test average, {r.test_examples:,} examples, {r.seeds} "
                     f"seeds, df {r.df}): {r.mde:.2f} points at 80% power, 5% level ("
                     + ", ".join(f"{k} seeds: {v[r.target]:.2f}" for k, v in others.items())
                     + f"); seed sd {r.seed_sd} points: {d.seed_sd_source.get(r.target, 'no source given')}")
    return "\n".join(lines)


def _short(langs: str, limit: int = 24) -> str:
    if " | " in langs:
        return f"{langs.count(' | ') + 1} draws"
    return langs if len(langs) <= limit else f"{len(langs.split(','))} languages"


def _count(names: str) -> int:
    return len([x for x in names.split(", ") if x])


def _r(value: float) -> str:
    return "n/a (no contrast)" if value != value else f"{value:.2f}"
