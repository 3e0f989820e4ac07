"""Typology on the real URIEL data shipped by urielplus."""

import pytest

from study import typology

POOL = ["bn", "fi", "id", "ja", "ko", "te"]
FEATURES = ("syntactic", "phonological", "inventory")


@pytest.fixture(scope="module")
def dist():
    return typology.distance_matrix(["en", *POOL, "de"], FEATURES)


def test_german_is_closer_to_english_than_japanese(dist):
    assert dist.loc["en", "de"] < dist.loc["en", "ja"]


def test_matrix_is_symmetric_with_zero_diagonal(dist):
    assert (dist.values == dist.values.T).all()
    assert all(dist.loc[x, x] == 0 for x in dist.index)
    off_diagonal = [dist.loc[a, b] for a in dist.index for b in dist.columns if a != b]
    assert min(off_diagonal) > 0


def test_diverse_set_is_at_least_as_spread_as_similar(dist):
    for k in (2, 3, 4):
        diverse = typology.select_diverse(POOL, dist, k)
        similar = typology.select_similar(POOL, dist, k)
        assert len(set(diverse)) == len(set(similar)) == k
        assert (typology.set_scores(diverse, dist)["min_pairwise"]
                >= typology.set_scores(similar, dist)["min_pairwise"])


def test_diverse_starts_from_the_language_farthest_from_english(dist):
    farthest = max(POOL, key=lambda x: dist.loc["en", x])
    assert typology.select_diverse(POOL, dist, 2)[0] == farthest


def test_similar_is_nearest_to_english(dist):
    chosen = typology.select_similar(POOL, dist, 2)
    rest = [x for x in POOL if x not in chosen]
    assert max(dist.loc["en", c] for c in chosen) <= min(dist.loc["en", r] for r in rest)


def test_selection_is_identical_across_runs(dist):
    again = typology.distance_matrix(["en", *POOL, "de"], FEATURES)
    assert typology.select_diverse(POOL, dist, 3) == typology.select_diverse(POOL, again, 3)
    assert typology.select_random(POOL, 2, 3, seed=0) == typology.select_random(POOL, 2, 3, seed=0)
    assert typology.select_random(POOL, 2, 3, seed=0) != typology.select_random(POOL, 2, 3, seed=1)


def test_macrolanguage_codes_are_the_documented_ones():
    assert [typology.to_uriel_code(x) for x in ("zh", "sw", "ar")] == ["zho", "swa", "ara"]


def test_unknown_language_gives_a_clear_error():
    with pytest.raises(typology.TypologyError, match="'qqq'"):
        typology.pair_distance("en", "qqq", FEATURES)


def test_k_larger_than_pool_is_refused(dist):
    with pytest.raises(typology.TypologyError, match="k = 7 but the pool has only 6"):
        typology.select_diverse(POOL, dist, 7)


def test_missing_feature_set_warns_and_uses_the_others():
    # URIEL has no phonological features shared by English and Urdu.
    with pytest.warns(UserWarning, match="phonological features for en-ur"):
        d = typology.pair_distance("en", "ur", FEATURES)
    assert 0 < d < 1


def test_family_from_uriel_phylogeny():
    from study.typology import family

    assert [family(x) for x in ("en", "hi", "sw", "ko", "fi", "id", "ar")] == [
        "Indo-European", "Indo-European", "Atlantic-Congo", "Koreanic", "Uralic", "Austronesian",
        "Afro-Asiatic"]


def test_set_scores_count_families_and_scripts(dist):
    scores = typology.set_scores(["ja", "ko", "te"], dist)
    assert (scores["n_families"], scores["n_scripts"]) == (3, 3)
    both = typology.distance_matrix(["en", "hi", "bn"], FEATURES)
    assert (typology.set_scores(["hi", "bn"], both)["n_families"],
            typology.set_scores(["hi", "bn"], both)["n_scripts"]) == (1, 2)  # Indo-European; Deva, Beng


def test_target_distances_to_english_and_the_nearest_phase2_language():
    import pandas as pd

    langs = ["en", "de", "ja", "ko"]
    d = pd.DataFrame([[0, .3, .8, .7], [.3, 0, .6, .5], [.8, .6, 0, .2], [.7, .5, .2, 0]],
                     index=langs, columns=langs, dtype=float)
    t = typology.target_distances(["de", "ja"], {"en": ("en",), "diverse": ("ko", "ja")}, d)
    rows = {(r.target_language, r.condition): r for r in t.itertuples()}
    assert rows["de", "en"].to_nearest_phase2 == rows["de", "en"].to_english == 0.3
    de = rows["de", "diverse"]
    assert de.nearest_phase2_language == "ko" and de.to_nearest_phase2 == .5
    assert rows["ja", "diverse"].to_nearest_phase2 == 0 and rows["ja", "diverse"].to_english == .8


