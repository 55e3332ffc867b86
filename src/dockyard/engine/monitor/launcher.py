"""The monitor launcher: one idle process that forks a monitor per container.

A Python monitor started from scratch costs 5-8 MB of private memory (the interpreter and
its imports). Forked from a process that has already imported everything (and frozen its
objects with ``gc.freeze``), a monitor shares those pages copy-on-write and has only the
pages it writes to itself: about 1.3 MB, under half a containerd-shim's share.

``python -S -m dockyard.engine.monitor.launcher DIR`` serves ``DIR/monitor-launcher.sock``.
A client sends one JSON line ``{"state_dir": ..., "code": <code_id()>}``; the monitor
answers on that same connection with its ready line (see ``server.run``). When the
client's code id differs from the launcher's (dockyard was upgraded or edited), the
launcher answers ``{"ok": false, "stale": true}`` and exits so that a fresh one starts.

Two things keep a monitor's own pages few. Before it forks any, the launcher rehearses
whole monitor lives (``warmup.warm_up``), so that the code a monitor runs is already
specialised and its caches filled. And the launcher itself runs nothing between forks: it
keeps one fork waiting (the zygote), which accepts the next request, forks the monitor
(reparented away from the launcher; it calls setsid) and exits; only then does the
launcher fork the next. Any page the launcher wrote in between would be copied, and the
monitor forked before would keep the old page for itself alone.

The launcher is single-threaded; it holds an exclusive flock on
``DIR/monitor-launcher.lock`` (which holds its pid; a second launcher exits at once) and
exits after ``IDLE_SECONDS`` without requests, or soon after its directory is removed (its
waiting fork exits with it). Monitors do not depend on it once forked.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import select
import signal
import socket
import sys

from dockyard.engine import trace
from dockyard.engine.monitor import protocol as P
from dockyard.engine.monitor import server, warmup
from dockyard.linux.process import set_child_subreaper  # noqa: F401 - shared by forks
from dockyard.oci import fastjson

TYPE_CHECKING = False  # (typing stays out of the launcher's and monitors' memory)
if TYPE_CHECKING:
    from typing import NoReturn

SOCKET = "monitor-launcher.sock"
LOCK = "monitor-launcher.lock"
LOG = "monitor-launcher.log"
IDLE_SECONDS = 600.0
_CHECK_SECONDS = 15.0
_directory = "."
_REQUEST_TIMEOUT = 5.0
_STALE = 3  # a waiting fork's exit status: the request came with other code
_UNREADABLE = 4
_AF_UNIX = int(socket.AF_UNIX)
_SOCK_STREAM = int(socket.SOCK_STREAM)


def _become_monitor(state_dir: str, ready_fd: int) -> int:
    os.setsid()
    with contextlib.suppress(OSError):
        log = os.open(
            os.path.join(state_dir, P.MONITOR_LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
        )
        os.dup2(log, 2)
        os.close(log)
    return server.run(state_dir, ready_fd)


def _zygote(listener: socket.socket, lock_fd: int, launcher: int, mine: str) -> NoReturn:
    """A fork of the idle launcher that takes one request and becomes its monitor.

    The launcher forks it before any request comes and then only waits: whatever the
    launcher itself ran between two forks would be copied page by page, and the monitor
    forked before would keep each old page for itself alone. The exit status tells the
    launcher how it went (``_STALE``: a client runs other code, the launcher exits).
    """
    code = 0
    try:
        taken = _take_request(listener, os.pidfd_open(launcher), mine)
        if isinstance(taken, int):
            code = taken
        elif os.fork() == 0:  # the monitor leaves the launcher's process tree
            conn, req = taken
            listener.close()
            os.close(lock_fd)
            conn.settimeout(None)
            ready = conn.detach()  # the connection becomes the ready channel
            os.set_inheritable(ready, False)
            code = _become_monitor(str(req["state_dir"]), ready)
    except BaseException as e:
        with contextlib.suppress(BaseException):
            sys.stderr.write(f"monitor launcher: {e}\n")
        code = 1
    finally:
        os._exit(code)


def _take_request(
    listener: socket.socket, gone: int, mine: str
) -> tuple[socket.socket, dict[str, object]] | int:
    """Wait for one request: the connection and the request, or the status to exit with
    (0 once ``gone``, the launcher's pidfd, says it has exited). The launcher runs it in its
    warm-up, so that in a waiting fork it runs specialised (see warmup.py)."""
    waiting = select.poll()
    waiting.register(listener.fileno(), select.POLLIN)
    waiting.register(gone, select.POLLIN)
    for fd, _ in waiting.poll():
        if fd == gone:
            return 0  # a killed launcher: its successor serves the requests
    fd, _ = listener._accept()  # type: ignore[attr-defined]
    # (socket.accept would convert family and type to enums: more pages touched)
    conn = socket.socket(_AF_UNIX, _SOCK_STREAM, 0, fd)
    conn.settimeout(_REQUEST_TIMEOUT)
    req = _read_request(conn)
    if req is None:
        conn.close()
        return _UNREADABLE
    if req.get("code") != mine:
        conn.sendall(P.encode_message({"ok": False, "stale": True}))
        conn.close()
        return _STALE
    trace.mark("launcher: fork")
    return conn, req


def serve(directory: str) -> int:
    global _directory
    _directory = os.path.abspath(directory)
    os.chdir(directory)
    lock_fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another launcher serves this directory
    os.ftruncate(lock_fd, 0)
    os.write(lock_fd, f"{os.getpid()}\n".encode())  # who holds it, for operators and tests
    with contextlib.suppress(FileNotFoundError):
        os.unlink(SOCKET)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(SOCKET)
    os.chmod(SOCKET, 0o600)
    listener.listen(64)
    mine = P.code_id(sys.executable)
    _warm_up(mine)
    me = os.getpid()
    try:
        ino = os.stat(SOCKET).st_ino
    except FileNotFoundError:
        listener.close()
        return 0  # the directory went away while warming up: no client can reach us
    gc.collect()
    gc.freeze()  # keep the imported objects' pages shared with every forked monitor
    # The loop runs once per monitor and must write as few pages as it can (see the
    # module's docstring): local names, no clock, no poll; idle checks come by SIGALRM.
    fork, waitpid, stale = os.fork, os.waitpid, _STALE << 8
    signal.signal(signal.SIGALRM, lambda _sig, _frame: _check_idle(ino))
    signal.setitimer(signal.ITIMER_REAL, _CHECK_SECONDS, _CHECK_SECONDS)
    zygote = 0
    try:
        while True:
            zygote = fork()
            if zygote == 0:
                _zygote(listener, lock_fd, me, mine)
            _, status = waitpid(zygote, 0)
            zygote = 0
            if status == stale:
                return 0  # a client runs newer code: it starts a launcher of its own
    except _Idle:
        return 0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if zygote:
            os.kill(zygote, signal.SIGKILL)
            os.waitpid(zygote, 0)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SOCKET)
        listener.close()


class _Idle(Exception):
    """Raised by the SIGALRM handler when the launcher should exit."""


def _check_idle(ino: int) -> None:
    """Raise _Idle (from the SIGALRM handler) when the launcher should exit."""
    if not _still_ours(ino) or _waiting_since() >= IDLE_SECONDS:
        raise _Idle


def _waiting_since() -> float:
    """Seconds since the last request: the age of the waiting fork, made right after it."""
    try:
        kid = server._read_small(f"/proc/self/task/{os.getpid()}/children").split()[0]
        fields = server._read_small(f"/proc/{kid.decode()}/stat").rsplit(b")", 1)[1].split()
        uptime = float(server._read_small("/proc/uptime").split()[0])
    except (OSError, IndexError, ValueError, server.MonitorFailure):
        return 0.0  # (between a request and the next fork)
    return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _warm_up(mine: str) -> None:
    scratch = f".warm-up-{os.getpid()}"
    try:
        os.mkdir(scratch, 0o700)
        warmup.warm_up(os.path.abspath(scratch))
        _rehearse_requests(os.path.join(scratch, "requests.sock"), mine)
    except Exception as e:  # only memory is at stake: serve anyway
        sys.stderr.write(f"monitor launcher: warm-up: {e}\n")
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(scratch)


def _rehearse_requests(path: str, mine: str, rounds: int = 10) -> None:
    """``_take_request`` on requests of our own (and one stale), as a waiting fork runs it."""
    listener = socket.socket(_AF_UNIX, _SOCK_STREAM)
    alive = os.pidfd_open(os.getpid())  # (never readable: we are alive)
    try:
        listener.bind(path)
        listener.listen(1)
        for i in range(rounds):
            code = mine if i else "other"
            with socket.socket(_AF_UNIX, _SOCK_STREAM) as client:
                client.connect(path)
                client.sendall(P.encode_message({"state_dir": path, "code": code}))
                taken = _take_request(listener, alive, mine)
                if not isinstance(taken, int):
                    taken[0].close()
    finally:
        os.close(alive)
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(path)


def _still_ours(ino: int) -> bool:
    """False once our directory was removed or our socket replaced (e.g. a test's tmp dir)."""
    try:
        return os.stat(os.path.join(_directory, SOCKET)).st_ino == ino
    except OSError:
        return False


def _read_request(conn: socket.socket) -> dict[str, object] | None:
    """The request line. What the launcher runs between two forks costs memory per monitor:
    each page it writes is copied, and the monitor forked before keeps the old one for itself
    alone; hence fastjson rather than json (whose decoder, codecs detection and enum-typed
    sockets touch tens of pages)."""
    buf = b""
    while b"\n" not in buf:
        chunk = conn.recv(4096)
        if not chunk or len(buf) > P.MAX_MESSAGE:
            return None
        buf += chunk
    try:
        req = fastjson.loads(buf.split(b"\n", 1)[0])
    except ValueError:
        return None
    if not isinstance(req, dict) or not isinstance(req.get("state_dir"), str):
        return None
    return req


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m dockyard.engine.monitor.launcher DIR\n")
        return 2
    if os.fork() != 0:  # leave the spawner's process tree
        os._exit(0)
    return serve(argv[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
