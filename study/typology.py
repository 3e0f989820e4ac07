"""Typological distance between languages and the phase-2 language choice.

Distances come from URIEL as shipped by `urielplus` (offline). For each named feature
set (syntactic, phonological, inventory) urielplus gives the **angular distance**
between two languages' feature vectors over the features both have; the study's
distance is the **mean over the chosen feature sets**. Where URIEL has no shared
feature of a set for a pair, that set is left out of the pair's mean and a warning
names the pair and the set; a pair with no set at all is an error, never a zero.

Language codes: the study uses ISO 639-1 (XNLI's `sw`, `zh`); URIEL uses ISO 639-3.
`to_uriel_code` maps through `langcodes`, which gives the macrolanguage code
(`zh` -> `zho`, `sw` -> `swa`, `ar` -> `ara`); those are the vectors used unless the
params name another code (`selection.uriel_codes: {zh: cmn}`), which is also how a
collective code URIEL lacks (AmericasNLI's `nah`, `oto`) gets an individual language.

Selection strategies over a candidate pool (all deterministic):
- diverse: greedy max-min (farthest point): start from the pool language farthest
  from English, then repeatedly add the language whose minimum distance to the
  chosen set is largest; ties broken by language code.
- similar: the k pool languages nearest to English (ties by code).
- random: seeded uniform draws of k languages.
"""

from __future__ import annotations

import itertools
import logging
import random
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

ENGLISH = "en"


class TypologyError(ValueError):
    """A language URIEL does not know, or a pair with no typological data."""


_URIEL = None


def uriel():
    """The shared URIELPlus instance. urielplus logs at INFO on the root logger, on import and
    while it sets up its database (on a fresh install: "... is missing in database, copying"):
    kept off the console and out of notebooks."""
    global _URIEL
    if _URIEL is None:
        root = logging.getLogger()
        level = root.level
        from urielplus import urielplus  # its import sets the root logger to INFO

        root.setLevel(logging.WARNING)
        try:
            _URIEL = urielplus.URIELPlus()
        finally:
            root.setLevel(level)
        for name in list(logging.root.manager.loggerDict):
            if name.startswith("urielplus"):
                logging.getLogger(name).setLevel(logging.WARNING)
    return _URIEL


def to_uriel_code(lang: str, codes: dict[str, str] | None = None) -> str:
    """The ISO 639-3 code URIEL is asked for: `codes[lang]` where given (params:
    selection.uriel_codes), else langcodes' code (the macrolanguage where one exists)."""
    import langcodes

    if codes and lang in codes:
        return codes[lang]

    try:
        code = langcodes.Language.get(lang).to_alpha3()
    except (LookupError, ValueError):
        raise TypologyError(f"language code {lang!r} is not a valid ISO 639 code") from None
    return code


def family(lang: str, codes: dict[str, str] | None = None) -> str:
    """Top-level language family in URIEL's phylogeny (Glottolog), e.g. 'Indo-European'.

    urielplus lists the phylogeny features as a family tree, root first, so a language's
    first feature is its family. Isolates and unclassified languages give '?'.
    """
    code = to_uriel_code(lang, codes)
    if code not in _FAMILIES:
        u = uriel()
        names = u.get_phylogeny_features_array()
        try:
            vector = u.get_genetic_vector([code])[code]
        except Exception:  # urielplus raises several types for an unknown code
            raise TypologyError(f"URIEL (urielplus) has no phylogeny for {lang!r} (as {code!r})") from None
        on = [str(names[i]).removeprefix("F_") for i, x in enumerate(vector) if x == 1]
        _FAMILIES[code] = on[0] if on else "?"
    return _FAMILIES[code]


_FAMILIES: dict[str, str] = {}


