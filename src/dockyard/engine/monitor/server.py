"""The monitor process: owns one container's stdio, log, exec sessions and exit status.

Started as ``python -m dockyard.engine.monitor STATE_DIR READY_FD`` by
:func:`dockyard.engine.monitor.client.spawn_monitor` (see the package docstring for the
protocol). It forks once more so the daemon is not its parent, becomes a child subreaper
(the container's init is orphaned when ``runtime create`` exits and must be reparented to
us so that we can collect its exit status), runs ``runtime create``, reports on READY_FD,
then serves the control and attach sockets from one single-threaded selector loop.

Children are reaped only by the SIGCHLD handler's ``waitpid(-1)`` loop; runtime commands
are started with ``os.posix_spawn`` (never ``subprocess``, which would race that loop).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable

from dockyard.engine import trace
from dockyard.engine.logs import LogWriter, format_timestamp
from dockyard.engine.monitor import inprocess
from dockyard.engine.monitor import protocol as P
from dockyard.oci import fastjson

TYPE_CHECKING = False  # keeps typing out of the monitor's memory (mypy: always true)
if TYPE_CHECKING:
    import signal as _signal
    from typing import Any
else:
    import _signal  # (no enum conversions: see serve)

_READ = 1
_WRITE = 2
_SERVE_SIGNALS = (_signal.SIGCHLD, _signal.SIGINT, _signal.SIGHUP, _signal.SIGTERM, _signal.SIGQUIT)
_AF_UNIX = int(socket.AF_UNIX)
_SOCK_STREAM = int(socket.SOCK_STREAM)


class _Poller:
    """epoll with the selectors module's masks (_READ, _WRITE; a hang-up or error reports
    both) and none of its Python-level bookkeeping: every page of code and objects a
    monitor touches after its fork becomes its own private copy."""

    def __init__(self) -> None:
        self._ep = select.epoll()

    @staticmethod
    def _events(mask: int) -> int:
        return (select.EPOLLIN if mask & _READ else 0) | (select.EPOLLOUT if mask & _WRITE else 0)

    def register(self, fd: int, mask: int) -> None:
        self._ep.register(fd, self._events(mask))

    def modify(self, fd: int, mask: int) -> None:
        self._ep.modify(fd, self._events(mask))

    def unregister(self, fd: int) -> None:
        try:  # noqa: SIM105 (see _close)
            self._ep.unregister(fd)
        except OSError:
            pass  # already closed: the kernel dropped it

    def select(self, timeout: float | None) -> list[tuple[int, int]]:
        ready = []
        for fd, ev in self._ep.poll(-1 if timeout is None else timeout):
            mask = 0
            if ev & ~select.EPOLLIN:
                mask |= _WRITE
            if ev & ~select.EPOLLOUT:
                mask |= _READ
            ready.append((fd, mask))
        return ready

    def close(self) -> None:
        self._ep.close()


_CHUNK = 65536
_MAX_CLIENT_BACKLOG = 8 * 1024 * 1024  # a reader this far behind is dropped
_MAX_STDIN_BACKLOG = 1024 * 1024  # above this, stop reading clients' stdin
_MAX_HANDSHAKE = 64 * 1024
_MAX_FINISHED_EXECS = 128
_MAX_UNCLAIMED = 1024
_CONSOLE_TIMEOUT = 5.0
_FLUSH_SECONDS = 60.0  # how long clients may take to read the last output after the exit

Handler = Callable[[int], None]


def _ignore(_sig: int, _frame: object) -> None:
    return None


class MonitorFailure(Exception):
    """Something the monitor cannot go on without (reported on the ready pipe)."""


def _now_ns() -> int:
    return time.time_ns()


def _set_nonblocking(fd: int) -> None:
    os.set_blocking(fd, False)


# (try/except, not contextlib.suppress, on paths every monitor runs: fewer pages touched)
def _close(fd: int) -> None:
    if fd >= 0:
        try:  # noqa: SIM105
            os.close(fd)
        except OSError:
            pass


def _unlink(path: str) -> None:
    try:  # noqa: SIM105
        os.unlink(path)
    except FileNotFoundError:
        pass


def _read_small(path: str, limit: int = 1 << 20) -> bytes:
    """A small file's bytes, without the text-file machinery (``open()`` in text mode costs a
    forked monitor private pages: codecs, decoders, io objects)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise MonitorFailure(f"{path}: larger than {limit} bytes")
    return data


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _listen(name: str) -> socket.socket:
    s = socket.socket(_AF_UNIX, _SOCK_STREAM)
    try:  # relative to the state dir (our cwd): no 108-byte sun_path limit
        s.bind(name)
    except OSError:  # a leftover (not an unlink first: an exception costs a monitor pages)
        _unlink(name)
        s.bind(name)
    os.chmod(name, 0o600)
    s.listen(64)
    s.setblocking(False)
    return s


def _socket_arg(name: str) -> str:
    """A path the runtime can dial for our socket ``name`` (it chdirs to the bundle first)."""
    full = os.path.join(os.getcwd(), name)
    if len(os.fsencode(full)) <= 107:
        return full
    return f"/proc/{os.getpid()}/cwd/{name}"  # our cwd is the state dir


def _receive_console(listener: socket.socket) -> int:
    """Accept the runtime's connection on a console socket and take the pty master it sent."""
    listener.settimeout(_CONSOLE_TIMEOUT)
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        raise MonitorFailure("the runtime did not send the console (pty master)") from None
    with conn:
        conn.settimeout(_CONSOLE_TIMEOUT)
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
    if not fds:
        raise MonitorFailure("no file descriptor received on the console socket")
    for extra in fds[1:]:
        _close(extra)
    os.set_inheritable(fds[0], False)
    return fds[0]


