"""Warm kernels: notebook kernels forked from a process that has already imported the
training stack, so that a job's kernel starts in a fraction of a second instead of the
~8 s that importing torch, transformers and datasets takes in every fresh process.

`study.grid run` starts the server (`serve`) for a local run and exports its socket in
`STUDY_WARM_SOCKET`. The runner's kernel manager then launches `python -m study.warm
kernel -f <connection file>` instead of `ipykernel_launcher`: that small launcher asks the
server for a kernel, which the server forks (the child becomes an ordinary ipykernel on
the connection file, with the launcher's environment, working directory and standard
streams), and waits for it, forwarding signals. With no server (JupyterLab, a cluster
node, a server that died) the launcher execs the ordinary `ipykernel_launcher`, so a job
never depends on it. A forked kernel exits when its launcher is gone.

The workflow's jobs themselves start the same way: a rule runs `python -m study.warm run
study.runner ...` (or `study.pretrained`), and the server forks the job, so that neither the
runner's imports (papermill, the config) nor the base-model build's (torch, transformers) are
paid again by each job. The launcher forwards signals and exits with the job's exit status;
with no server it execs `python -m <module> ...` as before.

The server imports modules and reads data (URIEL's tables, the study's local splits),
nothing more: no torch operation runs before the fork, so every kernel sets up its own
thread pools (with the job's OMP_NUM_THREADS) as a fresh process would.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SOCKET = "STUDY_WARM_SOCKET"
STARTED = "STUDY_JOB_STARTED"  # a forked job's launcher start (the job's own start, in its timing)
PREFIX = "study-warm-"  # the server's folder in the temporary directory
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1)  # to the child
POLL = 0.5  # seconds between the checks that a parent is still there
# matplotlib reads its backend (MPLBACKEND, which ipykernel sets to the inline backend as
# it starts) when imported: a forked kernel sets it again (`_inline_figures`), or a
# preloaded matplotlib would draw no figures.
PRELOAD = ("torch", "datasets", "transformers", "transformers.trainer", "torch.utils.tensorboard",
           "pandas", "numpy", "scipy.stats", "statsmodels.api", "ipykernel.kernelapp",
           "ipykernel.ipkernel", "IPython.extensions.storemagic",  # what a kernel imports as it starts
           "study.config", "study.data", "study.evaluation", "study.features", "study.training",
           "study.multitask", "study.selection", "study.typology", "study.plots",
           "papermill", "jupyter_client.manager", "study.pretrained")


# ---------------------------------------------------------------- the runner's side

IOPUB_WAIT = 0.02  # seconds of silence on IOPub that end a kernel's start (jupyter_client: 0.2)


def kernel_manager_class():
    """papermill's kernel manager, launching kernels through this module when a server runs,
    and its clients ready as soon as the kernel answers (`ReadyClient`)."""
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager

    class ReadyClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout=None):
            """jupyter_client's handshake (kernel_info until a reply, and a message on IOPub),
            whose IOPub reads wait at most IOPUB_WAIT: it ends by reading IOPub until 0.2 s
            pass without a message, 0.2 s of every job's 0.45 s kernel start. What it drains
            are the start's status messages, which nbclient would skip anyway (it reads only
            the messages whose parent is its own request)."""
            channel = self.iopub_channel
            get_msg = channel.get_msg
            channel.get_msg = lambda timeout=None: get_msg(
                timeout=IOPUB_WAIT if timeout is None else min(timeout, IOPUB_WAIT))
            try:
                await super().wait_for_ready(timeout)
            finally:
                del channel.get_msg

    class WarmKernelManager(AsyncKernelManager):
        client_factory = ReadyClient

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            if os.environ.get(SOCKET) and "ipykernel_launcher" in cmd:
                return [sys.executable, "-m", "study.warm", "kernel",
                        *cmd[cmd.index("ipykernel_launcher") + 1:]]
            return cmd

    return WarmKernelManager


@contextmanager
def server(params: str | os.PathLike | None = None) -> Iterator[str]:
    """A warm-kernel server for the duration of a local run (its socket exported to the
    jobs in STUDY_WARM_SOCKET), which reads the local data of the study of `params` before
    it serves; stopped, and its socket removed, at the end."""
    import shutil
    import subprocess
    import tempfile

    sweep(tempfile.gettempdir())
    folder = tempfile.mkdtemp(prefix=PREFIX)  # short: a socket path has ~100 bytes
    path = os.path.join(folder, "socket")
    proc = subprocess.Popen([sys.executable, "-m", "study.warm", "serve", path,
                             *([str(Path(params).resolve())] if params else [])],
                            stdin=subprocess.DEVNULL)
    with open(os.path.join(folder, "pid"), "w") as f:  # a sweep tells a dead server's folder by it
        f.write(str(proc.pid))
    previous = os.environ.get(SOCKET)
    os.environ[SOCKET] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(SOCKET, None)
        else:
            os.environ[SOCKET] = previous
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def sweep(tmp: str, age: float = 600.0) -> list[str]:
    """Remove the folders of servers that are gone (killed with SIGKILL, a machine that
    went down): a socket nobody listens on, or no socket and a server process that is gone
    (killed while it imported, before it listened), or no socket after `age` seconds. Live
    servers of other runs are left alone."""
    import shutil
    import time

    removed = []
    for name in os.listdir(tmp):
        folder = os.path.join(tmp, name)
        if not name.startswith(PREFIX) or not os.path.isdir(folder):
            continue
        path = os.path.join(folder, "socket")
        try:
            if os.path.exists(path):
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    probe.connect(path)
                    continue  # someone listens: a live server (it drops a connection that asks nothing)
                except OSError:
                    pass
                finally:
                    probe.close()
            elif time.time() - os.stat(folder).st_mtime < age and _server_alive(folder):
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _server_alive(folder: str) -> bool:
    """Whether the server of a folder without a socket yet may still be importing: its pid
    file names a live process, or there is no pid file (yet)."""
    try:
        with open(os.path.join(folder, "pid")) as f:
            return _alive(int(f.read()))
    except (OSError, ValueError):
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _once(gone, then, name: str) -> None:
    """Call `then()` in a daemon thread once `gone()` is true (checked every POLL seconds)."""
    import threading
    import time

    def watch() -> None:
        while not gone():
            time.sleep(POLL)
        then()

    threading.Thread(target=watch, daemon=True, name=name).start()


def _on_parent_exit(parent: int, then) -> None:
    """Call `then()` once this process's parent is no longer `parent`."""
    _once(lambda: os.getppid() != parent, then, "parent-watch")


