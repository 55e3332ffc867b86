"""The daemon's side of the monitor: spawn one, or talk to an existing one by its state dir."""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import dockyard
from dockyard.engine.monitor import inprocess
from dockyard.engine.monitor import protocol as P
from dockyard.engine.monitor.protocol import MonitorOptions

__all__ = [
    "MonitorError",
    "MonitorGone",
    "MonitorHandle",
    "MonitorOptions",
    "PendingWait",
    "prestart_launcher",
    "spawn_monitor",
]

_SUN_PATH_MAX = 107
# The directory that holds the ``dockyard`` package (src/ in a checkout, site-packages else).
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))


class MonitorError(Exception):
    """The monitor or the runtime refused a request; the message is theirs (one line)."""


class MonitorGone(MonitorError):
    """No monitor answers on the state dir (it exited, or died with the machine)."""


def _tail(path: str, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


def _monitor_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=_PACKAGE_ROOT)
    # One monitor starts per container start: compiling its modules every time (no .pyc)
    # would cost tens of milliseconds on the `docker run` path.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def spawn_monitor(
    opts: MonitorOptions,
    *,
    python: str | None = None,
    timeout: float = 60.0,
    launcher_dir: str | None = None,
    use_launcher: bool = True,
) -> MonitorHandle:
    """Start a monitor for a prepared bundle; return once ``runtime create`` has succeeded.

    Raises MonitorError with the runtime's own error message when create fails.

    The monitor is forked by the launcher serving ``launcher_dir`` (default: the parent
    of ``opts.state_dir``; it is started on demand), which saves most of a Python
    process's memory per container; if no launcher can be reached it is started directly.
    """
    state = opts.state_dir
    os.makedirs(state, mode=0o700, exist_ok=True)
    for stale in (
        P.EXIT_FILE,
        P.CONTROL_SOCKET,
        P.ATTACH_SOCKET,
        P.CONSOLE_SOCKET,
        P.INIT_PID_FILE,
        P.PID_FILE,
    ):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(state, stale))
    opts.runtime_forks = inprocess.usable(opts.runtime)
    tmp = opts.path(P.OPTIONS_FILE + ".tmp")
    with open(tmp, "w") as f:
        f.write(opts.to_json())
    os.replace(tmp, opts.path(P.OPTIONS_FILE))
    python = python or sys.executable
    reply: dict[str, Any] | None = None
    launched = False
    if use_launcher:
        directory = launcher_dir or os.path.dirname(os.path.abspath(state))
        try:
            reply = _via_launcher(directory, state, python, timeout)
            launched = True
        except _NoLauncher:
            launched = False
    if not launched:
        reply = _spawn_direct(state, python, timeout, opts.path(P.MONITOR_LOG))
    if reply is None:
        detail = _tail(opts.path(P.MONITOR_LOG)).splitlines()
        raise MonitorError(
            "container monitor exited without reporting" + (f": {detail[-1]}" if detail else "")
        )
    if not reply.get("ok"):
        raise MonitorError(str(reply.get("error") or "container monitor failed"))
    return MonitorHandle(state)


class _NoLauncher(Exception):
    """No launcher could be reached or started (the caller spawns the monitor itself)."""


def _start_process(argv: list[str], log_path: str, pass_fds: tuple[int, ...] = ()) -> None:
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            pass_fds=pass_fds,
            start_new_session=True,
            cwd="/",
            env=_monitor_env(),
        )
    proc.wait()  # it forks the long-lived process and exits at once


def _via_launcher(directory: str, state: str, python: str, timeout: float) -> dict[str, Any] | None:
    from dockyard.engine.monitor.launcher import LOG, SOCKET

    path = os.path.join(directory, SOCKET)
    request = P.encode_message({"state_dir": state, "code": P.code_id(python)})
    for _attempt in range(3):
        sock = _connect_launcher(path)
        if sock is None:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            _start_process(
                [python, "-S", "-m", "dockyard.engine.monitor.launcher", directory],
                os.path.join(directory, LOG),
            )
            deadline = time.monotonic() + 10.0
            while sock is None and time.monotonic() < deadline:
                time.sleep(0.01)
                sock = _connect_launcher(path)
            if sock is None:
                raise _NoLauncher()
        with sock:
            try:
                sock.sendall(request)
                reply = _read_ready(sock.fileno(), timeout)
            except OSError:
                continue
        if reply is not None and reply.get("stale"):
            # An older launcher: it exits now; start a current one and ask again.
            time.sleep(0.05)
            continue
        return reply
    raise _NoLauncher()


def prestart_launcher(directory: str, python: str | None = None) -> None:
    """Start the launcher serving ``directory`` unless one answers already, so that the
    first monitor does not wait for an interpreter to start and import."""
    from dockyard.engine.monitor.launcher import LOG, SOCKET

    sock = _connect_launcher(os.path.join(directory, SOCKET))
    if sock is not None:
        sock.close()
        return
    os.makedirs(directory, mode=0o700, exist_ok=True)
    _start_process(
        [python or sys.executable, "-S", "-m", "dockyard.engine.monitor.launcher", directory],
        os.path.join(directory, LOG),
    )


