"""Warm kernels (study/warm.py): forked from a process that imported the stack, they run
a notebook as an ordinary kernel would, with the job's environment, folder and threads,
and give the same numbers; without a server the job gets an ordinary kernel."""

import json
import os

import nbformat
import pytest

from study import warm
from study.runner import run_notebook

CELL = """
import os, sys
warm = "transformers" in sys.modules  # imported before this notebook ran anything
import torch
torch.manual_seed(0)
layer = torch.nn.Linear(64, 64)
opt = torch.optim.AdamW(layer.parameters(), lr=1e-2)
for _ in range(20):
    loss = layer(torch.randn(32, 64)).pow(2).mean()
    opt.zero_grad(); loss.backward(); opt.step()
import matplotlib.pyplot as plt
plt.plot([0, 1], [1, 0]); plt.show()  # an inline figure, as the report draws them
print(json.dumps({"warm": warm, "ppid": os.getppid(), "cwd": os.getcwd(),
                  "env": os.environ.get("STUDY_WARM_TEST"), "threads": torch.get_num_threads(),
                  "weights": [round(float(x), 10) for x in layer.weight.flatten()[:50]]}))
"""


def _run(tmp_path, name: str, params) -> dict:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import json\n" + CELL)],
                                  metadata={"kernelspec": {"name": "xlt-study", "language": "python",
                                                           "display_name": "Python (xlt-study)"},
                                            "language_info": {"name": "python"}})
    folder = tmp_path / "notebooks"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    done = run_notebook(path, tmp_path / name, params, {})
    out = nbformat.read(done, as_version=4).cells[-1].outputs
    result = json.loads(next(o.text for o in out if o.output_type == "stream").strip().splitlines()[-1])
    result["figures"] = sum("image/png" in o.get("data", {}) for o in out)
    return result


def test_a_warm_kernel_runs_the_notebook_as_a_cold_one_would(tmp_path, tiny_params, monkeypatch):
    monkeypatch.setenv("STUDY_WARM_TEST", "passed on")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv(warm.SOCKET, raising=False)
    cold = _run(tmp_path, "cold", tiny_params)
    with warm.server() as socket_path:
        for _ in range(300):  # the server imports the stack first, then listens
            if os.path.exists(socket_path):
                break
            import time

            time.sleep(0.2)
        hot = _run(tmp_path, "hot", tiny_params)
        again = _run(tmp_path, "again", tiny_params)
    assert not cold["warm"] and hot["warm"] and again["warm"]
    assert hot["ppid"] == again["ppid"] != cold["ppid"]  # both forked by the one server
    assert hot["cwd"] == cold["cwd"] == str(tmp_path / "notebooks")
    assert hot["env"] == cold["env"] == "passed on"
    assert hot["threads"] == cold["threads"] == 1
    assert hot["weights"] == cold["weights"]  # same numbers, to the last printed digit
    assert hot["figures"] == cold["figures"] == 1  # inline figures, as in a cold kernel
    assert warm.SOCKET not in os.environ and not os.path.exists(socket_path)


JOB = """
import gc, json, os, sys, time
warm = "transformers" in sys.modules
import huggingface_hub.constants as hub
datasets = sys.modules.get("datasets.config")
print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "warm": warm,
                  "env": os.environ.get("STUDY_WARM_TEST"), "launched": os.environ.get("STUDY_JOB_STARTED"),
                  "name": __name__, "frozen": gc.get_freeze_count(), "offline": hub.HF_HUB_OFFLINE,
                  "datasets_offline": datasets.HF_HUB_OFFLINE if datasets else None}), flush=True)
print("to stderr", file=sys.stderr)
if sys.argv[1] == "message":
    raise SystemExit("the job's own message")
if sys.argv[1] == "sleep":
    print("sleeping", flush=True)
    time.sleep(60)
sys.exit(int(sys.argv[1]))
"""


