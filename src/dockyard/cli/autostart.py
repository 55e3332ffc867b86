"""Start dockyardd on demand: the socket is absent, we are root, the host is ours."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from dockyard.cli.errors import ConnectError
from dockyard.cli.transport import DEFAULT_HOST, Client, Host

DEFAULT_EXEC_ROOT = "/run/dockyard"
START_TIMEOUT = 20.0


def exec_root_for(host: Host) -> str:
    """The run dir of the daemon serving `host`: DOCKYARD_EXEC_ROOT, or /run/dockyard for the
    default socket, or the socket's own directory."""
    if os.environ.get("DOCKYARD_EXEC_ROOT"):
        return os.environ["DOCKYARD_EXEC_ROOT"]
    if host.url == DEFAULT_HOST:
        return DEFAULT_EXEC_ROOT
    return os.path.dirname(host.path) or "."


def daemon_command(host: Host, exec_root: str) -> list[str]:
    # Next to the `dockyard` that runs (its launcher runs the system's python, not the
    # venv's), else next to the interpreter.
    base = [sys.executable, "-m", "dockyard.api.daemon"]
    for where in (os.path.abspath(sys.argv[0]), sys.executable):
        sibling = os.path.join(os.path.dirname(where), "dockyardd")
        if os.access(sibling, os.X_OK):
            base = [sibling]
            break
    cmd = [*base, "-H", host.url, "--exec-root", exec_root]
    if os.environ.get("DOCKYARD_ROOT"):
        cmd += ["--data-root", os.environ["DOCKYARD_ROOT"]]
    return cmd


def maybe_start_daemon(host: Host, explicit: bool) -> None:
    """Start the daemon when allowed; otherwise return and let the connect error speak.

    A socket named by DOCKER_HOST belongs to some other daemon: never start ours there."""
    if host.scheme != "unix" or host.from_docker_env or os.geteuid() != 0:
        return
    if os.environ.get("DOCKYARD_NO_AUTOSTART"):
        return
    exec_root = exec_root_for(host)
    os.makedirs(exec_root, mode=0o711, exist_ok=True)
    log_path = os.path.join(exec_root, "dockyardd.log")
    print(f"Starting dockyardd (log: {log_path})", file=sys.stderr)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            daemon_command(host, exec_root),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    client = Client(host)
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.02
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConnectError(
                f"dockyardd exited with status {proc.returncode} during start-up (see {log_path})"
            )
        if os.path.exists(host.path):
            try:
                client.ping(timeout=2.0)
                return
            except ConnectError:
                pass
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    raise ConnectError(
        f"dockyardd did not answer on {host.url} within {START_TIMEOUT:.0f}s (see {log_path})"
    )