def pair_distance(a: str, b: str, feature_sets: Sequence[str], gaps: list | None = None,
                  codes: dict[str, str] | None = None) -> float:
    """Mean angular URIEL distance of two languages over the feature sets with data.

    A feature set with no feature both languages have is left out of the mean (the
    fallback: the other sets decide); a warning names the pair and the set, and the gap
    is appended to `gaps` when given. A pair with no set at all is an error, never a zero.
    """
    if a == b:
        return 0.0
    ca, cb = to_uriel_code(a, codes), to_uriel_code(b, codes)
    values, missing = [], []
    for feature_set in feature_sets:
        try:
            values.append(_uriel_distance(feature_set, ca, cb))
        except ValueError as exc:
            if "Unknown languages" in str(exc):
                raise TypologyError(
                    f"URIEL (urielplus) has no entry for {a!r} (as {ca!r}) or {b!r} (as {cb!r}); "
                    f"name the individual language's ISO 639-3 code in selection.uriel_codes "
                    f"(e.g. {{{b}: <code>}}) for a collective or unlisted code"
                ) from None
            missing.append(feature_set)
    if not values:
        raise TypologyError(f"URIEL has no shared features of {list(feature_sets)} for {a}-{b}")
    for feature_set in missing:
        used = [f for f in feature_sets if f not in missing]
        warnings.warn(f"URIEL has no shared {feature_set} features for {a}-{b}; "
                      f"their distance uses the other feature sets ({', '.join(used)})", stacklevel=2)
        if gaps is not None:
            gaps.append({"pair": f"{a}-{b}", "feature_set": feature_set,
                         "fallback": f"mean over {', '.join(used)}"})
    return float(np.mean(values))


_DISTANCES: dict[tuple[str, str, str], float] = {}


def _uriel_distance(feature_set: str, ca: str, cb: str) -> float:
    """urielplus's distance of two URIEL codes over one feature set, computed once per process
    (URIEL's data does not change while it runs; the design check and the selection stage
    ask for the same pairs). Its ValueErrors (unknown codes, no shared feature) pass through."""
    key = (feature_set, *sorted((ca, cb)))
    if key not in _DISTANCES:
        _DISTANCES[key] = float(uriel().new_distance(feature_set, ca, cb))
    return _DISTANCES[key]


def distance_matrix(langs: Sequence[str], feature_sets: Sequence[str],
                    codes: dict[str, str] | None = None) -> pd.DataFrame:
    """Symmetric matrix of study distances, indexed by the given ISO 639-1 codes.

    `matrix.attrs["gaps"]` lists the pairs and feature sets URIEL has no shared data for,
    with the fallback used (see `pair_distance`); no warning is printed.
    """
    langs = list(dict.fromkeys(langs))
    m = pd.DataFrame(0.0, index=langs, columns=langs)
    gaps: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # recorded in gaps and shown as a table
        for a, b in itertools.combinations(langs, 2):
            m.loc[a, b] = m.loc[b, a] = pair_distance(a, b, feature_sets, gaps, codes)
    m.attrs["gaps"] = gaps
    m.attrs["uriel_codes"] = {x: to_uriel_code(x, codes) for x in langs}
    m.attrs["feature_sets"] = list(feature_sets)
    return m


def select_diverse(pool: Sequence[str], dist: pd.DataFrame, k: int) -> list[str]:
    pool = _check_pool(pool, k)
    first = min(pool, key=lambda x: (-dist.loc[ENGLISH, x], x))
    chosen = [first]
    while len(chosen) < k:
        rest = [x for x in pool if x not in chosen]
        chosen.append(min(rest, key=lambda x: (-min(dist.loc[x, c] for c in chosen), x)))
    return chosen


def select_similar(pool: Sequence[str], dist: pd.DataFrame, k: int) -> list[str]:
    pool = _check_pool(pool, k)
    return sorted(pool, key=lambda x: (dist.loc[ENGLISH, x], x))[:k]


def select_random(pool: Sequence[str], k: int, draws: int, seed: int) -> list[list[str]]:
    pool = sorted(_check_pool(pool, k))
    return [random.Random(f"{seed}/random/{d}").sample(pool, k) for d in range(draws)]


