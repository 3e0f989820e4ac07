"""Local files in the XTREME download layout (xnli/dev-{lang}.tsv), on a generated stand-in."""

import random
from pathlib import Path

import pytest

from study.config import ConfigError, DataConfig, load_config
from study.data import DataError, load_split
from study.registry import NLI_LABELS, TASKS

ROOT = Path(__file__).resolve().parents[1]
XNLI_LANGS = TASKS["xnli"].languages


def _write_xnli_dev(root: Path, lang: str, n_per_label: int = 830) -> list[str]:
    """A stand-in with XTREME's shape: 2,490 balanced rows, label strings, no header."""
    rng = random.Random(lang)
    labels = [name for name in NLI_LABELS for _ in range(n_per_label)]
    rng.shuffle(labels)
    path = root / "xnli" / f"dev-{lang}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"premise {lang} {i} \"quoted\"\thypothesis {i}\t{label}\n"
                            for i, label in enumerate(labels)), encoding="utf-8")
    return labels


def _cfg(root: Path, **extra) -> DataConfig:
    return DataConfig(source="hub", sources={"xnli": "xtreme"}, xtreme_dir=root,
                      targets={"xnli": {"train": "mnli"}}, phase2_en="mnli", phase2_pool=["klue_nli"],
                      **extra)


def test_all_15_languages_give_2490_balanced_examples(tmp_path):
    written = {lang: _write_xnli_dev(tmp_path, lang) for lang in XNLI_LANGS}
    cfg = _cfg(tmp_path)
    assert len(XNLI_LANGS) == 15
    for lang in XNLI_LANGS:
        ds = load_split("xnli", lang, "dev", cfg)
        assert len(ds) == 2490
        names = [NLI_LABELS[i] for i in ds["label"]]
        assert names == written[lang]  # order and label strings preserved
        assert {names.count(x) for x in NLI_LABELS} == {830}
        assert ds[0]["premise"].endswith('"quoted"')  # no quote processing


def test_per_task_override_leaves_other_tasks_on_their_source(tmp_path):
    cfg = _cfg(tmp_path)
    assert cfg.source_of("xnli") == "xtreme" and cfg.source_of("mnli") == "hub"


def test_test_files_without_labels_are_refused(tmp_path):
    (tmp_path / "xnli").mkdir()
    (tmp_path / "xnli" / "test-de.tsv").write_text("a\tb\n")
    with pytest.raises(DataError, match=r"test-de\.tsv: two columns and no labels"):
        load_split("xnli", "de", "test", _cfg(tmp_path))


def test_unknown_label_string_is_named(tmp_path):
    (tmp_path / "xnli").mkdir()
    (tmp_path / "xnli" / "dev-de.tsv").write_text("a\tb\tentailment\nc\td\tcontradicts\n")
    with pytest.raises(DataError, match=r"dev-de\.tsv: label value\(s\) \['contradicts'\]"):
        load_split("xnli", "de", "dev", _cfg(tmp_path))


def test_wrong_encoding_is_named(tmp_path):
    (tmp_path / "xnli").mkdir()
    (tmp_path / "xnli" / "dev-de.tsv").write_bytes("Äpfel\tb\tneutral\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"dev-de\.tsv: cannot be read as UTF-8"):
        load_split("xnli", "de", "dev", _cfg(tmp_path))


def test_missing_file_names_the_layout_path(tmp_path):
    with pytest.raises(DataError, match=r"xnli/dev-sw\.tsv: no such file \(XTREME download layout"):
        load_split("xnli", "sw", "dev", _cfg(tmp_path))


def test_params_refuse_xtreme_for_a_task_without_that_layout(tmp_path):
    with pytest.raises(ConfigError, match=r"task 'mnli' has no XTREME layout.*\['xcopa', 'xnli'\]"):
        load_config(ROOT / "params/full.yaml",
                    {"data.sources": {"mnli": "xtreme"}, "data.xtreme_dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="needs xtreme_dir"):
        load_config(ROOT / "params/full.yaml", {"data.sources": {"xnli": "xtreme"}})
    with pytest.raises(ConfigError, match="unknown task 'xnlii'"):
        load_config(ROOT / "params/full.yaml", {"data.sources": {"xnlii": "xtreme"}})
