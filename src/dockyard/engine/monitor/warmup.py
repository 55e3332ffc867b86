"""A monitor launcher's warm-up: what it runs before it forks any monitor.

Every page of the launcher's objects and code that a forked monitor writes to becomes the
monitor's own copy. CPython 3.11 writes into a function's code object during its first
calls (warm-up counters, then in-place specialisation), fills lazy caches (codecs, the JSON
scanner, os.environ's encoded copy) on first use, and runs code not yet specialised through
generic lookups that write to the name strings and type caches they pass. Done here, once,
before the launcher's ``gc.freeze``, those writes land in the launcher's pages instead of in
every monitor's: ``warm_up`` runs the monitor's common paths, then rehearses whole monitor
lives (create, start, output, exit, delete) against a stand-in runtime whose container is a
forked child, with a forked driver playing the daemon.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time

from dockyard.engine.logs import LogWriter, format_timestamp
from dockyard.engine.monitor import inprocess, server
from dockyard.engine.monitor import protocol as P
from dockyard.oci import fastjson


def warm_up(scratch: str, rounds: int = 10) -> None:
    """Run the monitor's common paths a few times, then rehearse whole lives (see above).

    ``scratch`` is an empty directory it may write into (its files are removed again).
    """
    from dockyard.linux.process import set_child_subreaper
    from dockyard.runtime import cli as runtime_cli

    runtime_cli.preload()  # forked runtime commands (inprocess) find it all imported
    for _ in range(rounds):
        set_child_subreaper(False)  # (a launcher must not be one: its monitors are orphans)
    here = os.getcwd()
    os.chdir(scratch)
    try:
        for i in range(rounds):
            opts = P.MonitorOptions(
                container_id="warm-up",
                bundle=scratch,
                runtime="/bin/true",
                runtime_root=scratch,
                state_dir=scratch,
                log_path=os.path.join(scratch, "warm-up.log"),
            )
            opts = P.MonitorOptions.from_json(opts.to_json())
            server._write_atomic(P.PID_FILE, str(os.getpid()).encode())
            mon = server.Monitor(opts, -1)
            try:
                r, w = os.pipe()
                mon.watch(r, server._READ, lambda _m: None)
                os.write(w, P.encode_message({"ok": True, "pid": 1}))
                for fd, _mask in mon.sel.select(0):
                    fastjson.loads(os.read(fd, server._CHUNK).split(b"\n", 1)[0])
                mon.unwatch(r)
                server._close(r)
                server._close(w)
                log = LogWriter(opts.log_path, opts.log_max_size, opts.log_max_file)
                log.write("stdout", b"warm-up\n")
                log.close()
                format_timestamp(server._now_ns())
                mon.exit_info()
                _warm_up_connections(mon)
                if i < 2:  # a process spawn costs milliseconds: twice is enough
                    pid = mon.spawn(["/bin/true"], mon.devnull, mon.devnull, mon.devnull)
                    os.waitpid(pid, 0)
            finally:
                mon.sel.close()
                server._close(mon.devnull)
    finally:
        for name in (P.PID_FILE, "warm-up.log", _WARM_UP_SOCKET):
            server._unlink(name)
        os.chdir(here)
    for i in range(_REHEARSALS):
        _rehearse(os.path.join(scratch, f"life-{i}"))


# Whole monitor lives a launcher plays before it forks any (see _rehearse): the code a
# monitor runs once (its start-up, create, the start command) runs warm in every monitor.
_REHEARSALS = 10
_STAND_IN = "(rehearsal runtime)"
_REHEARSAL_FIFO = "start.fifo"
_REHEARSAL_SECONDS = 5
_STAND_IN_PATIENCE = 10  # seconds a stand-in container waits for its start


def _rehearse(state: str) -> None:
    """One monitor life (create, start, output, exit, delete) inside this process, against a
    stand-in runtime (``_stand_in_runtime``) whose container is a forked child that prints a
    line once started. Everything it changes is put back: cwd, signals, the subreaper flag."""
    from dockyard.linux.process import set_child_subreaper

    here = os.getcwd()
    saved = {n: signal.getsignal(n) for n in server._SERVE_SIGNALS}
    os.mkdir(state, 0o700)
    opts = P.MonitorOptions(
        container_id="rehearsal",
        bundle=state,
        runtime=_STAND_IN,
        runtime_root=state,
        state_dir=state,
        log_path=os.path.join(state, "rehearsal.log"),
        runtime_forks=True,
    )
    server._write_atomic(os.path.join(state, P.OPTIONS_FILE), opts.to_json().encode())
    os.mkfifo(os.path.join(state, _REHEARSAL_FIFO), 0o600)
    ready_r, ready_w = os.pipe()
    inprocess.stand_in = _stand_in_runtime
    driver = os.fork()
    if driver == 0:
        code = 1
        try:
            server._close(ready_w)  # (so that a launcher killed meanwhile means EOF here)
            _drive_rehearsal(state, ready_r)
            code = 0
        finally:
            _end_stand_in(state)  # whatever happened: with the container ends the life
            os._exit(code)
    driver_fd = os.pidfd_open(driver)
    server._close(ready_r)
    previous = signal.signal(signal.SIGALRM, _rehearsal_overran)
    signal.alarm(_REHEARSAL_SECONDS)
    try:
        server.run(state, ready_w)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        inprocess.stand_in = None
        os.chdir(here)
        set_child_subreaper(False)
        for n, handler in saved.items():
            signal.signal(n, handler)
        # A life cut short (the alarm) leaves the driver, or the stand-in container
        # (reparented to us, the subreaper of the moment): end and collect both.
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(driver_fd, signal.SIGKILL)
        server._close(driver_fd)
        _end_stand_in(state)
        _collect_children(time.monotonic() + _REHEARSAL_SECONDS)
        for name in os.listdir(state):
            server._unlink(os.path.join(state, name))
        os.rmdir(state)


def _end_stand_in(state: str) -> None:
    """Let the stand-in container go, if it still waits for its start."""
    try:
        fd = os.open(os.path.join(state, _REHEARSAL_FIFO), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return  # no reader: it has gone (or never came)
    try:
        os.write(fd, b"x")
    except OSError:
        pass
    finally:
        os.close(fd)


def _collect_children(deadline: float) -> None:
    """Reap every child this process has (a launcher has none of its own while it warms
    up), waiting for them until ``deadline``."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.005)