@pytest.mark.parametrize("server", ["warm", "none"])
def test_a_job_runs_as_python_dash_m_would_run_it(tmp_path, monkeypatch, server):
    """`python -m study.warm run MODULE ARGS` (the rules' command): with the session's server
    the job is forked with the stack imported, else it is an ordinary process; either way it
    gets its arguments, folder, environment (PYTHONPATH too) and streams, and its launcher
    exits with its status: its exit code, its SystemExit message, the signal it died of."""
    import signal
    import subprocess
    import sys

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "warm_job.py").write_text(JOB)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "lib"))
    monkeypatch.setenv("STUDY_WARM_TEST", "passed on")
    if server == "none":
        monkeypatch.setenv(warm.SOCKET, str(tmp_path / "no-such-socket"))

    def job(*args: str, **kw):
        return subprocess.run([sys.executable, "-m", "study.warm", "run", "warm_job", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, **kw)

    done = job("0", "a b")
    said = json.loads(done.stdout.splitlines()[0])
    assert done.returncode == 0 and done.stderr == "to stderr\n"
    assert said["argv"] == ["0", "a b"] and said["cwd"] == str(tmp_path) and said["env"] == "passed on"
    assert said["name"] == "__main__" and said["warm"] == (server == "warm")
    assert (said["launched"] is not None) == (server == "warm")  # the job's timing starts at its launcher
    # what the server imported is out of the collector's reach: no collection in a job scans it
    assert (said["frozen"] > 100_000) == (server == "warm")
    # Hugging Face's offline mode is the job's, not the one the server read when it imported
    # (the session's server started with HF_HUB_OFFLINE=1)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)  # datasets then follows HF_HUB_OFFLINE
    for value, offline in (("0", False), ("1", True)):
        monkeypatch.setenv("HF_HUB_OFFLINE", value)
        said = json.loads(job("0").stdout.splitlines()[0])
        assert said["offline"] is offline
        assert said["datasets_offline"] is (offline if server == "warm" else None)  # imported if warm
    assert job("3").returncode == 3
    failed = job("message")
    assert failed.returncode == 1 and failed.stderr.endswith("the job's own message\n")
    sleeping = subprocess.Popen([sys.executable, "-m", "study.warm", "run", "warm_job", "sleep"],
                                cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert "sleeping" in sleeping.stdout.readline() + sleeping.stdout.readline()
    sleeping.send_signal(signal.SIGTERM)
    assert sleeping.wait(30) == -signal.SIGTERM


def test_a_job_without_a_server_gets_an_ordinary_kernel(tmp_path, tiny_params, monkeypatch):
    from study.timing import ENV

    monkeypatch.setenv(warm.SOCKET, str(tmp_path / "no-such-socket"))
    monkeypatch.delenv(ENV, raising=False)
    result = _run(tmp_path, "fallback", tiny_params)
    assert not result["warm"]
    assert ENV not in os.environ  # the job's timing file is not left to later processes


def test_the_kernel_command_is_swapped_only_with_a_server(monkeypatch):
    manager = warm.kernel_manager_class()(kernel_name="xlt-study")
    manager.connection_file = "/tmp/c.json"
    monkeypatch.delenv(warm.SOCKET, raising=False)
    assert "ipykernel_launcher" in manager.format_kernel_cmd()
    monkeypatch.setenv(warm.SOCKET, "/tmp/s")
    cmd = manager.format_kernel_cmd()
    assert cmd[1:4] == ["-m", "study.warm", "kernel"] and cmd[-2:] == ["-f", os.path.realpath("/tmp/c.json")]


@pytest.mark.parametrize("argv", [[], ["serve"], ["nonsense"]])
def test_usage_is_named(argv):
    with pytest.raises(SystemExit, match="usage"):
        warm.main(argv)


def test_a_sweep_removes_the_folders_of_dead_servers_and_keeps_live_ones(tmp_path):
    """A folder is a dead server's when its socket answers no one, or, before the socket exists
    (the server still importing), when the process its pid file names is gone; a folder with
    no socket and no pid file is kept for `age` seconds (its server may be starting)."""
    import socket
    import subprocess
    import sys

    def folder(name: str, pid: int | None = None) -> str:
        path = tmp_path / f"{warm.PREFIX}{name}"
        path.mkdir()
        if pid is not None:
            (path / "pid").write_text(str(pid))
        return str(path)

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    importing = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        killed_while_importing = folder("killed", gone.pid)
        still_importing = folder("importing", importing.pid)
        starting = folder("starting")
        live = folder("live", os.getpid())
        listening.bind(os.path.join(live, "socket"))
        listening.listen()
        dead = folder("dead", os.getpid())
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(os.path.join(dead, "socket"))  # bound, never listening: nobody answers
        stale.close()
        (tmp_path / "other").mkdir()
        assert sorted(warm.sweep(str(tmp_path))) == sorted([killed_while_importing, dead])
        assert all(os.path.isdir(f) for f in (still_importing, starting, live, tmp_path / "other"))
        # after `age`, a folder still without a socket is no server's, whatever its pid file says
        assert sorted(warm.sweep(str(tmp_path), age=0)) == sorted([starting, still_importing])
    finally:
        listening.close()
        importing.kill()
        importing.wait()


def test_a_server_given_a_study_reads_its_local_splits_before_it_forks(tiny_params):
    """`serve SOCKET PARAMS` (a run's server) reads every local split the study's stages read
    (study.preflight.reads), quietly, so that the forked jobs share them (study.data.LOADED)."""
    import datasets

    from study.config import load_config
    from study.data import LOADED, load_split
    from study.preflight import reads

    LOADED.clear()
    bars = datasets.is_progress_bar_enabled()
    for _ in warm._local_splits(str(tiny_params)):
        pass
    cfg = load_config(tiny_params)
    read = reads(cfg)
    assert len(read) > 40 and len(LOADED) == len(read)
    loaded = {id(ds) for ds in LOADED.values()}
    assert all(id(load_split(task, lang, split, cfg.data)) in loaded for task, lang, split in read)
    assert datasets.is_progress_bar_enabled() == bars  # left as it was, for the forked jobs


def test_a_kernels_client_is_ready_when_it_answers_and_reads_iopub_as_before():
    """The runner's clients (warm.kernel_manager_class) finish the start-up handshake without
    jupyter_client's 0.2 s wait for silence on IOPub; the channel is its own again after it,
    and the kernel's first outputs are those of the first request."""
    import asyncio

    async def start_and_run():
        manager = warm.kernel_manager_class()(kernel_name="xlt-study")
        await manager.start_kernel()
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            assert "get_msg" not in vars(client.iopub_channel)  # the wrapper is gone
            msg_id = client.execute("print(6 * 7)")
            while True:
                msg = await client.iopub_channel.get_msg(timeout=30)
                if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                    return msg["content"]["text"]
        finally:
            client.stop_channels()
            await manager.shutdown_kernel(now=True)

    assert asyncio.run(start_and_run()) == "42\n"