# ---------------------------------------------------------------- the launcher

def launch(args: list[str]) -> None:
    """Get a kernel forked by the server and wait for it; without one, be an ordinary kernel."""
    parent = os.getppid()  # the runner (its kernel manager started this launcher)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        pid, _ = _ask(sock, {"args": args, "env": dict(os.environ)})
    except (OSError, ValueError, KeyError):
        sock.close()
        os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *args])
    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f: _forward(pid, s))
    # The runner that started this launcher died without shutting its kernel down (SIGKILL;
    # a group SIGTERM never reaches this session of jupyter_client's): stop the kernel too.
    _on_parent_exit(parent, lambda: _stop(pid))
    while sock.recv(1):  # the kernel holds the other end open until it exits
        pass
    sys.exit(0)


def run(module: str, args: list[str]) -> None:
    """`python -m module args` forked by the server (the stack already imported), or exec'd as
    an ordinary process where none answers. Exits with the job's exit status (or, killed by a
    signal this launcher forwarded, by that signal, as the job would have)."""
    import time

    started = time.time()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        env = {**os.environ, STARTED: repr(started)}
        pid, reader = _ask(sock, {"module": module, "args": args, "env": env})
    except (OSError, ValueError, KeyError):  # no server, or one of another Python
        sock.close()
        os.execv(sys.executable, [sys.executable, "-m", module, *args])
    forwarded = []

    def forward(sig: int, _frame) -> None:
        forwarded.append(sig)
        _forward(pid, sig)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    status = reader.read()  # the job writes its exit status, then the socket closes with it
    if status.strip().isdigit():
        sys.exit(int(status))
    if forwarded:  # it died of the signal: so does this process, for whoever waits on it
        signal.signal(forwarded[-1], signal.SIG_DFL)
        os.kill(os.getpid(), forwarded[-1])
    sys.stderr.write(f"study.warm: {module} (pid {pid}) ended without an exit status (killed)\n")
    sys.exit(1)