def _runtime_error(log_path: str, offset: int, stderr_text: str, status: int) -> str:
    """The runtime's own last error message: from its JSON log, else its stderr."""
    last = ""
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            for raw in f.read(1 << 20).splitlines():
                try:
                    rec = fastjson.loads(raw)
                except ValueError:
                    continue
                if isinstance(rec, dict) and rec.get("level") in ("error", "fatal"):
                    last = str(rec.get("msg", ""))
    except OSError:
        pass
    if not last:
        lines = [ln.strip() for ln in stderr_text.splitlines() if ln.strip()]
        last = lines[-1] if lines else ""
    return last or f"runtime exited with {P.exit_code_from_status(status)}"


class Sink:
    """A non-blocking writer to a process's stdin with a bounded backlog."""

    def __init__(self, mon: Monitor, fd: int, is_tty: bool) -> None:
        self.mon = mon
        self.fd = fd
        self.is_tty = is_tty
        self.buf = bytearray()
        self.closed = False
        self.close_when_drained = False
        _set_nonblocking(fd)

    @property
    def full(self) -> bool:
        return len(self.buf) >= _MAX_STDIN_BACKLOG

    def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        self.buf += data
        self._flush()

    def _flush(self) -> None:
        while self.buf and not self.closed:
            try:
                n = os.write(self.fd, self.buf)
            except BlockingIOError:
                break
            except OSError:
                # The reader went away (process exited): what is left cannot be delivered.
                self.buf.clear()
                self.close()
                return
            del self.buf[:n]
        if self.closed:
            return
        if self.buf:
            self.mon.watch(self.fd, _WRITE, self._on_writable)
        else:
            self.mon.unwatch(self.fd)
            if self.close_when_drained:
                self.close()
        self.mon.update_clients()

    def _on_writable(self, _mask: int) -> None:
        self._flush()

    def close_input(self) -> None:
        """EOF for the reader once the backlog is written (never for a pty: it is shared)."""
        if self.is_tty:
            return
        if self.buf:
            self.close_when_drained = True
        else:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.mon.unwatch(self.fd)
            _close(self.fd)
            self.buf.clear()


class Client:
    """One attach connection: handshake line, then frames (or raw bytes) out, stdin in."""

    def __init__(self, mon: Monitor, sock: socket.socket) -> None:
        self.mon = mon
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = b""
        self.outbuf = bytearray()
        self.target: Session | None = None
        self.handshaken = False
        self.acked = False  # output is held back until the handshake answer has been sent
        self.preack = bytearray()
        self.want_stdin = self.want_stdout = self.want_stderr = False
        self.reading = True
        self.closed = False
        self.close_after_flush = False
        self.scanner = P.DetachScanner(b"")
        self.detach_keys = b""
        mon.open_clients.add(self)
        sock.setblocking(False)
        self.update_interest()

    def update_interest(self) -> None:
        if self.closed:
            return
        paused = (
            self.handshaken
            and self.target is not None
            and self.target.sink is not None
            and self.target.sink.full
        )
        mask = (_READ if self.reading and not paused else 0) | (_WRITE if self.outbuf else 0)
        if mask:
            self.mon.watch(self.fd, mask, self._on_event)
        else:
            self.mon.unwatch(self.fd)

    def _on_event(self, mask: int) -> None:
        if mask & _WRITE:
            self._flush()
        if mask & _READ and not self.closed:
            self._on_readable()

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        if not data:
            self._on_input_eof()
            return
        if not self.handshaken:
            self.inbuf += data
            nl = self.inbuf.find(b"\n")
            if nl < 0:
                if len(self.inbuf) > _MAX_HANDSHAKE:
                    self.fail("attach request line too long")
                return
            line, rest = self.inbuf[:nl], self.inbuf[nl + 1 :]
            self.inbuf = b""
            self.mon.handshake(self, line)
            if rest and not self.closed:
                self.on_stdin(rest)
            return
        self.on_stdin(data)

    def on_stdin(self, data: bytes) -> None:
        if not self.want_stdin or self.target is None:
            return
        data, detached = self.scanner.feed(data)
        sink = self.target.sink
        if sink is not None and data:
            sink.write(data)
        if detached:
            self.close_after_flush = True
            self.reading = False
            self._flush()

    def _on_input_eof(self) -> None:
        self.reading = False
        if not self.handshaken:
            self.close()
            return
        if self.target is not None and self.want_stdin:
            self.target.stdin_closed_by(self)
        if not (self.want_stdout or self.want_stderr):
            self.close_after_flush = True
        self._flush()

    def ack(self, msg: dict[str, Any]) -> None:
        """Answer the handshake, then release the output that arrived meanwhile."""
        self.acked = True
        held = bytes(self.preack)
        self.preack.clear()
        self.send(P.encode_message(msg) + held)

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        if not self.acked:
            if len(self.preack) + len(data) > _MAX_CLIENT_BACKLOG:
                self.close()
                return
            self.preack += data
            return
        if not data:
            self._flush()
            return
        if len(self.outbuf) + len(data) > _MAX_CLIENT_BACKLOG:
            self.close()  # too slow a reader; the log keeps the output
            return
        self.outbuf += data
        self._flush()

    def _flush(self) -> None:
        while self.outbuf and not self.closed:
            try:
                n = self.sock.send(self.outbuf)
            except BlockingIOError:
                break
            except OSError:
                self.close()
                return
            del self.outbuf[:n]
        if self.closed:
            return
        if not self.outbuf and self.close_after_flush:
            self.close()
            return
        self.update_interest()

    def finish(self) -> None:
        """The stream has ended: close once everything buffered has been delivered."""
        if self.closed:
            return
        self.reading = False
        self.close_after_flush = True
        self._flush()

    def fail(self, message: str) -> None:
        self.outbuf += P.encode_message({"ok": False, "error": message})
        self.close_after_flush = True
        self.reading = False
        self._flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.mon.open_clients.discard(self)
        self.mon.unwatch(self.fd)
        if self.target is not None:
            self.target.detach_client(self)
        self.sock.close()