def _check_pool(pool: Sequence[str], k: int) -> list[str]:
    pool = list(dict.fromkeys(pool))
    if ENGLISH in pool:
        raise TypologyError("the non-English pool contains 'en'")
    if k > len(pool):
        raise TypologyError(f"selection.k = {k} but the pool has only {len(pool)} "
                            f"languages: {pool}; choose k <= {len(pool)}")
    return pool


def set_scores(langs: Sequence[str], dist: pd.DataFrame) -> dict[str, float]:
    """How diverse a language set is, and how far from English."""
    pairs = [dist.loc[a, b] for a, b in itertools.combinations(langs, 2)]
    return {
        "mean_pairwise": float(np.mean(pairs)) if pairs else float("nan"),
        "min_pairwise": float(np.min(pairs)) if pairs else float("nan"),
        "mean_to_english": float(np.mean([dist.loc[ENGLISH, x] for x in langs])),
        "n_families": len({family(x, dist.attrs.get("uriel_codes")) for x in langs}),
        "n_scripts": len({script(x) for x in langs}),
    }


def gap_table(dist: pd.DataFrame) -> pd.DataFrame:
    """The pairs and feature sets `distance_matrix` found no shared URIEL data for."""
    return pd.DataFrame(dist.attrs.get("gaps", []), columns=["pair", "feature_set", "fallback"])


def target_distances(targets: Sequence[str], sets: dict[str, Sequence[str]],
                     dist: pd.DataFrame) -> pd.DataFrame:
    """Per target language and condition: distance to English and to the nearest phase-2
    language of the condition (English counts where the condition trains on it).

    The analysis regresses each language's gain on these two distances.
    """
    rows = []
    for target in targets:
        for condition, langs in sets.items():
            nearest = min(langs, key=lambda x: (dist.loc[target, x], x))
            rows.append({"target_language": target, "condition": condition,
                         "to_english": float(dist.loc[target, ENGLISH]),
                         "nearest_phase2_language": nearest,
                         "to_nearest_phase2": float(dist.loc[target, nearest])})
    return pd.DataFrame(rows, columns=["target_language", "condition", "to_english",
                                       "nearest_phase2_language", "to_nearest_phase2"])


def code_table(langs: Sequence[str], codes: dict[str, str] | None = None) -> pd.DataFrame:
    """The URIEL code used for each study code (macrolanguage or individual), with its
    name, script and family: what the distances are computed on."""
    import langcodes

    return pd.DataFrame([{"code": x, "uriel_code": to_uriel_code(x, codes),
                          "name": langcodes.Language.get(x).display_name(),
                          "script": script(x), "family": family(x, codes)}
                         for x in langs]).set_index("code")


def script(lang: str) -> str:
    """ISO 15924 script a language is usually written in (from langcodes' likely subtags)."""
    import langcodes

    return langcodes.Language.get(lang).maximize().script or "?"


def embedding(dist: pd.DataFrame, dims: int = 2) -> tuple[pd.DataFrame, float]:
    """Classical (Torgerson) multidimensional scaling of the distance matrix.

    Exact and deterministic: the coordinates are the top eigenvectors of the double-centred
    squared distances, each sign fixed so that its largest coordinate is positive. Returns
    the coordinates and the share of the (positive) eigenvalue mass the `dims` axes keep,
    i.e. how faithful the picture is.
    """
    d2 = dist.to_numpy(dtype=float) ** 2
    n = len(d2)
    centre = np.eye(n) - np.ones((n, n)) / n
    values, vectors = np.linalg.eigh(-0.5 * centre @ d2 @ centre)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    top = np.clip(values[:dims], 0, None)
    coords = vectors[:, :dims] * np.sqrt(top)
    for j in range(dims):
        if coords[np.argmax(np.abs(coords[:, j])), j] < 0:
            coords[:, j] *= -1
    kept = float(top.sum() / values[values > 0].sum()) if (values > 0).any() else 0.0
    return pd.DataFrame(coords, index=dist.index, columns=[f"dim{j + 1}" for j in range(dims)]), kept
