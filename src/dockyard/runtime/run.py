"""`run` (create + start + wait) and waiting for an `exec`ed process."""

from __future__ import annotations

import os

from dockyard.linux.suppress import suppress
from dockyard.runtime.create import CreateOptions, create
from dockyard.runtime.errors import ConfigError
from dockyard.runtime.record import record
from dockyard.runtime.trace import mark

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
    from types import FrameType
else:
    import _signal  # signal.py wraps it in enums, which cost milliseconds at import

# Signals `run` and `exec` pass on to the container process, as runc does.
FORWARDED = (
    _signal.SIGHUP,
    _signal.SIGINT,
    _signal.SIGQUIT,
    _signal.SIGTERM,
    _signal.SIGUSR1,
    _signal.SIGUSR2,
    _signal.SIGCONT,
    _signal.SIGTSTP,
)


@record
class RunOptions(CreateOptions):
    detach: bool = False
    keep: bool = False


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Forwarder:
    """Catches the forwarded signals from before the container exists (a signal in that
    window must not kill us and orphan it) and passes them on once the target is known."""

    def __init__(self) -> None:
        self.pid = 0
        self.pending: list[int] = []
        for s in FORWARDED:
            _signal.signal(s, self._handle)

    def _handle(self, sig: int, _frame: FrameType | None) -> None:
        if self.pid:
            with suppress(ProcessLookupError):
                os.kill(self.pid, sig)
        else:
            self.pending.append(sig)

    def target(self, pid: int) -> None:
        self.pid = pid
        for sig in self.pending:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        self.pending.clear()


def wait_for(pid: int) -> int:
    """Wait for pid (our child, or adopted as subreaper), reaping adopted orphans meanwhile."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        except InterruptedError:
            continue
        if got == pid:
            return exit_code(status)


def run(o: RunOptions) -> int:
    from dockyard.runtime.lifecycle import delete, start

    proxy = None
    if not o.console_socket and not o.detach:
        from dockyard.runtime.config import load_config_file

        proc = load_config_file(o.bundle).get("process")
        if isinstance(proc, dict) and proc.get("terminal"):
            from dockyard.runtime.tty import ConsoleProxy

            proxy = ConsoleProxy()
            o.console_sock = proxy.theirs
    o.subreaper = not o.detach
    if o.detach and not o.console_socket:
        from dockyard.runtime.config import load_config_file

        proc = load_config_file(o.bundle).get("process")
        if isinstance(proc, dict) and proc.get("terminal"):
            raise ConfigError("cannot allocate a terminal when detaching without --console-socket")
    fwd = None if o.detach else Forwarder()
    st = create(o)
    try:
        if proxy is not None:
            proxy.receive()
        start(o.root, o.cid, st)
        mark("started")
        if fwd is not None:
            fwd.target(st.pid)
    except BaseException:
        delete(o.root, o.cid, force=True)
        if proxy is not None:
            proxy.restore()
        raise
    if o.detach:
        return 0
    try:
        if proxy is not None:
            done: list[int] = []

            def finished() -> bool:
                got, status = os.waitpid(st.pid, os.WNOHANG)
                if got == st.pid:
                    done.append(exit_code(status))
                return bool(done)

            proxy.pump(finished)
            code = done[0] if done else wait_for(st.pid)
        else:
            code = wait_for(st.pid)
    finally:
        if proxy is not None:
            proxy.restore()
    mark("exited")
    if not o.keep:
        delete(o.root, o.cid, force=True, st=st, cg=o.made_cgroup)
    mark("deleted")
    return code


def exec_and_wait(o: ExecOptions) -> int:  # type: ignore[name-defined]  # noqa: F821
    from dockyard.runtime.execute import execute

    proxy = None
    if o.tty and not o.console_socket and not o.detach and not o.process_file:
        from dockyard.runtime.tty import ConsoleProxy

        proxy = ConsoleProxy()
        o.console_sock = proxy.theirs
    fwd = None if o.detach else Forwarder()
    pid = execute(o)
    if fwd is None:
        return 0
    fwd.target(pid)
    try:
        if proxy is not None:
            proxy.receive()
            done: list[int] = []

            def finished() -> bool:
                got, status = os.waitpid(pid, os.WNOHANG)
                if got == pid:
                    done.append(exit_code(status))
                return bool(done)

            proxy.pump(finished)
            return done[0] if done else wait_for(pid)
        return wait_for(pid)
    finally:
        if proxy is not None:
            proxy.restore()