class ControlConn(Client):
    """A control connection: every line is a command, answered by one line."""

    def __init__(self, mon: Monitor, sock: socket.socket) -> None:
        super().__init__(mon, sock)
        self.handshaken = True
        self.acked = True
        self.pending = 0

    def on_stdin(self, data: bytes) -> None:
        self.mon._control_data(self, data)

    def _on_input_eof(self) -> None:
        self.reading = False
        if self.pending <= 0:
            self.close_after_flush = True
        self._flush()


class Session:
    """A process whose stdio we hold: the container's init or one exec."""

    def __init__(self, mon: Monitor, name: str, tty: bool, stdin: bool, stdin_once: bool) -> None:
        self.mon = mon
        self.name = name
        self.tty = tty
        self.stdin = stdin
        self.stdin_once = stdin_once
        self.pid = 0
        self.status: int | None = None
        self.exit_code: int | None = None
        self.clients: list[Client] = []
        self.sink: Sink | None = None
        self.master = -1
        self.outputs: dict[int, str] = {}  # fd → "stdout" | "stderr"
        self.drain_deadline: float | None = None
        self.log: LogWriter | None = None
        self.log_failed = False
        self.stdin_once_done = False

    # -- output
    def add_output(self, fd: int, stream: str) -> None:
        _set_nonblocking(fd)
        self.outputs[fd] = stream
        self.mon.watch(fd, _READ, lambda _mask: self._on_output(fd))

    def _on_output(self, fd: int) -> None:
        stream = self.outputs[fd]
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: the pty's last slave fd was closed
                self.mon.note(f"read {self.name} {stream}: {e}")
            data = b""
        if not data:
            self.mon.unwatch(fd)
            del self.outputs[fd]
            _close(fd)
            if fd == self.master:
                self.master = -1
            if self.log is not None:
                with contextlib.suppress(OSError):  # a full disk must not stop us
                    self.log.flush(stream)
            self.mon.check_sessions()
            return
        if self.log is not None:
            try:
                self.log.write(stream, data)
            except OSError as e:
                # A full disk must not stop the container's output from reaching clients
                # (nor block the container): note it once and go on.
                if not self.log_failed:
                    self.mon.note(f"cannot write the log {self.log.path}: {e}")
                self.log_failed = True
        if self.tty:
            for c in list(self.clients):
                if c.want_stdout:
                    c.send(data)
        else:
            frame = P.encode_frame(P.STDOUT if stream == "stdout" else P.STDERR, data)
            want = "want_stdout" if stream == "stdout" else "want_stderr"
            for c in list(self.clients):
                if getattr(c, want):
                    c.send(frame)

    @property
    def drained(self) -> bool:
        return not self.outputs or (
            self.drain_deadline is not None and time.monotonic() >= self.drain_deadline
        )

    def close_outputs(self) -> None:
        for fd in list(self.outputs):
            self.mon.unwatch(fd)
            _close(fd)
            if fd == self.master:
                self.master = -1
        self.outputs.clear()
        if self.log is not None:
            with contextlib.suppress(OSError):  # a full disk must not stop us
                self.log.flush()

    # -- clients
    def attach_client(self, c: Client) -> None:
        c.target = self
        # As Docker: the detach sequence only applies to a terminal; without one, stdin
        # is data and every byte value must pass.
        c.scanner = P.DetachScanner(c.detach_keys if self.tty and c.want_stdin else b"")
        self.clients.append(c)

    def detach_client(self, c: Client) -> None:
        if c in self.clients:
            self.clients.remove(c)
            if c.want_stdin:
                self.stdin_closed_by(c)

    def stdin_closed_by(self, c: Client) -> None:
        """Docker's StdinOnce: the first attached stdin that ends closes the process's stdin."""
        if self.sink is None or self.stdin_once_done:
            return
        if self.stdin_once:
            self.stdin_once_done = True
            self.sink.close_input()

    def finish_clients(self) -> None:
        for c in list(self.clients):
            c.finish()
        self.clients.clear()

    @property
    def running(self) -> bool:
        return self.pid > 0 and self.status is None


class Exec(Session):
    def __init__(self, mon: Monitor, exec_id: str, tty: bool, stdin: bool) -> None:
        # Docker closes an exec's stdin when the attached client's input ends.
        super().__init__(mon, f"exec {exec_id}", tty, stdin, stdin_once=True)
        self.exec_id = exec_id
        self.starting = True
        self.error: str | None = None
        self.finished = False


