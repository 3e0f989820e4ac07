"""A study run by an ordinary user: no root, no apt, no browser, and nothing written
outside the study's own folder. Run as root (CI), the test creates such a user and runs as
it; run as anyone else, it runs as that user."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from study.config import load_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
USER = "xlt-study-user"


def _ordinary_user() -> tuple[int, int, Path]:
    """(uid, gid, home) of the user to run as: this one when not root; as root, a user
    created for the test (useradd), with a home of its own."""
    import pwd

    if os.geteuid() != 0:
        return os.getuid(), os.getgid(), Path.home()
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        if not shutil.which("useradd"):
            from conftest import needs_service

            needs_service("running as root, and no `useradd` to create an ordinary user to run the study as")
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True,
                       capture_output=True)
        entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid, Path(entry.pw_dir)


@contextmanager
def _reachable(*paths: Path):
    """Where a folder above the checkout or its environment is closed to other users (root's
    home, mode 0700), let others pass through it (o+x: no listing, no reading) while the
    test runs, as a researcher's own clone is theirs; the modes are restored after."""
    changed = {}
    for path in paths:
        for folder in [path, *path.parents]:
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH and folder not in changed:
                changed[folder] = mode
                folder.chmod(mode | stat.S_IXOTH)
    try:
        yield
    finally:
        for folder, mode in changed.items():
            folder.chmod(stat.S_IMODE(mode))


def test_an_ordinary_user_runs_a_study_with_the_readme_command():
    """`make study` as an ordinary user, on the suite's installed environment (read-only to
    that user) and a checkout the user cannot write to: the study runs to its summary, every
    file it writes is the user's and in its output folder, and the report is 0644 (umask 022)."""
    from conftest import make_study, write_params
    from test_kills import KILL_STUDY

    uid, gid, home = _ordinary_user()
    work = Path(tempfile.mkdtemp(prefix="xlt-user-", dir=home))
    try:
        params = write_params(work, **{**KILL_STUDY, "study": "by-a-user", "phase2": {"epochs": 1},
                                         "phase3": {"epochs": 1}})
        for path in [work, *work.rglob("*")]:
            os.chown(path, uid, gid)
        cmd = make_study(params, "CORES=2")
        env = {"HOME": str(home), "PATH": os.environ["PATH"], "HF_HUB_OFFLINE": "1", "LANG": "C.UTF-8"}
        python = Path(sys.executable)
        with _reachable(ROOT, python.parent, python.resolve(), Path(sys.base_prefix)):
            done = subprocess.run(cmd, cwd=work, env=env, user=uid, group=gid, extra_groups=[], umask=0o022,
                                  capture_output=True, text=True, timeout=600)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out[-4000:]
        assert "Permission denied" not in out and "Traceback" not in out, out[-4000:]
        study = load_config(params).study_dir
        report = study / "report.html"
        assert f"report: {report.as_uri()}" in out and "test accuracy, average over languages" in out
        assert report.stat().st_uid == uid and stat.S_IMODE(report.stat().st_mode) == 0o644
        foreign = [p for p in work.rglob("*") if p.stat().st_uid != uid]
        assert not foreign, foreign[:5]
        print(f"as uid {uid} ({home}):", *out.strip().splitlines()[-12:], sep="\n  ")
    finally:
        shutil.rmtree(work, ignore_errors=True)
