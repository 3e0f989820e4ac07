"""Check a study before anything of it runs: its params file, every data split it reads and
every model and dataset it needs from the Hugging Face Hub.

    python -m study.grid check params/demo.yaml     (`run` does this first)

A study runs for hours; a misspelt key, a cut-off data file or a model missing from an
offline machine must stop it at once, in one line that names the file, key or value and
says what would be accepted, before a job starts and before anything is written under
`outputs/`. Local and XTREME-layout files are read through the same loader the stages use
(`study.data.load_split`), so what passes here is what the stages will read. A local task
folder with a `MANIFEST.json` (the shipped demo data) must match its row counts and
checksums. Hub models and datasets are not downloaded here: where the Hub cannot be
reached, each must be in the local cache, and the jobs are then told to run offline
(`HF_HUB_OFFLINE=1`) rather than wait for network timeouts.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

from study.config import StudyConfig, load_config
from study.data import DataError, load_split
from study.registry import TASKS

HUB_HOST = "huggingface.co"


def reads(cfg: StudyConfig) -> list[tuple[str, str, str]]:
    """Every (task, language, split) the study's stages read, each once, in a stable order."""
    d = cfg.data
    out: list[tuple[str, str, str]] = []
    for name, target in d.targets.items():  # phase 3 trains on English, selects on English dev
        out += [(task, "en", split) for task in target.train_before for split in ("train", "dev")]
        out += [(target.train, "en", "train"), (d.selection_task(name), "en", "dev")]
    for name in d.targets:
        for task, langs in d.evaluated(name):
            out += [(task, lang, split) for lang in langs for split in ("dev", "test")
                    if split in TASKS[task].splits]
    for family in cfg.phase2_families().values():
        out += [(task, "en", "train") for task in family.data.phase2_en]
        out += [(task, lang, "train") for task in family.data.phase2_pool for lang in TASKS[task].languages]
    if d.translate_train:
        out += [(d.translate_train, lang, "train") for lang in d.translate_train_languages()]
    if cfg.model.build:  # the demo's tokenizer and MLM read every train split (study.data)
        out += [(task, lang, "train") for task in d.tasks() if "train" in TASKS[task].splits
                for lang in TASKS[task].languages]
    return list(dict.fromkeys(out))


def check_data(cfg: StudyConfig) -> int:
    """Read every local or XTREME-layout split the study uses; DataError on the first bad one.
    Returns the number of splits read."""
    import datasets
    from tqdm.auto import tqdm

    local = [r for r in reads(cfg) if cfg.data.source_of(r[0]) != "hub"]
    for task in sorted({t for t, _, _ in local if cfg.data.source_of(t) == "local"}):
        check_manifest(Path(cfg.data.local_dir) / task)
        check_language_folders(Path(cfg.data.local_dir) / task, task)
    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one bar for the check, not two per split
    try:
        for task, lang, split in tqdm(local, desc="check data", disable=len(local) < 20, leave=False):
            load_split(task, lang, split, cfg.data)
    finally:
        if shown:
            datasets.enable_progress_bars()
    return len(local)


def check_manifest(folder: Path) -> None:
    """A task folder's files against its MANIFEST.json (rows and sha256), where it has one."""
    manifest = folder / "MANIFEST.json"
    if not manifest.is_file():
        return
    try:
        files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise DataError(f"{manifest}: not a manifest ({type(exc).__name__}: {exc}); restore it "
                        "(git checkout) or regenerate the data (python -m study.demo_data)") from None
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: missing; {manifest.name} lists it ({expected['rows']} rows). "
                            "Restore it (git checkout) or regenerate the data (python -m study.demo_data)")
        blob = path.read_bytes()
        if hashlib.sha256(blob).hexdigest() != expected["sha256"]:
            rows = blob.count(b"\n")
            raise DataError(f"{path}: content differs from {manifest.name} ({rows} lines, {expected['rows']} "
                            "expected; the file was cut off or edited). Restore it (git checkout) or "
                            "regenerate the data (python -m study.demo_data)")