def _ask(sock: socket.socket, request: dict):
    """Ask the run's server to fork a child for `request` (this launcher's folder, pid and
    Python added) with this process's streams: the child's pid, and the reader of its socket."""
    _connect(sock)
    request = {**request, "cwd": os.getcwd(), "launcher": os.getpid(), "python": sys.executable}
    socket.send_fds(sock, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
    reader = sock.makefile("r")
    return int(json.loads(reader.readline())["pid"]), reader


def _connect(sock: socket.socket, limit: float = 60.0) -> None:
    """Connect to the run's server; one that is still importing the stack (its folder and
    live pid there, no socket yet) is waited for, as it is sooner ready than a cold start."""
    import time

    path = os.environ.get(SOCKET) or ""
    pid = os.path.join(os.path.dirname(path), "pid")  # written before the socket is exported
    deadline = time.time() + limit
    while path and not os.path.exists(path) and os.path.isfile(pid) and time.time() < deadline \
            and _server_alive(os.path.dirname(path)):
        time.sleep(0.1)
    sock.connect(path)


def _stop(pid: int, grace: float = 3.0) -> None:
    import time

    _forward(pid, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline:
        if not _alive(pid):
            break
        time.sleep(0.1)
    else:
        _forward(pid, signal.SIGKILL)
    os._exit(1)


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        sys.exit(0)


# ---------------------------------------------------------------- the server

def serve(path: str, params: str | None = None) -> None:
    """Import the stack once, then fork a kernel or a job for each launcher that asks; while
    none asks, read the data the jobs share (`_shared_data`), a piece at a time."""
    import importlib
    import select

    sys.modules.setdefault("rfc3987_syntax", None)  # as the runner does without it (study/runner.py)
    for module in PRELOAD:
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None and getattr(pyplot, "_backend_mod", None) is not None:
        # a backend chosen before the fork: kernels would have no inline figures; serve none
        raise SystemExit("study.warm: a preloaded module chose a matplotlib backend; no warm kernels")
    # What the server imported lives as long as every child: out of the collector's reach
    # (gc.freeze), a child's collections scan only its own objects. One full collection over
    # the imports took 0.29 s, and transformers and accelerate ask for one in every job; it
    # also wrote to every page it scanned, each then copied out of the shared memory.
    gc.collect()
    gc.freeze()
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path + ".tmp")
    os.rename(path + ".tmp", path)  # launchers see the socket only once it listens
    server.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked kernels are reaped automatically
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # a stopped run: leave quietly, at once
        signal.signal(sig, lambda *_: _leave(path))
    # `study.grid run` killed outright cannot stop this server: it leaves, with its folder
    _on_parent_exit(os.getppid(), lambda: _leave(path))
    steps = _shared_data(params)
    while True:
        if steps and not select.select([server], [], [], 0)[0]:  # nobody waits: read a piece
            try:
                next(steps)
            except StopIteration:
                steps = None
                gc.freeze()  # the data read, shared by every later child as the imports are
            except Exception:  # noqa: BLE001 - the jobs then read it themselves, as cold ones do
                steps = None
            continue
        conn, _ = server.accept()
        try:
            msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
            request = json.loads(msg.split(b"\n", 1)[0])
        except (OSError, ValueError):
            conn.close()
            continue
        if request.get("python", sys.executable) != sys.executable:  # another environment's launcher
            conn.sendall(json.dumps({"refused": f"this server runs {sys.executable}"}).encode() + b"\n")
            conn.close()
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            server.close()
            (_become_job if "module" in request else _become_kernel)(request, fds, conn)
        for fd in fds:
            os.close(fd)
        try:
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        finally:
            conn.close()  # the child keeps its copy open until it exits


def _shared_data(params: str | None) -> Iterator[None]:
    """Read-only data every job would read alike, a piece per step (the server serves any
    launcher between two), shared by the children forked after it: URIEL's feature tables
    (1.5 s of the selection and of each phase-2 job that ranks languages), the files each
    stage's fingerprint reads (0.1-0.2 s of each job: its imports, parsed; the run's
    Snakemake found the same ones as it started, and their contents are still read by each
    job) and, given the study's params, each of its local data splits (study.data.LOADED:
    0.3 s of each phase-3 job, 0.3 s of each phase-2 job). Hub data is not read here: the
    server must never wait on the network."""
    from study import fingerprints, typology
    from study.jobgraph import STAGES

    typology.uriel()
    yield
    for stage in STAGES:
        fingerprints.code_files(stage)
    yield
    if params:
        yield from _local_splits(params)


def _local_splits(params: str) -> Iterator[None]:
    import datasets

    from study.config import load_config
    from study.data import load_split
    from study.preflight import reads

    cfg = load_config(params)
    for task, lang, split in reads(cfg):
        if cfg.data.source_of(task) == "local":
            shown = datasets.is_progress_bar_enabled()
            datasets.disable_progress_bars()  # the server's output is the run's terminal
            try:
                load_split(task, lang, split, cfg.data)
            finally:
                if shown:
                    datasets.enable_progress_bars()
            yield


def _inline_figures() -> None:
    """What a matplotlib imported in this kernel would have read: MPLBACKEND, which
    ipykernel sets to its inline backend where the environment names none."""
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is not None:
        matplotlib.rcParams["backend"] = os.environ.setdefault(
            "MPLBACKEND", "module://matplotlib_inline.backend_inline")


def _leave(path: str) -> None:
    import shutil

    shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    os._exit(0)


def _adopt(request: dict, fds: list[int], conn: socket.socket) -> None:
    """In a forked child: the launcher's streams, environment and folder, the signal
    dispositions of a fresh process, its thread count; gone when the launcher is gone."""
    os.setsid()  # a session of its own (as jupyter_client gives kernels): signals come through the launcher
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()
    os.environ.update(request["env"])
    _offline_mode()
    os.chdir(request["cwd"])
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads))
    _exit_with(request["launcher"], conn)


