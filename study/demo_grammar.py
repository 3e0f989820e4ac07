"""The demo languages' grammar, read from their URIEL features.

The demo's synthetic languages use real words (study/demo_lexicon.yaml) arranged by
rules taken from URIEL (the typology data the study's language selection uses), so that
a language far from English in the distances is also far from it in the demo's
sentences. Four parameters, each a group of URIEL's binary syntax features (WALS-derived
names, as in lang2vec):

    order       S_SVO S_SOV S_VSO S_VOS S_OVS S_OSV         basic word order
    adposition  S_ADPOSITION_BEFORE_NOUN / _AFTER_NOUN       'in park' or 'park in'
    adjective   S_ADJECTIVE_BEFORE_NOUN / _AFTER_NOUN        'red book' or 'book red'
    negation    S_NEGATIVE_WORD_BEFORE_VERB / _AFTER_VERB,   'not sees', 'sees not',
                S_NEGATIVE_PREFIX / _SUFFIX                  'notsees', 'seesnot'

URIEL holds a feature per source. A value is taken from the first source that sets any
feature of the group, in the order WALS, SSWL, ETHNO (WALS is curated per language;
SSWL and Ethnologue fill gaps). Where that source sets several (German: SVO and SOV),
the first in the group's list above wins. Where no source sets any, the lexicon's
`fallback` gives the value and the data card says it is not from URIEL; a language with
neither is an error.
"""

from __future__ import annotations

from study.typology import to_uriel_code, uriel

SOURCES = ("WALS", "SSWL", "ETHNO")
GROUPS: dict[str, dict[str, str]] = {  # parameter -> value -> URIEL feature, in preference order
    "order": {o: f"S_{o}" for o in ("SVO", "SOV", "VSO", "VOS", "OVS", "OSV")},
    "adposition": {"before": "S_ADPOSITION_BEFORE_NOUN", "after": "S_ADPOSITION_AFTER_NOUN"},
    "adjective": {"before": "S_ADJECTIVE_BEFORE_NOUN", "after": "S_ADJECTIVE_AFTER_NOUN"},
    "negation": {"before": "S_NEGATIVE_WORD_BEFORE_VERB", "after": "S_NEGATIVE_WORD_AFTER_VERB",
                 "prefix": "S_NEGATIVE_PREFIX", "suffix": "S_NEGATIVE_SUFFIX"},
}


class GrammarError(ValueError):
    """A demo language whose grammar neither URIEL nor its lexicon entry gives."""


def uriel_values(code: str) -> dict[str, dict[str, list[str]]]:
    """For one URIEL code: parameter -> source -> the values that source sets."""
    up = uriel()
    langs = [str(x) for x in up.get_typological_languages_array()]
    if code not in langs:
        raise GrammarError(f"URIEL has no typological data for {code!r}")
    feats = [str(x) for x in up.get_typological_features_array()]
    sources = [str(x) for x in up.get_typological_sources_array()]
    row = up.get_typological_data_array()[langs.index(code)]
    return {param: {src: [v for v, f in values.items() if row[feats.index(f), sources.index(src)] == 1]
                    for src in SOURCES}
            for param, values in GROUPS.items()}


def grammar(lang: str, entry: dict) -> dict[str, dict[str, str]]:
    """parameter -> {value, source, uriel} for one lexicon entry (see the module doc)."""
    code = entry.get("uriel") or to_uriel_code(lang)
    found = uriel_values(code)
    out = {}
    for param in GROUPS:
        source = next((s for s in SOURCES if found[param][s]), None)
        if source is not None:
            out[param] = {"value": found[param][source][0], "source": f"URIEL {source}", "uriel": code}
            continue
        fallback = (entry.get("fallback") or {}).get(param)
        if fallback not in GROUPS[param]:
            raise GrammarError(
                f"demo language {lang!r} ({code}): URIEL sets no {param} feature "
                f"({', '.join(GROUPS[param].values())}) in {', '.join(SOURCES)}; give "
                f"fallback: {{{param}: one of {list(GROUPS[param])}}} in its lexicon entry")
        out[param] = {"value": fallback, "source": "lexicon fallback (not in URIEL)", "uriel": code}
    return out
