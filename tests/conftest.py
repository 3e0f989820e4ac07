"""Shared fixtures. Tests run offline: HF_HUB_OFFLINE is set before any HF import."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402
from debian import apt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def write_params(tmp_path: Path, name: str = "test.yaml", **changes) -> Path:
    """A copy of params/demo.yaml as tmp_path/params/<name>, with sections updated."""
    raw = yaml.safe_load((ROOT / "params" / "demo.yaml").read_text())
    raw["output_root"] = str(tmp_path / "outputs")
    raw["data"]["local_dir"] = str(ROOT / "data" / "demo")
    raw["model"]["corpus"] = str(ROOT / "data" / "demo" / "demo_pretrain")
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    path = tmp_path / "params" / name
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


def needs_service(reason: str) -> None:
    """A test whose service cannot exist here: skipped with the reason on a developer's
    machine, failed in CI (CI=true), so the check never silently disappears."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


def _found_or_installed(names: tuple[str, ...], package: str, what: str, hint: str) -> str:
    """A program on the machine (the first of `names` found), or Debian's `package`, installed
    where root (or password-less sudo) and apt exist; otherwise skipped (failed in CI)."""
    for name in names:
        if found := shutil.which(name):
            return found
    if apt(package) and (found := shutil.which(names[0])):
        return found
    needs_service(f"no {what} on this machine, and it cannot be installed here (Debian's `{package}` "
                  f"package needs root or password-less sudo, and apt): {hint}")


def chromium() -> str:
    """A headless Chromium for the browser tests. Running the study needs none."""
    return _found_or_installed(("chromium", "chromium-browser", "google-chrome"), "chromium", "Chromium",
                               "install a Chromium to run the browser test")


def chromedriver() -> str:
    """The WebDriver of the machine's Chromium (selenium's own driver download needs the network)."""
    return _found_or_installed(("chromedriver",), "chromium-driver", "chromedriver",
                               "install the WebDriver of your Chromium to run the JupyterLab test")


@pytest.fixture
def short_tmpdir():
    """A TMPDIR of the test's own, for programs whose temporary folders would otherwise stay
    in /tmp or be counted with other runs' (Chromium's lock folders, a run's warm-server
    folder): short, as a socket's path must be (under tmp_path, Chromium aborted); removed after."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="xlt-tmp-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def make_study(params: Path, *variables: str) -> list[str]:
    """The README's `make study PARAMS=...` for a test: on the environment the suite runs in
    (installed by whoever runs the suite: make does not check it again)."""
    return ["make", "-C", str(ROOT), "--no-print-directory", "-o", ".venv/.installed", "study",
            f"PARAMS={params}", *variables]


@pytest.fixture(scope="session", autouse=True)
def warm_kernels():
    """The notebooks the tests execute get kernels forked from one server that imported the
    stack once, as a local study run's jobs do (study/warm.py); test_warm checks that such a
    kernel gives the numbers an ordinary one gives, and tests that want an ordinary kernel
    unset STUDY_WARM_SOCKET."""
    from study import warm

    with warm.server():
        yield
