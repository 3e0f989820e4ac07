"""A one-node SLURM cluster on this machine, for the test suite and for developers.

    python tests/slurm_cluster.py start /tmp/xlt-slurm    # prints: export SLURM_CONF=...
    python tests/slurm_cluster.py status /tmp/xlt-slurm
    python tests/slurm_cluster.py stop /tmp/xlt-slurm

Debian's `slurm-wlm` and `munge` (installed with apt where root, or password-less sudo, and
apt exist: `start --install`). munged, slurmctld and slurmd run as root, each with its
socket, state, spool, pid and log files in the folder and on ports of its own, so the
machine's own munge or SLURM, if any, is left alone; `start` returns once `sinfo` shows the
node idle, and `stop` ends the three daemons by their pid files. There is no accounting
(no slurmdbd, so no `sacct`): jobs are followed with `squeue` and `scontrol`.

Clients find the cluster through SLURM_CONF, except the `srun` that Snakemake's job-step
plugin starts inside each job: it drops every SLURM_* variable it inherits. While the
cluster runs, /etc/slurm/slurm.conf (the default path) is therefore a link to its config,
where the machine has no config of its own there; `stop` removes the link.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from debian import apt

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("slurmd", "slurmctld", "munged")  # stopped in this order
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
CONF = """\
# A one-node cluster for tests (tests/slurm_cluster.py); all its files are in {folder}
ClusterName=xlt
SlurmctldHost={host}
SlurmUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={folder}/munge.socket
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# finished jobs stay visible to squeue/scontrol for 10 minutes (there is no sacct)
MinJobAge=600
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


class Unavailable(RuntimeError):
    """No cluster can be started on this machine; the message says why."""


def _missing() -> list[str]:
    return [b for b in ("munged", "slurmctld", "slurmd", "sbatch", "sinfo") if not shutil.which(b)]


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def environment(folder: Path) -> dict[str, str]:
    """What a client (sbatch, squeue, Snakemake's plugin) needs to reach this cluster."""
    return {"SLURM_CONF": str(Path(folder) / "slurm.conf")}


def _sinfo_state(folder: Path) -> str:
    done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                          env={**os.environ, **environment(folder)})
    return done.stdout.strip() if done.returncode == 0 else ""


def start(folder: Path, install: bool = False, cpus: int | None = None, memory_mb: int = 20000,
          timeout: float = 60) -> dict[str, str]:
    """Start the cluster (its files in `folder`); return its client environment."""
    if os.geteuid() != 0:
        raise Unavailable("a SLURM cluster's daemons run as root here (SlurmUser=root, slurmd), and this "
                          "process is not root")
    if _missing() and not (install and apt(*PACKAGES) and not _missing()):
        raise Unavailable(f"{', '.join(_missing())} not found, and Debian's {' and '.join(PACKAGES)} "
                          + ("could not be installed (apt)" if install else "were not installed (--install)"))
    folder = Path(folder).resolve()
    stop(folder)  # a cluster left here before
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    ctld_port, slurmd_port = _free_ports(2)
    (folder / "slurm.conf").write_text(CONF.format(
        folder=folder, host=socket.gethostname().split(".")[0], ctld_port=ctld_port, slurmd_port=slurmd_port,
        cpus=cpus or os.cpu_count() or 1, memory_mb=memory_mb))
    env = {**os.environ, **environment(folder)}
    if DEFAULT_CONF.is_symlink() and not DEFAULT_CONF.exists():
        DEFAULT_CONF.unlink()  # a link left by a cluster whose folder is gone
    if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
        raise Unavailable(f"{DEFAULT_CONF} exists (this machine has a SLURM configuration of its own): "
                          "the jobs' srun would read it, not this cluster's")
    DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
    DEFAULT_CONF.symlink_to(folder / "slurm.conf")
    key = Path("/etc/munge/munge.key")
    if not key.is_file():
        subprocess.run(["mungekey", "--create"], check=True, capture_output=True)
    daemons = {
        "munged": ["munged", "--force", f"--socket={folder}/munge.socket", f"--pid-file={folder}/munged.pid",
                   f"--log-file={folder}/munged.log", f"--seed-file={folder}/munged.seed"],
        "slurmctld": ["slurmctld"],
        "slurmd": ["slurmd"],
    }
    for name, cmd in daemons.items():  # each forks into the background and writes its pid file
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            stop(folder)
            said = (done.stdout + done.stderr)[-1000:]
            raise Unavailable(f"{name} did not start ({done.returncode}): {said}; log: {folder / name}.log")
    end = time.time() + timeout
    while (state := _sinfo_state(folder)) != "idle":
        if time.time() > end:
            stop(folder)
            raise Unavailable(f"the node is {state or 'not answering'} after {timeout:.0f} s; logs: {folder}")
        time.sleep(0.5)
    return environment(folder)


def _pid(folder: Path, name: str) -> int | None:
    try:
        return int((folder / f"{name}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop(folder: Path, timeout: float = 20) -> list[str]:
    """Stop the daemons started in `folder` (SIGTERM, then SIGKILL); return those stopped."""
    folder = Path(folder)
    stopped = []
    for name in DAEMONS:
        pid = _pid(folder, name)
        if pid is None:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            (folder / f"{name}.pid").unlink(missing_ok=True)
            continue
        end = time.time() + timeout
        while time.time() < end:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        (folder / f"{name}.pid").unlink(missing_ok=True)
        stopped.append(name)
    if DEFAULT_CONF.is_symlink() and os.readlink(DEFAULT_CONF) == str(folder.resolve() / "slurm.conf"):
        DEFAULT_CONF.unlink()
    return stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("folder", type=Path, help="where the cluster's files go")
    parser.add_argument("--install", action="store_true", help="install slurm-wlm and munge with apt")
    args = parser.parse_args(argv)
    if args.command == "start":
        try:
            env = start(args.folder, install=args.install)
        except Unavailable as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"export SLURM_CONF={env['SLURM_CONF']}")
    elif args.command == "stop":
        print("stopped: " + (", ".join(stop(args.folder)) or "nothing was running"))
    else:
        state = _sinfo_state(args.folder)
        print(f"node: {state or 'no answer'}")
        return 0 if state else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
