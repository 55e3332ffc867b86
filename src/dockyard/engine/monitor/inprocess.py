"""Our own runtime's commands run in a forked copy of the monitor instead of a fresh process.

Executing ``dockyard-runc`` costs an interpreter start and the runtime's imports (~20 ms)
on each of create, start and delete: most of ``run --rm``'s time. A monitor is forked from
a launcher that has already imported the runtime (``cli.preload``) and is single-threaded,
so a fork of it is a fresh single-threaded process that only has to run the command:
``cli.entry(argv)`` with the same arguments the binary would get, then ``_exit``.

Used only when the configured runtime is a launcher of this very package
(``runtime.launcher.runs_this_package``), so the code that runs is the code the binary
would run; any other runtime (runc, crun) is executed as before. ``DOCKYARD_RUNTIME_FORK=0``
turns it off. ``spawn_monitor`` decides (``usable``) and says so in the monitor's options.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Callable

from dockyard.engine import trace as engine_trace
from dockyard.linux.process import close_fds_except
from dockyard.runtime import trace as runtime_trace
from dockyard.runtime.launcher import runs_this_package

# A launcher's rehearsal of monitor lives (warmup._rehearse) runs this instead of the runtime.
stand_in: Callable[[list[str]], None] | None = None


def usable(runtime: str) -> bool:
    return os.environ.get("DOCKYARD_RUNTIME_FORK", "1") != "0" and runs_this_package(runtime)


# What a freshly started Python has: SIGINT raises KeyboardInterrupt, SIGPIPE and SIGXFSZ
# are ignored, the rest default. The monitor ignores or catches others.
_RESET = (signal.SIGCHLD, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT)


def fork_command(argv: list[str], stdin: int, stdout: int, stderr: int) -> int:
    """Run ``runtime argv[1:]`` in a child with the given stdio; returns the child's pid."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # nothing buffered is written twice
    pid = os.fork()
    if pid != 0:
        return pid
    code = 1
    try:
        # The monitor's objects stay alive, untouched: no collection may close their fds,
        # whose numbers the command may be reusing by then.
        gc.disable()
        signal.set_wakeup_fd(-1)
        for sig in _RESET:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        # A fresh runtime would hold none of the monitor's sockets, pipes and logs: the
        # container's init, forked from this process, must not either.
        close_fds_except(3, [engine_trace.fd(), runtime_trace.fd()])
        if stand_in is not None:
            stand_in(argv[1:])
        from dockyard.runtime import cli

        cli.entry(argv[1:])
    except BaseException:
        import traceback

        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
    finally:
        os._exit(code)
