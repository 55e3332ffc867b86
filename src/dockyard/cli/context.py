"""Per-invocation state: the daemon endpoint (resolved lazily) and output helpers."""

from __future__ import annotations

import os
import sys

from dockyard.cli.flags import Command
from dockyard.cli.transport import Client, Host, resolve_host

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Context:
    def __init__(self, host_flag: str | None, command: Command) -> None:
        self.host_flag = host_flag
        self.command = command
        self._client: Client | None = None
        self._host: Host | None = None

    @property
    def host(self) -> Host:
        if self._host is None:
            self._host = resolve_host(self.host_flag, os.environ)
        return self._host

    @property
    def client(self) -> Client:
        if self._client is None:
            host = self.host
            self._client = Client(
                host, on_absent=self._start_daemon if host.scheme == "unix" else None
            )
        return self._client

    def _start_daemon(self) -> None:
        from dockyard.cli.autostart import maybe_start_daemon

        maybe_start_daemon(self.host, explicit=bool(self.host_flag))

    def out(self, text: str) -> None:
        sys.stdout.write(text)

    def line(self, text: str = "") -> None:
        sys.stdout.write(text + "\n")

    def err(self, text: str) -> None:
        sys.stdout.flush()
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def json(self, method: str, path: str, params: Any = None, body: Any = None) -> Any:
        return self.client.json(method, path, params, body)

    def close(self) -> None:
        try:
            sys.stdout.flush()
        except (BrokenPipeError, ValueError, AttributeError):
            return
