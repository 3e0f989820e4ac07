"""Debian packages for the services some tests need (a browser, a SLURM cluster), installed
where that needs no password; the study itself needs none of them."""

from __future__ import annotations

import os
import shutil
import subprocess


def apt(*packages: str) -> bool:
    """Install Debian packages where that needs no password: as root, or with sudo -n."""
    if not shutil.which("apt-get"):
        return False
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"] if shutil.which("sudo") else None
    if prefix is None:
        return False
    install = [*prefix, "apt-get", "install", "-y", "--no-install-recommends", *packages]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, capture_output=True, env=env).returncode == 0:
        return True
    subprocess.run([*prefix, "apt-get", "update"], capture_output=True, env=env)
    return subprocess.run(install, capture_output=True, env=env).returncode == 0
