"""Shared fixtures. Tests run offline: HF_HUB_OFFLINE is set before any HF import."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def write_params(tmp_path: Path, **changes) -> Path:
    """A copy of params/demo.yaml under tmp_path/params/, with sections updated."""
    raw = yaml.safe_load((ROOT / "params" / "demo.yaml").read_text())
    raw["output_root"] = str(tmp_path / "outputs")
    raw["data"]["local_dir"] = str(ROOT / "data" / "demo")
    raw["model"]["corpus"] = str(ROOT / "data" / "demo" / "demo_pretrain")
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    path = tmp_path / "params" / "test.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# Small enough for seconds per stage, big enough for training to beat chance.
TINY = dict(
    study="tiny",
    conditions=["none", "en", "diverse", "similar"],
    seeds=[0],
    phase2_seed_policy="shared",  # one encoder per condition (the demo trains one per seed)
    model={"vocab_size": 800, "mlm_epochs": 0.25},
    data={"max_train_examples": 1500, "max_eval_examples": 90},
    selection={"k": 2, "budget": 300},
    phase2={"epochs": 1},
    phase3={"epochs": 4},
)


@pytest.fixture
def tiny_params(tmp_path: Path) -> Path:
    return write_params(tmp_path, **TINY)


def concatenated(sets: dict):
    """A condition's per-task phase-2 sets as one dataset (tasks of one head only)."""
    from datasets import concatenate_datasets

    return concatenate_datasets(list(sets.values()))