def _connect_launcher(path: str) -> socket.socket | None:
    try:
        return connect_unix(path, timeout=5.0)
    except OSError:
        return None


def _spawn_direct(state: str, python: str, timeout: float, log_path: str) -> dict[str, Any] | None:
    ready_r, ready_w = os.pipe()
    try:
        # -S: no site (saves memory and start-up); dockyard is found through PYTHONPATH.
        _start_process(
            [python, "-S", "-m", "dockyard.engine.monitor", state, str(ready_w)],
            log_path,
            pass_fds=(ready_w,),
        )
        os.close(ready_w)
        ready_w = -1
        return _read_ready(ready_r, timeout)
    finally:
        os.close(ready_r)
        if ready_w >= 0:
            os.close(ready_w)


def _read_ready(fd: int, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise MonitorError(f"container monitor did not report within {timeout:.0f}s")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
    line = buf.split(b"\n", 1)[0]
    if not line:
        return None
    try:
        return P.decode_message(line)
    except P.ProtocolError:
        return None


def connect_unix(path: str, timeout: float | None = 10.0) -> socket.socket:
    """Connect to a unix socket, also when its path is longer than sun_path allows."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if len(os.fsencode(path)) <= _SUN_PATH_MAX:
            sock.connect(path)
        else:
            # Reach it through an fd of its directory: /proc/self/fd/N/name is short.
            dfd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY)
            try:
                sock.connect(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
            finally:
                os.close(dfd)
    except BaseException:
        sock.close()
        raise
    return sock


def _decode(line: bytes) -> dict[str, Any]:
    try:
        return P.decode_message(line)
    except P.ProtocolError as e:
        raise MonitorError(f"unexpected answer from the container monitor: {e}") from None


def _read_line(sock: socket.socket, limit: int = P.MAX_MESSAGE) -> tuple[bytes, bytes]:
    """One line from a socket, and whatever arrived after it."""
    buf = b""
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise MonitorGone("the monitor closed the connection")
        buf += chunk
        if len(buf) > limit:
            raise MonitorError("monitor reply too long")
    line, rest = buf.split(b"\n", 1)
    return line, rest


class AttachedSocket:
    """An attach stream: the socket, and any output bytes that came with the ack."""

    def __init__(self, sock: socket.socket, first: bytes, pid: int | None) -> None:
        self.sock = sock
        self.first = first
        self.pid = pid

    def fileno(self) -> int:
        return self.sock.fileno()

    def detach_socket(self) -> socket.socket:
        """Hand the socket over (e.g. to asyncio); ``first`` must be consumed by the caller."""
        return self.sock

    def read_all(self, timeout: float = 30.0) -> bytes:
        """Everything until the monitor closes the stream (tests and simple callers)."""
        self.sock.settimeout(timeout)
        chunks = [self.first]
        while chunk := self.sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> AttachedSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# How long a monitor that has closed its sockets may take to write exit.json and exit.
_EXIT_WRITE_GRACE = 2.0


def _wait_process_exit(pid: int | None, timeout: float) -> None:
    """Block until process ``pid`` exits (or ``timeout``); returns at once if it is gone."""
    if not pid or pid <= 0:
        return
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return  # gone already (or pidfds unsupported: then the caller reads what is there)
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)


class PendingWait:
    """A ``wait`` request already sent to a monitor (see ``MonitorHandle.begin_wait``)."""

    def __init__(self, handle: MonitorHandle, sock: socket.socket | None) -> None:
        self.handle = handle
        self.sock = sock

    def result(self) -> dict[str, Any]:
        """Block until the container exits; its exit.json fields (as ``MonitorHandle.wait``)."""
        sock, self.sock = self.sock, None
        if sock is None:
            return self.handle.wait()
        try:
            line, _ = _read_line(sock)
        except (OSError, MonitorGone):
            return self.handle._status_after_exit()
        finally:
            sock.close()
        reply = _decode(line)
        if not reply.get("ok"):
            raise MonitorError(str(reply.get("error") or "monitor wait failed"))
        reply.pop("ok", None)
        return reply

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class MonitorHandle:
    """Talk to the monitor of one container, by its state dir (also after a daemon restart)."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir

    def _path(self, name: str) -> str:
        return os.path.join(self.state_dir, name)

    @contextlib.contextmanager
    def _connection(self, timeout: float | None) -> Iterator[socket.socket]:
        try:
            sock = connect_unix(self._path(P.CONTROL_SOCKET), timeout=min(timeout or 10.0, 10.0))
        except OSError as e:
            raise MonitorGone(f"container monitor is not running ({e.strerror or e})") from None
        try:
            sock.settimeout(timeout)
            yield sock
        finally:
            sock.close()

    def request(self, msg: dict[str, Any], timeout: float | None = 30.0) -> dict[str, Any]:
        """Send one control command and return its answer (raises MonitorError on errors)."""
        with self._connection(timeout) as sock:
            try:
                sock.sendall(P.encode_message(msg))
                line, _ = _read_line(sock)
            except TimeoutError:
                raise MonitorError(f"monitor did not answer {msg.get('cmd')!r} in time") from None
            except OSError as e:
                raise MonitorGone(f"lost the container monitor: {e}") from None
        reply = _decode(line)
        if not reply.get("ok"):
            raise MonitorError(str(reply.get("error") or "monitor request failed"))
        return reply

    def start(self) -> dict[str, Any]:
        return self.request({"cmd": "start"})

    def kill(self, signal: int | str, *, all_processes: bool = False) -> None:
        self.request({"cmd": "kill", "signal": signal, "all": all_processes})

    def resize(self, height: int, width: int) -> None:
        self.request({"cmd": "resize", "height": height, "width": width})

    def status(self) -> dict[str, Any]:
        return self.request({"cmd": "status"})

    def exec(
        self,
        exec_id: str,
        process: dict[str, Any],
        *,
        tty: bool = False,
        stdin: bool = False,
        detach: bool = False,
    ) -> dict[str, Any]:
        return self.request(
            {
                "cmd": "exec",
                "exec_id": exec_id,
                "process": process,
                "tty": tty,
                "stdin": stdin,
                "detach": detach,
            }
        )

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self.request({"cmd": "exec_resize", "exec_id": exec_id, "height": height, "width": width})

    def exec_status(self, exec_id: str) -> dict[str, Any]:
        return self.request({"cmd": "exec_status", "exec_id": exec_id})

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the container exits; its exit.json fields.

        When the monitor is already gone the stored exit status is returned; when there is
        none either (the monitor died with the machine) MonitorGone is raised.
        """
        try:
            reply = self.request({"cmd": "wait"}, timeout=timeout)
            reply.pop("ok", None)
            return reply
        except MonitorGone:
            return self._status_after_exit()

    def begin_wait(self) -> PendingWait:
        """Send a ``wait`` now and read its answer later (``PendingWait.result``).

        Sent before ``start``, it is queued before the container can exit, so the exit
        is reported the moment it is recorded, instead of being found after the monitor
        has already closed its sockets.
        """
        try:
            sock = connect_unix(self._path(P.CONTROL_SOCKET), timeout=10.0)
        except OSError:
            return PendingWait(self, None)
        try:
            sock.sendall(P.encode_message({"cmd": "wait"}))
            sock.settimeout(None)
        except OSError:
            sock.close()
            return PendingWait(self, None)
        return PendingWait(self, sock)

    def _status_after_exit(self) -> dict[str, Any]:
        """The stored exit status of a monitor that no longer answers.

        The monitor closes its sockets just before it writes exit.json, so one that is
        still running gets a moment (woken by its exit, not polled) to finish writing.
        """
        info = self.exit_status()
        if info is not None:
            return info
        _wait_process_exit(self._monitor_pid(), _EXIT_WRITE_GRACE)
        info = self.exit_status()
        if info is not None:
            return info
        raise MonitorGone("container monitor exited without an exit status")

    def running_pid(self) -> int | None:
        """The pid of this state dir's monitor process while it runs (also after it has
        closed its sockets, while it deletes the runtime's container), else None."""
        pid = self._monitor_pid()
        if pid is None:
            return None
        try:
            # A recycled pid is not ours: our monitor's cwd is its state dir.
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return None
        return pid if cwd == os.path.realpath(self.state_dir) else None

    def wait_exited(self, timeout: float) -> bool:
        """Block until the monitor process has exited (or ``timeout``); True if it has."""
        pid = self.running_pid()
        if pid is None:
            return True
        _wait_process_exit(pid, timeout)
        return self.running_pid() is None

    def _monitor_pid(self) -> int | None:
        try:
            with open(self._path(P.PID_FILE)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        try:
            with self._connection(2.0):
                return True
        except MonitorGone:
            return False

    def exit_status(self) -> dict[str, Any] | None:
        try:
            with open(self._path(P.EXIT_FILE)) as f:
                info = json.load(f)
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    @property
    def pid(self) -> int | None:
        """The container init's host pid (as written by the runtime)."""
        try:
            with open(self._path(P.INIT_PID_FILE)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def attach(
        self,
        *,
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
        exec_id: str | None = None,
        process: dict[str, Any] | None = None,
        tty: bool = False,
        detach_keys: str | None = None,
        timeout: float | None = 30.0,
    ) -> AttachedSocket:
        """Open an attach stream (see the package docstring); returns after the monitor's ack."""
        req: dict[str, Any] = {"stdin": stdin, "stdout": stdout, "stderr": stderr}
        if exec_id is not None:
            req["exec_id"] = exec_id
        if process is not None:
            req["process"] = process
            req["tty"] = tty
        if detach_keys is not None:
            req["detach_keys"] = detach_keys
        try:
            sock = connect_unix(self._path(P.ATTACH_SOCKET), timeout=timeout)
        except OSError as e:
            raise MonitorGone(f"container monitor is not running ({e.strerror or e})") from None
        try:
            sock.sendall(P.encode_message(req))
            line, rest = _read_line(sock)
            reply = _decode(line)
            if not reply.get("ok"):
                raise MonitorError(str(reply.get("error") or "attach refused"))
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        pid = reply.get("pid")
        return AttachedSocket(sock, rest, pid if isinstance(pid, int) else None)