class Monitor:
    def __init__(self, opts: P.MonitorOptions, ready_fd: int) -> None:
        self.opts = opts
        self.ready_fd = ready_fd
        self.sel = _Poller()
        self.handlers: dict[int, Handler] = {}
        self.children: dict[int, Callable[[int], None]] = {}
        self.unclaimed: dict[int, int] = {}
        self.runtime_pids: set[int] = set()  # runtime commands still running
        self.exit_grace: float | None = None
        self.init = Session(self, "init", opts.tty, opts.stdin, opts.stdin_once)
        self.execs: dict[str, Exec] = {}
        self.pending_attach: dict[str, list[Client]] = {}
        self.pending_sizes: dict[str, tuple[int, int]] = {}
        self.waiters: list[Client] = []
        self.listeners: list[socket.socket] = []
        self.open_clients: set[Client] = set()
        self.flush_deadline: float | None = None
        self.started = False
        self.started_at: int | None = None
        self.finished_at: int | None = None
        self.oom_killed = False
        self.done = False
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.fork_runtime = opts.runtime_forks

    # -- plumbing
    def release(self) -> None:
        """Close every descriptor we hold (a launcher rehearsing lives keeps running)."""
        self.close_listeners()
        for c in list(self.open_clients):
            c.close()
        for session in (self.init, *self.execs.values()):
            session.close_outputs()
            if session.sink is not None:
                session.sink.close()
            if session.log is not None:
                with contextlib.suppress(OSError):  # (a full disk: nothing more to do)
                    session.log.close()
        self.sel.close()
        _close(self.devnull)

    def note(self, msg: str) -> None:
        sys.stderr.write(f"{format_timestamp(_now_ns())} monitor {self.opts.container_id}: {msg}\n")
        sys.stderr.flush()

    def watch(self, fd: int, mask: int, handler: Handler) -> None:
        if fd in self.handlers:
            self.sel.modify(fd, mask)
        else:
            self.sel.register(fd, mask)
        self.handlers[fd] = handler

    def unwatch(self, fd: int) -> None:
        if self.handlers.pop(fd, None) is not None:
            self.sel.unregister(fd)

    def update_clients(self) -> None:
        for s in [self.init, *self.execs.values()]:
            for c in list(s.clients):
                c.update_interest()

    def runtime_argv(self, *args: str) -> list[str]:
        o = self.opts
        return [
            o.runtime,
            "--root",
            o.runtime_root,
            "--log",
            o.path(P.RUNTIME_LOG),
            "--log-format",
            "json",
            *o.runtime_args,
            *args,
        ]

    def spawn(self, argv: list[str], stdin: int, stdout: int, stderr: int) -> int:
        if self.fork_runtime and argv[0] == self.opts.runtime:
            return inprocess.fork_command(argv, stdin, stdout, stderr)
        actions = [
            (os.POSIX_SPAWN_DUP2, stdin, 0),
            (os.POSIX_SPAWN_DUP2, stdout, 1),
            (os.POSIX_SPAWN_DUP2, stderr, 2),
        ]
        # Python ignores SIGPIPE; the runtime and the container must get default dispositions.
        sigdef = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGINT, signal.SIGTERM)
        return os.posix_spawn(
            argv[0], argv, dict(os.environ), file_actions=actions, setsigdef=sigdef, setsigmask=()
        )

    def log_offset(self) -> int:
        path = self.opts.path(P.RUNTIME_LOG)
        if not os.access(path, os.F_OK):  # (before the first command: no exception raised,
            return 0  # whose objects would cost a monitor private pages)
        try:
            return os.stat(path).st_size
        except FileNotFoundError:
            return 0

    def on_runtime_exit(self, pid: int, cb: Callable[[int], None]) -> None:
        """Like on_child, for a runtime command we must hear the end of before exiting."""
        self.runtime_pids.add(pid)

        def done(status: int) -> None:
            self.runtime_pids.discard(pid)
            cb(status)

        self.on_child(pid, done)

    def on_child(self, pid: int, cb: Callable[[int], None]) -> None:
        if pid in self.unclaimed:
            cb(self.unclaimed.pop(pid))
        else:
            self.children[pid] = cb

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            cb = self.children.pop(pid, None)
            if cb is not None:
                cb(status)
            elif len(self.unclaimed) < _MAX_UNCLAIMED:
                self.unclaimed[pid] = status

    def run_sync(self, argv: list[str], stderr: int | None = None) -> tuple[int, str]:
        """Run a runtime command to completion (only before the loop or at the very end)."""
        offset = self.log_offset()
        pid = self.spawn(
            argv, self.devnull, self.devnull, self.devnull if stderr is None else stderr
        )
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except ChildProcessError:
                status = self.unclaimed.pop(pid, 255 << 8)
                break
        if status == 0:
            return 0, ""
        return status, _runtime_error(self.opts.path(P.RUNTIME_LOG), offset, "", status)

    # -- create
    def create(self) -> None:
        o = self.opts
        child_fds: list[int] = []
        console = _listen(P.CONSOLE_SOCKET) if o.tty else None
        err_r, err_w = os.pipe()
        try:
            if o.tty:
                stdio = (self.devnull, self.devnull, err_w)
            else:
                out_r, out_w = os.pipe()
                cerr_r, cerr_w = os.pipe()
                self.init.add_output(out_r, "stdout")
                self.init.add_output(cerr_r, "stderr")
                if o.stdin:
                    in_r, in_w = os.pipe()
                    self.init.sink = Sink(self, in_w, False)
                    child_fds.append(in_r)
                else:
                    in_r = self.devnull
                child_fds += [out_w, cerr_w]
                stdio = (in_r, out_w, cerr_w)
            argv = ["create", "--bundle", o.bundle, "--pid-file", o.path(P.INIT_PID_FILE)]
            if console is not None:
                argv += ["--console-socket", _socket_arg(P.CONSOLE_SOCKET)]
            offset = self.log_offset()
            trace.mark("monitor: runtime create")
            pid = self.spawn(self.runtime_argv(*argv, o.container_id), *stdio)
            _close(err_w)
            err_w = -1
            _, status = os.waitpid(pid, 0)
            trace.mark("monitor: runtime created")
            if status != 0:
                stderr_text = self._read_available(err_r)
                if not o.tty:
                    # runc create passes its own stdio through: its complaint is on our pipe
                    stderr_text += self._read_available(cerr_r)
                msg = _runtime_error(o.path(P.RUNTIME_LOG), offset, stderr_text, status)
                self.run_sync(self.runtime_argv("delete", "--force", o.container_id))
                raise MonitorFailure(msg)
            if console is not None:
                self.init.master = _receive_console(console)
                self.init.add_output(self.init.master, "stdout")
                if o.stdin:
                    self.init.sink = Sink(self, os.dup(self.init.master), True)
            self.init.pid = int(_read_small(o.path(P.INIT_PID_FILE)).strip())
            self.on_child(self.init.pid, self._on_init_exit)
        finally:
            for fd in child_fds:
                _close(fd)
            _close(err_r)
            _close(err_w)
            if console is not None:
                console.close()
                _unlink(P.CONSOLE_SOCKET)
        self.init.log = LogWriter(o.log_path, o.log_max_size, o.log_max_file)

    @staticmethod
    def _read_available(fd: int) -> str:
        _set_nonblocking(fd)
        chunks = []
        try:
            while chunk := os.read(fd, _CHUNK):
                chunks.append(chunk)
                if sum(map(len, chunks)) > (1 << 20):
                    break
        except OSError:
            pass
        return b"".join(chunks).decode(errors="replace")

    # -- the loop
    def serve(self) -> None:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # (_signal: signal.signal's enum conversions touch pages the monitor keeps private)
        _signal.set_wakeup_fd(wake_w)
        _signal.signal(_signal.SIGCHLD, _ignore)
        for sig in _SERVE_SIGNALS[1:]:
            _signal.signal(sig, _signal.SIG_IGN)  # only the container's exit ends us

        def on_wake(_mask: int) -> None:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
            self.reap()

        self.watch(wake_r, _READ, on_wake)
        control = _listen(P.CONTROL_SOCKET)
        attach = _listen(P.ATTACH_SOCKET)
        self.listeners = [control, attach]
        self.watch(control.fileno(), _READ, lambda _m: self._accept(control, ControlConn))
        self.watch(attach.fileno(), _READ, lambda _m: self._accept(attach, Client))
        self.report_ready({"ok": True, "pid": self.init.pid})
        self.reap()  # the init may have died before the handler was installed
        try:
            while not self.done or self._delivering():
                for fd, mask in self.sel.select(self._timeout()):
                    handler = self.handlers.get(fd)
                    if handler is None:
                        continue
                    try:
                        handler(mask)
                    except Exception:
                        # One bad connection must not take the container's monitor down.
                        import traceback

                        self.note(traceback.format_exc())
                self.check_sessions()
        finally:
            self.close_listeners()
            for c in list(self.open_clients):
                c.close()  # too slow a reader: the log has the output
            _signal.set_wakeup_fd(-1)
            self.unwatch(wake_r)
            _close(wake_r)
            _close(wake_w)

    def _delivering(self) -> bool:
        """After the exit: are clients still receiving buffered output (within a deadline)?"""
        if not any(c.outbuf and c.close_after_flush for c in self.open_clients):
            return False
        return self.flush_deadline is not None and time.monotonic() < self.flush_deadline

    def close_listeners(self) -> None:
        for listener in self.listeners:
            self.unwatch(listener.fileno())
            listener.close()
        self.listeners = []
        _unlink(P.CONTROL_SOCKET)
        _unlink(P.ATTACH_SOCKET)

    def report_ready(self, msg: dict[str, Any]) -> None:
        if self.ready_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(self.ready_fd, P.encode_message(msg))
            _close(self.ready_fd)
            self.ready_fd = -1

    def _timeout(self) -> float | None:
        deadlines = [
            s.drain_deadline
            for s in [self.init, *self.execs.values()]
            if s.drain_deadline is not None and s.outputs
        ]
        if self.runtime_pids and self.exit_grace is not None:
            deadlines.append(self.exit_grace)
        if self.done and self.flush_deadline is not None:
            deadlines.append(self.flush_deadline)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _accept(
        self, listener: socket.socket, make: Callable[[Monitor, socket.socket], Any]
    ) -> None:
        try:
            fd, _ = listener._accept()  # type: ignore[attr-defined]
        except OSError:
            return
        # (int family and type: accept()'s enum conversions cost a monitor private pages)
        make(self, socket.socket(_AF_UNIX, _SOCK_STREAM, 0, fd))

    # -- exits
    def _on_init_exit(self, status: int) -> None:
        trace.mark("monitor: init exited")
        self.init.status = status
        self.init.exit_code = P.exit_code_from_status(status)
        self.finished_at = _now_ns()
        self.init.drain_deadline = time.monotonic() + self.opts.drain_timeout
        self.exit_grace = time.monotonic() + 10.0
        if self.init.sink is not None:
            self.init.sink.close()

    def check_sessions(self) -> None:
        for ex in list(self.execs.values()):
            if ex.status is not None and not ex.finished and ex.drained:
                self._finish_exec(ex)
        if self.init.status is not None and self.init.drained and not self.done:
            # A `runtime start` or `exec` racing with the exit must be answered first.
            grace = self.exit_grace
            if self.runtime_pids and grace is not None and time.monotonic() < grace:
                return
            self.finish()

    def _finish_exec(self, ex: Exec) -> None:
        ex.finished = True
        ex.close_outputs()
        if ex.sink is not None:
            ex.sink.close()
        _close(ex.master)
        ex.master = -1
        ex.finish_clients()
        for suffix in (".json", ".pid"):
            _unlink(f"exec-{ex.exec_id}{suffix}")
        done = [e for e in self.execs.values() if e.finished]
        for old in done[: max(0, len(done) - _MAX_FINISHED_EXECS)]:
            del self.execs[old.exec_id]

    def _oom_killed(self) -> bool:
        """Whether the kernel OOM-killed something in the container's memory cgroup."""
        try:
            spec = fastjson.loads(_read_small(os.path.join(self.opts.bundle, "config.json")))
            cg = spec.get("linux", {}).get("cgroupsPath", "")
        except (OSError, ValueError, AttributeError, MonitorFailure):
            return False
        if not isinstance(cg, str) or not cg.startswith("/"):
            return False
        for path, key in (
            (f"/sys/fs/cgroup/memory{cg}/memory.oom_control", b"oom_kill"),
            (f"/sys/fs/cgroup{cg}/memory.events", b"oom_kill"),
        ):
            try:
                for line in _read_small(path).splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == key:
                        return int(parts[1]) > 0
            except (OSError, ValueError, MonitorFailure):
                continue
        return False

    def finish(self) -> None:
        self.done = True
        # Clients get what is buffered for them: the loop goes on until it is delivered.
        self.flush_deadline = time.monotonic() + _FLUSH_SECONDS
        self.init.close_outputs()
        if self.init.log is not None:
            with contextlib.suppress(OSError):  # a full disk must not stop us
                self.init.log.close()
        self.oom_killed = self._oom_killed()
        for ex in self.execs.values():
            if not ex.finished:
                ex.close_outputs()
                ex.finish_clients()
        result = self.exit_info()
        # Gone before anyone hears of the exit: a client that saw it never finds us alive.
        self.close_listeners()
        try:
            _write_atomic(self.opts.path(P.EXIT_FILE), fastjson.dumps(result).encode())
        except OSError as e:
            self.note(f"cannot write {P.EXIT_FILE}: {e}")  # waiters still get the status
        trace.mark("monitor: exit written")
        for w in self.waiters:
            self._reply(w, **result)
            w.finish()
        self.init.finish_clients()
        for waiting in self.pending_attach.values():
            for c in waiting:
                c.finish()
        # Deleted after the exit is reported, off the path of `run` (a runtime command can
        # take tens of milliseconds). Whoever needs it gone (a new start, the removal's
        # cleanup) waits for this process to exit; one killed meanwhile leaves the runtime's
        # container to the daemon.
        trace.mark("monitor: exit reported, runtime delete")
        status, err = self.run_sync(self.runtime_argv("delete", "--force", self.opts.container_id))
        trace.mark("monitor: runtime deleted")
        if status != 0:
            self.note(f"runtime delete: {err}")

    def exit_info(self) -> dict[str, Any]:
        return {
            "exit_code": self.init.exit_code,
            "finished_at": format_timestamp(self.finished_at or _now_ns()),
            "started_at": format_timestamp(self.started_at) if self.started_at else None,
            "oom_killed": self.oom_killed,
            "pid": self.init.pid,
        }

    # -- control connections
    def _control_data(self, conn: ControlConn, data: bytes) -> None:
        conn.inbuf += data
        while b"\n" in conn.inbuf and not conn.closed:
            line, conn.inbuf = conn.inbuf.split(b"\n", 1)
            if line.strip():
                self._command(conn, line)
        if len(conn.inbuf) > P.MAX_MESSAGE:
            conn.fail("control message too long")

    def _answer(self, conn: Client, msg: dict[str, Any]) -> None:
        conn.send(P.encode_message(msg))
        if isinstance(conn, ControlConn):
            conn.pending -= 1
            if not conn.reading and conn.pending <= 0:
                conn.close_after_flush = True
                conn.send(b"")

    def _reply(self, conn: Client, **fields: Any) -> None:
        self._answer(conn, {"ok": True, **fields})

    def _error(self, conn: Client, message: str) -> None:
        self._answer(conn, {"ok": False, "error": message})

    def _command(self, conn: ControlConn, line: bytes) -> None:
        conn.pending += 1
        try:
            msg = P.decode_message(line)
            cmd = msg.get("cmd")
            handler = getattr(self, f"cmd_{cmd}", None) if isinstance(cmd, str) else None
            if handler is None:
                raise P.ProtocolError(f"unknown command: {cmd!r}")
            handler(conn, msg)
        except (P.ProtocolError, MonitorFailure, OSError, ValueError, TypeError, KeyError) as e:
            self._error(conn, str(e))

    def cmd_status(self, conn: Client, _msg: dict[str, Any]) -> None:
        self._reply(
            conn,
            pid=self.init.pid,
            started=self.started,
            running=self.started and self.init.running,
            exit_code=self.init.exit_code,
            started_at=format_timestamp(self.started_at) if self.started_at else None,
            finished_at=format_timestamp(self.finished_at) if self.finished_at else None,
            runtime_forks=self.fork_runtime,
        )

    def cmd_start(self, conn: Client, _msg: dict[str, Any]) -> None:
        if self.started:
            raise P.ProtocolError("container already started")
        if not self.init.running:
            raise P.ProtocolError("container is not running")
        self.started = True
        self.started_at = _now_ns()
        offset = self.log_offset()
        trace.mark("monitor: runtime start")
        pid = self.spawn(
            self.runtime_argv("start", self.opts.container_id),
            self.devnull,
            self.devnull,
            self.devnull,
        )

        def done(status: int) -> None:
            trace.mark("monitor: runtime started")
            if status == 0:
                self._reply(conn, pid=self.init.pid)
            else:
                self.started = False
                self.started_at = None
                self._error(conn, _runtime_error(self.opts.path(P.RUNTIME_LOG), offset, "", status))

        self.on_runtime_exit(pid, done)

    def cmd_kill(self, conn: Client, msg: dict[str, Any]) -> None:
        sig = P.signal_number(msg.get("signal", signal.SIGKILL))
        if not self.init.running:
            raise P.ProtocolError("container is not running")
        if msg.get("all"):
            pid = self.spawn(
                self.runtime_argv("kill", "--all", self.opts.container_id, str(sig)),
                self.devnull,
                self.devnull,
                self.devnull,
            )
            self.on_runtime_exit(pid, lambda status: self._reply(conn, status=status))
            return
        # The init is our (unreaped) child, so its pid cannot have been reused.
        os.kill(self.init.pid, sig)
        self._reply(conn)

    def _winsize(self, conn: Client, master: int, msg: dict[str, Any]) -> None:
        from dockyard.linux.terminal import set_winsize  # rarely needed: imported on use

        if master < 0:
            raise P.ProtocolError("the process has no terminal")
        h, w = int(msg["height"]), int(msg["width"])
        if not (0 <= h < 65536 and 0 <= w < 65536):
            raise P.ProtocolError("invalid terminal size")
        set_winsize(master, h, w)  # the kernel then sends SIGWINCH to the foreground group
        self._reply(conn)

    def cmd_resize(self, conn: Client, msg: dict[str, Any]) -> None:
        self._winsize(conn, self.init.master, msg)

    def cmd_exec_resize(self, conn: Client, msg: dict[str, Any]) -> None:
        exec_id = str(msg.get("exec_id", ""))
        ex = self.execs.get(exec_id)
        if ex is None or (ex.master < 0 and ex.starting):
            # The client's first resize often overtakes the exec's start (Docker's CLI sends
            # it as soon as the stream is up): keep it for the pty that is coming.
            h, w = int(msg["height"]), int(msg["width"])
            if not (0 <= h < 65536 and 0 <= w < 65536) or not exec_id:
                raise P.ProtocolError("invalid terminal size")
            if len(self.pending_sizes) >= 64:
                self.pending_sizes.pop(next(iter(self.pending_sizes)))
            self.pending_sizes[exec_id] = (h, w)
            self._reply(conn)
            return
        self._winsize(conn, ex.master, msg)

    def cmd_wait(self, conn: Client, _msg: dict[str, Any]) -> None:
        self.waiters.append(conn)

    def _exec(self, msg: dict[str, Any]) -> Exec:
        ex = self.execs.get(str(msg.get("exec_id", "")))
        if ex is None:
            raise P.ProtocolError(f"No such exec instance: {msg.get('exec_id')}")
        return ex

    def cmd_exec_status(self, conn: Client, msg: dict[str, Any]) -> None:
        ex = self._exec(msg)
        self._reply(
            conn,
            pid=ex.pid,
            running=ex.running or (ex.starting and ex.error is None),
            exit_code=ex.exit_code,
            error=ex.error,
        )

    def cmd_exec(self, conn: Client, msg: dict[str, Any]) -> None:
        self.start_exec(msg, requester=conn)

    def start_exec(self, msg: dict[str, Any], requester: Client | None) -> Exec:
        exec_id = msg.get("exec_id")
        process = msg.get("process")
        if not isinstance(exec_id, str) or not exec_id or "/" in exec_id or len(exec_id) > 128:
            raise P.ProtocolError("invalid exec_id")
        if not isinstance(process, dict):
            raise P.ProtocolError("exec needs a process object")
        if exec_id in self.execs:
            raise P.ProtocolError(f"exec {exec_id} already exists")
        if not self.init.running or self.done:
            raise P.ProtocolError(f"Container {self.opts.container_id} is not running")
        tty, want_stdin, detach = (
            bool(msg.get("tty")),
            bool(msg.get("stdin")),
            bool(msg.get("detach")),
        )
        process = dict(process, terminal=tty)
        ex = Exec(self, exec_id, tty, want_stdin and not detach)
        self.execs[exec_id] = ex
        spec_path = os.path.abspath(f"exec-{exec_id}.json")
        pid_path = os.path.abspath(f"exec-{exec_id}.pid")
        sock_name = f"exec-{exec_id}.sock"
        with open(spec_path, "w") as f:
            f.write(fastjson.dumps(process))
        child_fds: list[int] = []
        console = None
        if detach and not tty:
            stdio = (self.devnull, self.devnull, self.devnull)
        elif tty:
            console = _listen(sock_name)
            stdio = (self.devnull, self.devnull, self.devnull)
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            ex.add_output(out_r, "stdout")
            ex.add_output(err_r, "stderr")
            if ex.stdin:
                in_r, in_w = os.pipe()
                ex.sink = Sink(self, in_w, False)
                child_fds.append(in_r)
            else:
                in_r = self.devnull
            child_fds += [out_w, err_w]
            stdio = (in_r, out_w, err_w)
        for c in self.pending_attach.pop(exec_id, []):
            ex.attach_client(c)
            c.update_interest()
        argv = ["exec", "--detach", "--pid-file", pid_path, "--process", spec_path]
        if console is not None:
            argv += ["--console-socket", _socket_arg(sock_name)]
        offset = self.log_offset()
        try:
            pid = self.spawn(self.runtime_argv(*argv, self.opts.container_id), *stdio)
        except OSError:
            # Not even started (the runtime binary vanished?): leave no half-made exec.
            del self.execs[exec_id]
            ex.close_outputs()
            if ex.sink is not None:
                ex.sink.close()
            if console is not None:
                console.close()
                _unlink(sock_name)
            for c in list(ex.clients):
                c.close()
            raise
        finally:
            for fd in child_fds:
                _close(fd)

        def done(status: int) -> None:
            ex.starting = False
            try:
                if status != 0:
                    raise MonitorFailure(
                        _runtime_error(self.opts.path(P.RUNTIME_LOG), offset, "", status)
                    )
                if console is not None:
                    ex.master = _receive_console(console)
                    size = self.pending_sizes.pop(ex.exec_id, None)
                    if size is not None:
                        from dockyard.linux.terminal import set_winsize

                        set_winsize(ex.master, *size)
                    # Also when detached: closing the master would hang up the process.
                    ex.add_output(ex.master, "stdout")
                    if ex.stdin:
                        ex.sink = Sink(self, os.dup(ex.master), True)
                ex.pid = int(_read_small(pid_path).strip())
            except (MonitorFailure, OSError, ValueError) as e:
                ex.error = str(e)
                ex.status = 255 << 8
                lowered = ex.error.lower()
                missing = "not found" in lowered or "no such file" in lowered
                ex.exit_code = 127 if missing else 126
                ex.close_outputs()
                for c in list(ex.clients):
                    if c.acked:
                        c.finish()
                    else:
                        c.fail(ex.error)
                if requester is not None:
                    self._error(requester, ex.error)
                self.check_sessions()
                return
            finally:
                if console is not None:
                    console.close()
                    _unlink(sock_name)
            if requester is not None:
                self._reply(requester, pid=ex.pid)
            for c in ex.clients:
                if not c.acked:
                    c.ack({"ok": True, "pid": ex.pid})
            self.on_child(ex.pid, lambda st: self._on_exec_exit(ex, st))

        self.on_runtime_exit(pid, done)
        return ex

    def _on_exec_exit(self, ex: Exec, status: int) -> None:
        ex.status = status
        ex.exit_code = P.exit_code_from_status(status)
        ex.drain_deadline = time.monotonic() + self.opts.drain_timeout
        if ex.sink is not None:
            ex.sink.close()

    # -- attach handshake
    def handshake(self, c: Client, line: bytes) -> None:
        c.handshaken = True
        try:
            req = P.decode_message(line)
            c.want_stdin = bool(req.get("stdin"))
            c.want_stdout = bool(req.get("stdout"))
            c.want_stderr = bool(req.get("stderr"))
            keys = req.get("detach_keys")
            if keys is None:
                keys = "ctrl-p,ctrl-q"
            c.detach_keys = P.parse_detach_keys(str(keys))
        except P.ProtocolError as e:
            c.fail(str(e))
            return
        exec_id = req.get("exec_id")
        if exec_id is None:
            if self.init.status is not None or self.done:
                c.fail("container is not running")
                return
            self.init.attach_client(c)
            c.ack({"ok": True, "pid": self.init.pid})
            return
        exec_id = str(exec_id)
        if "process" in req:
            # Start-and-attach in one step: the ack is sent once the exec has started.
            try:
                ex = self.start_exec(dict(req, detach=False), requester=None)
            except (P.ProtocolError, OSError) as e:
                c.fail(str(e))
                return
            ex.attach_client(c)
            c.update_interest()
            return
        existing = self.execs.get(exec_id)
        if existing is None:
            # Attached before the exec command: waits for it, so no output is missed.
            self.pending_attach.setdefault(exec_id, []).append(c)
            c.ack({"ok": True, "pending": True})
            return
        if existing.finished:
            c.fail(f"exec {exec_id} has exited")
            return
        existing.attach_client(c)
        c.ack({"ok": True, "pid": existing.pid})