def _offline_mode() -> None:
    """Hugging Face's offline mode as the child's environment declares it: huggingface_hub and
    datasets read HF_HUB_OFFLINE (HF_DATASETS_OFFLINE) once, when the server imported them, and
    the server may have started before the preflight found the Hub unreachable and set it."""
    hub, datasets = sys.modules.get("huggingface_hub.constants"), sys.modules.get("datasets.config")
    if hub is None:
        return
    true = hub.ENV_VARS_TRUE_VALUES
    hub.HF_HUB_OFFLINE = (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
                          or "").upper() in true
    if datasets is not None:
        own = os.environ.get("HF_DATASETS_OFFLINE")
        datasets.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE if own is None else own.upper() in true
        datasets.HF_DATASETS_OFFLINE = datasets.HF_HUB_OFFLINE


def _become_job(request: dict, fds: list[int], conn: socket.socket) -> None:
    """In the forked child: `python -m <module> <args>` as the launcher's process would run
    it; its exit status goes back to the launcher."""
    import atexit
    import runpy
    import traceback

    code = 1
    try:
        _adopt(request, fds, conn)
        sys.argv = [request["module"], *request["args"]]
        # as `python -m` builds it: the folder first, then the job's PYTHONPATH
        extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]
        sys.path[:1] = [os.getcwd(), *extra]
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - the child must never return into the server's loop
        traceback.print_exc()
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        conn.sendall(f"{code}\n".encode())
    finally:
        os._exit(code)


def _become_kernel(request: dict, fds: list[int], conn: socket.socket) -> None:
    """In the forked child: the launcher's streams, environment and folder, then ipykernel."""
    try:
        _adopt(request, fds, conn)
        _inline_figures()
        sys.argv = ["ipykernel_launcher", *request["args"]]
        from ipykernel.kernelapp import launch_new_instance

        launch_new_instance()
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 0)
    except BaseException:  # noqa: BLE001 - the child must never return into the server's loop
        import traceback

        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def _exit_with(launcher: int, conn: socket.socket) -> None:
    """Leave when the launcher is gone (jupyter_client kills the launcher, not the fork)."""
    conn.setblocking(True)  # held open: the launcher reads EOF when this process ends
    _once(lambda: not _alive(launcher), lambda: os._exit(1), "launcher-watch")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"] and len(argv) in (2, 3):
        serve(*argv[1:])
    elif argv[:1] == ["kernel"]:
        launch(argv[1:])
    elif argv[:1] == ["run"] and len(argv) >= 2:
        run(argv[1], argv[2:])
    else:
        raise SystemExit("usage: python -m study.warm serve SOCKET [PARAMS] | kernel -f CONNECTION_FILE | "
                         "run MODULE [ARG ...]")


if __name__ == "__main__":
    main()
