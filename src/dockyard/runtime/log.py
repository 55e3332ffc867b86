"""--log / --log-format: logrus-style text lines or JSON lines {"level","msg","time"}."""

from __future__ import annotations

import sys

from dockyard.oci import fastjson
from dockyard.runtime.state import rfc3339_now


class Log:
    def __init__(self, path: str | None = None, fmt: str = "text", debug: bool = False) -> None:
        self.path = path
        self.fmt = fmt
        self.debug_on = debug

    def _write(self, level: str, msg: str) -> None:
        if not self.path:
            return
        if self.fmt == "json":
            line = fastjson.dumps({"level": level, "msg": msg, "time": rfc3339_now()})
        else:
            line = f"time={fastjson.dumps(rfc3339_now())} level={level} msg={fastjson.dumps(msg)}"
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def error(self, msg: str) -> None:
        """One line on stderr, and in the log file (containerd reports its last error line)."""
        self._write("error", msg)
        print(f"dockyard-runc: {msg}", file=sys.stderr)

    def warning(self, msg: str) -> None:
        self._write("warning", msg)
        print(f"dockyard-runc: warning: {msg}", file=sys.stderr)

    def debug(self, msg: str) -> None:
        if self.debug_on:
            self._write("debug", msg)