def _detach() -> None:
    """Leave the daemon's process tree: fork again (the spawner reaps the first child)."""
    if os.fork() != 0:
        os._exit(0)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m dockyard.engine.monitor STATE_DIR READY_FD\n")
        return 2
    state_dir, ready_fd = argv[0], int(argv[1])
    os.set_inheritable(ready_fd, False)
    _detach()
    return run(state_dir, ready_fd)


def run(state_dir: str, ready_fd: int) -> int:
    """Be the monitor of the container whose options are in ``state_dir``.

    The caller has already left the daemon's process tree; ``ready_fd`` (a pipe or a
    socket) receives one JSON line once ``runtime create`` has succeeded or failed.
    """
    from dockyard.linux.process import set_child_subreaper

    mon: Monitor | None = None
    pid_written = False
    try:
        trace.mark("monitor: run")
        set_child_subreaper()
        os.chdir(state_dir)
        opts = P.MonitorOptions.from_json(_read_small(P.OPTIONS_FILE, P.MAX_MESSAGE))
        trace.mark("monitor: options read")
        _write_atomic(P.PID_FILE, str(os.getpid()).encode())
        pid_written = True
        trace.mark("monitor: pid written")
        mon = Monitor(opts, ready_fd)
        trace.mark("monitor: made")
        mon.create()
        mon.serve()
        return 0
    except Exception as e:
        message = str(e) or type(e).__name__
        if not isinstance(e, (MonitorFailure, P.ProtocolError, OSError)):
            import traceback

            traceback.print_exc()
        if mon is not None and mon.ready_fd < 0:
            mon.note(f"fatal: {message}")
        else:
            with contextlib.suppress(OSError):
                os.write(ready_fd, P.encode_message({"ok": False, "error": message}))
        return 1
    finally:
        if mon is not None:
            mon.release()
        if pid_written:
            _unlink(P.PID_FILE)
