"""Atomic writes (study/io.py) leave ordinary permissions: a report is meant to be shared."""

import os
import stat

import pytest

from study.io import atomic_write_text


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_an_atomic_file_gets_the_mode_open_would_give_it(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "report.html", "<html></html>")
        plain = tmp_path / "plain.html"
        plain.write_text("<html></html>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode == stat.S_IMODE(plain.stat().st_mode)
    assert path.read_text() == "<html></html>"
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary sibling left
