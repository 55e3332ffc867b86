"""The monitor launcher: one idle process that forks a monitor per container.

A Python monitor started from scratch costs 5-8 MB of private memory (the interpreter and
its imports). Forked from a process that has already imported everything (and frozen its
objects with ``gc.freeze``), a monitor shares those pages copy-on-write and dirties about
2 MB of its own, less than a containerd-shim's share.

``python -S -m dockyard.engine.monitor.launcher DIR`` serves ``DIR/monitor-launcher.sock``.
A client sends one JSON line ``{"state_dir": ..., "code": <code_id()>}``; the launcher
forks twice (the monitor is reparented away from it and calls setsid), and the monitor
answers on that same connection with its ready line (see ``server.run``). When the
client's code id differs from the launcher's (dockyard was upgraded or edited), the
launcher answers ``{"ok": false, "stale": true}`` and exits so that a fresh one starts.

The launcher is single-threaded and does nothing but accept and fork; it holds an
exclusive flock on ``DIR/monitor-launcher.lock`` (which holds its pid; a second launcher
exits at once) and exits after ``IDLE_SECONDS`` without requests, or soon after its
directory is removed. Monitors do not depend on it once forked.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import socket
import sys
import time

from dockyard.engine import trace
from dockyard.engine.monitor import protocol as P
from dockyard.engine.monitor import server
from dockyard.linux.process import set_child_subreaper  # noqa: F401 - shared by forks

SOCKET = "monitor-launcher.sock"
LOCK = "monitor-launcher.lock"
LOG = "monitor-launcher.log"
IDLE_SECONDS = 600.0
_CHECK_SECONDS = 15.0
_directory = "."
_REQUEST_TIMEOUT = 5.0


def _become_monitor(state_dir: str, ready_fd: int) -> int:
    os.setsid()
    with contextlib.suppress(OSError):
        log = os.open(
            os.path.join(state_dir, P.MONITOR_LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
        )
        os.dup2(log, 2)
        os.close(log)
    return server.run(state_dir, ready_fd)


def _launch(listener: socket.socket, lock_fd: int, conn: socket.socket, state_dir: str) -> None:
    trace.mark("launcher: fork")
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if os.fork() == 0:
                listener.close()
                os.close(lock_fd)
                conn.settimeout(None)
                fd = conn.detach()  # the connection becomes the ready channel
                os.set_inheritable(fd, False)
                code = _become_monitor(state_dir, fd)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    conn.close()
    os.waitpid(pid, 0)


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
    _warm_up()
    gc.collect()
    gc.freeze()  # keep the imported objects' pages shared with every forked monitor
    listener.settimeout(_CHECK_SECONDS)
    ino = os.stat(SOCKET).st_ino
    idle_since = time.monotonic()
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if time.monotonic() - idle_since >= IDLE_SECONDS or not _still_ours(ino):
                    return 0
                continue
            idle_since = time.monotonic()
            try:
                conn.settimeout(_REQUEST_TIMEOUT)
                req = _read_request(conn)
                if req is None:
                    conn.close()
                    continue
                if req.get("code") != mine:
                    conn.sendall(P.encode_message({"ok": False, "stale": True}))
                    conn.close()
                    return 0
                _launch(listener, lock_fd, conn, str(req["state_dir"]))
            except OSError as e:
                sys.stderr.write(f"monitor launcher: {e}\n")
                conn.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SOCKET)
        listener.close()


def _warm_up() -> None:
    scratch = f".warm-up-{os.getpid()}"
    try:
        os.mkdir(scratch, 0o700)
        server.warm_up(os.path.abspath(scratch))
    except Exception as e:  # only memory is at stake: serve anyway
        sys.stderr.write(f"monitor launcher: warm-up: {e}\n")
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(scratch)


def _still_ours(ino: int) -> bool:
    """False once our directory was removed or our socket replaced (e.g. a test's tmp dir)."""
    try:
        return os.stat(os.path.join(_directory, SOCKET)).st_ino == ino
    except OSError:
        return False


def _read_request(conn: socket.socket) -> dict[str, object] | None:
    buf = b""
    while b"\n" not in buf:
        chunk = conn.recv(4096)
        if not chunk or len(buf) > P.MAX_MESSAGE:
            return None
        buf += chunk
    try:
        req = json.loads(buf.split(b"\n", 1)[0])
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
