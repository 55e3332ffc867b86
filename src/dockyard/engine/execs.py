"""Exec instances: created against a running container, started through its monitor.

Like Docker, exec records live in memory only; they are dropped when their container
goes away or after they finished and were inspected enough (bounded by MAX_EXECS).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from dockyard.engine.containers import Engine
from dockyard.engine.errors import Conflict, InvalidParameter, NotFound
from dockyard.engine.users import lookup
from dockyard.oci.specgen import merge_env

MAX_EXECS = 1024


@dataclass
class ExecRecord:
    id: str
    container_id: str
    cmd: list[str]
    env: list[str]
    user: str
    workdir: str
    tty: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    privileged: bool
    detach_keys: str
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event)

    def inspect_json(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": self.cmd[0] if self.cmd else "",
                "arguments": self.cmd[1:],
                "privileged": self.privileged,
                "user": self.user,
            },
            "OpenStdin": self.attach_stdin,
            "OpenStderr": self.attach_stderr,
            "OpenStdout": self.attach_stdout,
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.detach_keys,
            "Pid": self.pid,
        }


class Execs:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._execs: OrderedDict[str, ExecRecord] = OrderedDict()

    def create(self, ref: str, body: dict[str, Any]) -> str:
        c = self.engine.get(ref)
        if c.state.status == "paused":
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        if c.state.status != "running":
            raise Conflict(f"Container {c.id} is not running")
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd or not isinstance(cmd, list) or not all(isinstance(x, str) for x in cmd):
            raise InvalidParameter("No exec command specified")
        env = body.get("Env") or []
        if not isinstance(env, list):
            raise InvalidParameter("invalid Env: expected a list of strings")
        rec = ExecRecord(
            id=secrets.token_hex(32),
            container_id=c.id,
            cmd=list(cmd),
            env=list(env),
            user=str(body.get("User") or ""),
            workdir=str(body.get("WorkingDir") or ""),
            tty=bool(body.get("Tty")),
            attach_stdin=bool(body.get("AttachStdin")),
            attach_stdout=bool(body.get("AttachStdout")),
            attach_stderr=bool(body.get("AttachStderr")),
            privileged=bool(body.get("Privileged")),
            detach_keys=str(body.get("DetachKeys") or ""),
        )
        if rec.workdir and not rec.workdir.startswith("/"):
            raise InvalidParameter(
                f"the working directory '{rec.workdir}' is invalid, it needs to be an absolute path"
            )
        with self._lock:
            self._execs[rec.id] = rec
            while len(self._execs) > MAX_EXECS:
                self._execs.popitem(last=False)
        self.engine._event(c, f"exec_create: {' '.join(rec.cmd)}", execID=rec.id)
        return rec.id

    def get(self, exec_id: str) -> ExecRecord:
        with self._lock:
            rec = self._execs.get(exec_id)
        if rec is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return rec

    def ids_for(self, cid: str) -> list[str]:
        with self._lock:
            return [e.id for e in self._execs.values() if e.container_id == cid and e.running]

    def process(self, rec: ExecRecord) -> dict[str, Any]:
        """The OCI process for `runtime exec`: the container's, with this exec's changes."""
        spec_path = self.engine.bundle(rec.container_id) / "config.json"
        try:
            spec = json.loads(spec_path.read_text())
        except (OSError, ValueError):
            raise Conflict(f"Container {rec.container_id} is not running") from None
        proc: dict[str, Any] = dict(spec.get("process") or {})
        proc["args"] = rec.cmd
        proc["terminal"] = rec.tty
        proc["env"] = merge_env(list(proc.get("env") or []), rec.env)
        if rec.tty and not any(e.startswith("TERM=") for e in proc["env"]):
            proc["env"].append("TERM=xterm")
        if rec.workdir:
            proc["cwd"] = rec.workdir
        if rec.user:
            group_add = self.engine.get(rec.container_id).host_config.get("GroupAdd") or ()
            u = lookup(str(self.engine.rootfs(rec.container_id)), rec.user, group_add)
            proc["user"] = {"uid": u.uid, "gid": u.gid, "additionalGids": list(u.additional_gids)}
        if rec.privileged:
            caps = sorted(_all_caps())
            proc["capabilities"] = {
                k: caps for k in ("bounding", "effective", "permitted", "inheritable")
            }
        proc.pop("consoleSize", None)
        return proc

    def mark_started(self, rec: ExecRecord, pid: int) -> None:
        if rec.started:
            raise Conflict(f"Error: Exec command {rec.id} has already run")
        rec.started = True
        rec.running = True
        rec.pid = pid

    def mark_started_attached(self, rec: ExecRecord, pid: int) -> None:
        rec.started = True
        rec.running = True
        rec.pid = pid

    def settle_until_done(self, rec: ExecRecord, poll: float = 0.05) -> None:
        """Block until the monitor reports the exec finished (or the container is gone)."""
        import time

        delay = poll
        while not rec.done.is_set() and not self.engine.closing:
            self.settle(rec)
            if rec.done.is_set():
                return
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def finish(self, rec: ExecRecord, status: dict[str, Any] | None) -> None:
        rec.running = False
        if status is not None and status.get("exit_code") is not None:
            rec.exit_code = int(status["exit_code"])
        elif rec.exit_code is None:
            rec.exit_code = 126 if rec.error else 0
        rec.done.set()

    def settle(self, rec: ExecRecord) -> None:
        """After its stream closed: ask the monitor for the exec's exit code."""
        try:
            handle = self.engine.handle(rec.container_id)
            st = handle.exec_status(rec.id)
        except Exception as e:
            rec.error = rec.error or str(e)
            st = None
        if st is not None and st.get("running"):
            return
        self.finish(rec, st)


def _all_caps() -> list[str]:
    from dockyard.linux.capabilities import all_caps_mask, caps_to_names

    return caps_to_names(all_caps_mask())
