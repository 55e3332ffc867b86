"""Run OCI hooks: the state JSON on stdin, a timeout, output kept for the error message."""

from __future__ import annotations

import os
import select
import time

from dockyard.linux.process import SIGKILL
from dockyard.linux.suppress import suppress
from dockyard.runtime.config import Hook
from dockyard.runtime.errors import HookError


def run_hook(hook: Hook, state_json: bytes, kind: str) -> None:
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        pid = os.posix_spawn(
            hook.path,
            hook.args,
            _env(hook.env),
            file_actions=[
                (os.POSIX_SPAWN_DUP2, stdin_r, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, out_w, 2),
            ],
        )
    except OSError as e:
        for fd in (stdin_r, stdin_w, out_r, out_w):
            os.close(fd)
        raise HookError(f"{kind} hook {hook.path}: {e.strerror}") from None
    os.close(stdin_r)
    os.close(out_w)
    # A hook may exit without reading stdin; never fail on EPIPE for that.
    with suppress(OSError):
        os.write(stdin_w, state_json)
    os.close(stdin_w)
    output, status = _wait(pid, out_r, hook.timeout)
    os.close(out_r)
    if status is None:
        raise HookError(f"{kind} hook {hook.path} timed out after {hook.timeout}s")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        text = output.decode(errors="replace").strip().replace("\n", " ")[-400:]
        how = f"exit status {code}" if code > 0 else f"signal {-code}"
        raise HookError(f"{kind} hook {hook.path} failed ({how}){': ' + text if text else ''}")


def _env(env: list[str]) -> dict[str, str]:
    out = {}
    for item in env:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def _wait(pid: int, out_fd: int, timeout: int | None) -> tuple[bytes, int | None]:
    deadline = None if timeout is None else time.monotonic() + timeout
    pidfd = os.pidfd_open(pid)
    chunks: list[bytes] = []
    poller = select.poll()
    poller.register(out_fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    try:
        exited = False
        while not exited:
            wait_ms = (
                None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            )
            events = poller.poll(wait_ms)
            if not events:
                os.kill(pid, SIGKILL)
                os.waitpid(pid, 0)
                return b"".join(chunks), None
            for fd, _ev in events:
                if fd == pidfd:
                    exited = True
                else:
                    data = os.read(out_fd, 65536)
                    if data:
                        if sum(map(len, chunks)) < 1 << 16:
                            chunks.append(data)
                    else:
                        poller.unregister(out_fd)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(pidfd)
    return b"".join(chunks), status


def run_hooks(hooks: list[Hook], state_json: bytes, kind: str) -> None:
    for hook in hooks:
        run_hook(hook, state_json, kind)
