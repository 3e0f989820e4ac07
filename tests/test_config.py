from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from study.config import ConfigError, build_config, load_config

ROOT = Path(__file__).resolve().parents[1]
PARAM_FILES = sorted((ROOT / "params").glob("*.yaml"))


def test_there_are_params_files():
    assert {p.name for p in PARAM_FILES} >= {"demo.yaml", "full.yaml"}


@pytest.mark.parametrize("path", PARAM_FILES, ids=lambda p: p.name)
def test_every_params_file_validates(path):
    cfg = load_config(path)
    assert cfg.conditions and cfg.seeds
    assert isinstance(cfg.phase2.lr, float) and isinstance(cfg.phase3.lr, float)


def test_demo_is_offline_and_full_uses_the_hub():
    demo, full = load_config(ROOT / "params/demo.yaml"), load_config(ROOT / "params/full.yaml")
    assert demo.data.source == "local" and demo.model.build == "tiny-xlmr"
    assert full.data.source == "hub" and full.model.name_or_path == "xlm-roberta-large"
    assert full.model.build is None and len(full.seeds) >= 3


def test_full_study_evaluates_every_xtreme_r_language_zero_shot():
    """XNLI's 15 languages and AmericasNLI's 10 with the XNLI model (no training of its
    own), XCOPA's 11 with the COPA model; nothing else gets a phase-3 model."""
    full = load_config(ROOT / "params/full.yaml")
    assert sorted(full.data.targets) == ["xcopa", "xnli"]
    xnli = dict(full.data.evaluated("xnli"))
    assert list(xnli) == ["xnli", "americas_nli"]
    assert set(xnli["xnli"]) == {"ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th",
                                 "tr", "ur", "vi", "zh"}
    assert set(xnli["americas_nli"]) == {"aym", "bzd", "cni", "gn", "hch", "nah", "oto", "quy",
                                         "shp", "tar"}
    xcopa = dict(full.data.evaluated("xcopa"))
    assert list(xcopa) == ["xcopa"] and set(xcopa["xcopa"]) == {"et", "ht", "id", "it", "qu", "sw", "ta",
                                                                "th", "tr", "vi", "zh"}
    # trained on English only: MNLI for the XNLI model, COPA for the XCOPA model
    assert {t: spec.train for t, spec in full.data.targets.items()} == {"xnli": "mnli", "xcopa": "copa"}


def test_yaml_string_float_becomes_a_float():
    raw = yaml.safe_load("lr: 1e-5")
    assert raw["lr"] == "1e-5"  # the YAML 1.1 pitfall this guards against
    cfg = load_config(ROOT / "params/demo.yaml", {"phase2.lr": "1e-5"})
    assert cfg.phase2.lr == 1e-05 and isinstance(cfg.phase2.lr, float)


def test_relative_paths_resolve_against_the_params_file(tmp_path):
    (tmp_path / "p").mkdir()
    text = (ROOT / "params/demo.yaml").read_text()
    (tmp_path / "p" / "x.yaml").write_text(text)
    cfg = load_config(tmp_path / "p" / "x.yaml")
    assert cfg.study_dir == tmp_path / "outputs" / "demo"
    assert cfg.data.local_dir == tmp_path / "data" / "demo"


def test_config_is_frozen():
    cfg = load_config(ROOT / "params/demo.yaml")
    with pytest.raises(ValidationError, match="frozen"):
        cfg.study = "other"
    with pytest.raises(ValidationError, match="frozen"):
        cfg.phase2.lr = 1.0


@pytest.mark.parametrize(("override", "expected"), [
    ({"phase2.lr": "fast"}, ["phase2.lr", "'fast'", "expected a number"]),
    ({"phase2.lrate": 0.1}, ["phase2.lrate", "not a known setting", "'lr'"]),
    ({"seeds": "zero"}, ["seeds", "'zero'"]),
    ({"conditions": ["en", "divers"]}, ["conditions", "'divers'", "diverse"]),
    ({"conditions": []}, ["conditions", "at least one"]),
    ({"data.targets": {"xnl": {"train": "mnli"}}}, ["data.targets", "'xnl'", "xnli"]),
    ({"data.targets.demo_nli.languages": ["en", "xx"]}, ["data.targets", "['xx']", "accepted"]),
    ({"conditions": ["none", "translate-train"], "data.translate_train": None},
     ["translate-train", "data.translate_train"]),
    ({"selection.k": -1}, ["selection.k", "-1", "greater than 0"]),
    ({"phase3.precision": "fp8"}, ["phase3.precision", "'fp8'", "'bf16'"]),
    ({"model.num_heads": 3}, ["model", "divisible"]),
    ({"data.source": "local", "data.local_dir": None}, ["data", "local_dir"]),
])
def test_bad_values_name_file_key_value_and_accepted(override, expected):
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "params/demo.yaml", override)
    message = str(err.value)
    assert message.startswith(str(ROOT / "params/demo.yaml"))
    for fragment in expected:
        assert fragment in message


def test_missing_key_is_named(tmp_path):
    raw = yaml.safe_load((ROOT / "params/demo.yaml").read_text())
    del raw["selection"]["budget"]
    with pytest.raises(ConfigError, match=r"selection\.budget' is required"):
        build_config(raw, tmp_path / "x.yaml")


def test_yaml_syntax_error_names_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: demo\nconditions: [en, none\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML at line"):
        load_config(bad)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_loader_owned_key_is_refused(tmp_path):
    raw = yaml.safe_load((ROOT / "params/demo.yaml").read_text())
    raw["source_file"] = "elsewhere.yaml"
    with pytest.raises(ConfigError, match="'source_file' is not a known setting"):
        build_config(raw, tmp_path / "x.yaml")