def _rehearsal_overran(_sig: int, _frame: object) -> None:
    raise server.MonitorFailure("rehearsal overran")  # ends run() (it reports, it does not hang)


def _drive_rehearsal(state: str, ready_r: int) -> None:
    """What the daemon does to a new monitor: wait for ready, queue a wait, start."""
    os.chdir(state)  # (relative socket names: a scratch path may be too long for AF_UNIX)
    if not os.read(ready_r, 4096):
        return  # the monitor failed before its ready line, or the launcher is gone
    control = P.CONTROL_SOCKET
    with (
        socket.socket(server._AF_UNIX, server._SOCK_STREAM) as waiter,
        socket.socket(server._AF_UNIX, server._SOCK_STREAM) as starter,
    ):
        waiter.settimeout(10)
        starter.settimeout(10)
        waiter.connect(control)
        waiter.sendall(P.encode_message({"cmd": "wait"}))
        starter.connect(control)
        starter.sendall(P.encode_message({"cmd": "status"}) + P.encode_message({"cmd": "start"}))
        starter.shutdown(socket.SHUT_WR)
        while starter.recv(4096):
            pass
        while waiter.recv(4096):
            pass


def _stand_in_runtime(argv: list[str]) -> None:
    """``create`` forks a container that waits on a fifo until ``start`` writes to it, then
    prints a line and exits; other commands succeed doing nothing."""
    cmd = next((a for a in argv if a in ("create", "start", "delete", "kill")), "")
    fifo = _REHEARSAL_FIFO  # (the runtime runs in the monitor's directory)
    if cmd == "create":
        pid_file = argv[argv.index("--pid-file") + 1]
        init = os.fork()
        if init == 0:
            # A launcher killed mid-rehearsal never starts it: it must not wait forever.
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(_STAND_IN_PATIENCE)
            fd = os.open(fifo, os.O_RDONLY)
            os.read(fd, 1)
            os.write(1, b"rehearsal\n")
            os._exit(0)
        server._write_atomic(pid_file, str(init).encode())
    elif cmd == "start":
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # (no reader: it is gone, fail)
        os.write(fd, b"x")
    os._exit(0)


_WARM_UP_SOCKET = "warm-up.sock"


def _warm_up_connections(mon: server.Monitor) -> None:
    """A control command and an attach handshake, through the real accept/handler paths."""
    listener = server._listen(_WARM_UP_SOCKET)
    try:
        for make, line in (
            (server.ControlConn, b'{"cmd": "status"}\n'),
            (server.Client, b'{"stdin": false, "stdout": true, "stderr": true}\n'),
        ):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
                peer.connect(_WARM_UP_SOCKET)
                mon._accept(listener, make)
                peer.sendall(line)
                for _ in range(2):
                    for fd, mask in mon.sel.select(0):
                        handler = mon.handlers.get(fd)
                        if handler is not None:
                            handler(mask)
        for c in list(mon.open_clients):
            c.close()
        mon.pending_attach.clear()
    finally:
        listener.close()
