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