def test_classical_mds_recovers_a_planar_configuration():
    import numpy as np
    import pandas as pd

    points = np.array([[0, 0], [3, 0], [0, 4], [1, 1], [2, 3]], dtype=float)
    d = pd.DataFrame(np.linalg.norm(points[:, None] - points[None], axis=-1))
    coords, kept = typology.embedding(d)
    back = np.linalg.norm(coords.values[:, None] - coords.values[None], axis=-1)
    assert np.allclose(back, d.values) and kept == pytest.approx(1.0)
    again, _ = typology.embedding(d)
    assert (again.values == coords.values).all()


def test_gaps_are_recorded_with_their_fallback_and_not_printed():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a printed warning would fail here
        m = typology.distance_matrix(["en", "ur", "de"], FEATURES)
    assert {"pair": "en-ur", "feature_set": "phonological",
            "fallback": "mean over syntactic, inventory"} in m.attrs["gaps"]
    assert not any(g["pair"] == "en-de" for g in m.attrs["gaps"])


def test_code_table_states_the_uriel_code_used():
    table = typology.code_table(["zh", "sw", "ja"])
    assert table.loc["zh", "uriel_code"] == "zho" and table.loc["sw", "uriel_code"] == "swa"
    assert table.loc["ja", "family"] == "Japonic" and table.loc["zh", "name"] == "Chinese"


def test_collective_code_uriel_lacks_is_named():
    # AmericasNLI's nah (Nahuatl languages) is an ISO 639-5 collective code: URIEL has no entry.
    with pytest.raises(typology.TypologyError, match=r"no entry for 'en' \(as 'eng'\) or 'nah'"):
        typology.pair_distance("en", "nah", FEATURES)


def test_params_can_name_the_individual_language_code():
    default = typology.distance_matrix(["en", "zh"], FEATURES)
    mandarin = typology.distance_matrix(["en", "zh"], FEATURES, codes={"zh": "cmn"})
    assert mandarin.attrs["uriel_codes"] == {"en": "eng", "zh": "cmn"}
    assert default.attrs["uriel_codes"]["zh"] == "zho"
    assert mandarin.loc["en", "zh"] != default.loc["en", "zh"]  # zho and cmn have other vectors
    assert typology.code_table(["zh"], {"zh": "cmn"}).loc["zh", "uriel_code"] == "cmn"


@pytest.mark.parametrize("params", ["demo.yaml", "base.yaml", "full.yaml"])
def test_every_shipped_code_mapping_gives_a_real_distance_to_english(params):
    """A code the params name for a language must carry data in URIEL: Eastern Huasteca
    Nahuatl (nhe), once full.yaml's code for AmericasNLI's nah, has only English's word order
    and one phonological feature there, so its distance to English came out 0.0."""
    from pathlib import Path

    from study.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "params" / params)
    for lang, code in cfg.selection.uriel_codes.items():
        assert typology.pair_distance("en", lang, FEATURES, None, {lang: code}) > 0.1, (lang, code)
    assert typology.pair_distance("en", "nah", FEATURES, None, {"nah": "nhe"}) == 0.0  # why nhe is not used


def test_uriel_codes_must_be_iso_639_3():
    from pathlib import Path

    from study.config import ConfigError, load_config

    root = Path(__file__).resolve().parents[1]
    with pytest.raises(ConfigError, match=r"selection.uriel_codes.*ISO 639-3"):
        load_config(root / "params/demo.yaml", {"selection.uriel_codes": {"zh": "Mandarin"}})


def test_urielplus_setting_up_its_database_prints_nothing(monkeypatch, capsys):
    """On a fresh install URIELPlus() logs "... is missing in database, copying" at INFO on the
    root logger, which urielplus's import sets to INFO: the first run's console showed it.
    Here its set-up logs as it does; nothing reaches the console, and the level is restored."""
    import logging

    from urielplus import urielplus

    def setting_up():
        logging.info("/venv/urielplus/database/features.npz is missing in database. Copying")
        return object()

    monkeypatch.setattr(urielplus, "URIELPlus", setting_up)
    monkeypatch.setattr(typology, "_URIEL", None)
    import sys

    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.INFO)  # as urielplus's import leaves it: basicConfig,
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler(sys.stderr)])  # a console handler
    typology.uriel()
    out = capsys.readouterr()
    assert "is missing" not in out.out + out.err
    assert root.level == logging.INFO
