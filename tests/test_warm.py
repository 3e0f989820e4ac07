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
        for _ in range(100):  # the server imports the stack first, then listens
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