def check_language_folders(folder: Path, task: str) -> None:
    """Every language folder under a local task must be one of the task's languages: data in a
    misnamed folder (`deu` for `de`) would otherwise be silently left out."""
    import difflib

    if not folder.is_dir():
        return
    languages = TASKS[task].languages
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name not in languages:
            near = difflib.get_close_matches(sub.name, languages, n=1)
            raise DataError(f"{sub}: {sub.name!r} is not a language of task {task!r} "
                            + (f"(did you mean {near[0]!r}?) " if near else "")
                            + f"; its languages (study/tasks.yaml): {list(languages)}")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub answers; False at once where HF_HUB_OFFLINE says it is offline."""
    if offline():
        return False
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def hub_needs(cfg: StudyConfig) -> list[tuple[str, str]]:
    """('model' | 'dataset', Hub id) the study loads from the Hub."""
    needs = []
    if not cfg.model.build and not Path(cfg.model.name_or_path).is_dir():
        needs.append(("model", cfg.model.name_or_path))
    for task in cfg.data.tasks():
        if cfg.data.source_of(task) == "hub" and TASKS[task].hub_id:
            needs.append(("dataset", TASKS[task].hub_id))
    return list(dict.fromkeys(needs))


def offline() -> bool:
    """Whether Hugging Face's offline mode is declared now: HF_HUB_OFFLINE read as
    huggingface_hub reads it (1, ON, YES, TRUE). Read from the environment, not from
    huggingface_hub's constant, because `check` declares it after that was imported."""
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_OFFLINE", "").upper() in constants.ENV_VARS_TRUE_VALUES


def in_cache(kind: str, repo_id: str) -> bool:
    """Whether a Hub model or dataset has a snapshot in this machine's Hugging Face hub
    cache (huggingface_hub's own scan of it), or a dataset a prepared copy in datasets'."""
    from huggingface_hub import CacheNotFound, constants, scan_cache_dir

    try:
        repos = scan_cache_dir(constants.HF_HUB_CACHE).repos
    except CacheNotFound:
        repos = frozenset()
    if any(r.repo_type == kind and r.repo_id == repo_id and r.revisions for r in repos):
        return True
    if kind == "dataset":  # datasets' own cache of prepared (Arrow) data
        import datasets.config

        return (Path(datasets.config.HF_DATASETS_CACHE) / repo_id.replace("/", "___")).is_dir()
    return False


def check_hub(cfg: StudyConfig, reachable: bool | None = None) -> bool:
    """Every Hub model and dataset is reachable or cached. Returns whether the study must run
    offline (the Hub is unreachable); raises DataError naming the first thing missing."""
    needs = hub_needs(cfg)
    if not needs:
        return False
    reachable = hub_reachable() if reachable is None else reachable
    if reachable:
        return False
    from huggingface_hub import constants

    for kind, repo_id in needs:
        if not in_cache(kind, repo_id):
            key = "model.name_or_path" if kind == "model" else "data.source: local (and data.local_dir)"
            flag = " --repo-type dataset" if kind == "dataset" else ""
            raise DataError(
                f"{cfg.source_file}: {kind} {repo_id!r} is not in the local Hugging Face cache "
                f"({constants.HF_HUB_CACHE}) and the Hub ({HUB_HOST}) cannot be reached. On a "
                f"connected machine run `hf download {repo_id}{flag}` "
                f"and copy its cache here (HF_HOME), or set {key} to files on this machine")
    return True


def check(params_file: str | Path, hub: bool = True) -> tuple[StudyConfig, int]:
    """The params file, the data and (with `hub`) the Hub needs of a study: the config and
    the number of local splits read, if all is well. Sets HF_HUB_OFFLINE=1 (inherited by the
    jobs) where the Hub cannot be reached."""
    cfg = load_config(params_file)
    splits = check_data(cfg)
    if hub and check_hub(cfg):
        os.environ["HF_HUB_OFFLINE"] = "1"
    return cfg, splits
