"""The container service: lifecycle of containers on top of the store, specgen and monitors.

Blocking methods (they spawn processes, mount, wait for exits); the API calls them
from worker threads. One re-entrant lock guards the in-memory index and records;
a per-container lock serialises operations on one container (start vs rm…).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from dockyard.engine import config as cfgmod
from dockyard.engine import names, records, trace
from dockyard.engine.errors import (
    Conflict,
    EngineError,
    InvalidParameter,
    NotFound,
    NotModified,
    no_such_container,
)
from dockyard.engine.events import EventBus
from dockyard.engine.filters import Filters, match_labels, name_matches
from dockyard.engine.filters import boolean as filter_bool
from dockyard.engine.images import ImageBackend
from dockyard.engine.inspect import inspect_json, list_json
from dockyard.engine.records import Container, now_rfc3339
from dockyard.engine.restart import Policy, next_delay, restart_at_daemon_start, should_restart
from dockyard.engine.rootfs import (
    OWN_MOUNT_POINTS,
    mount_rootfs,
    unmount_rootfs,
    write_etc_files,
)
from dockyard.engine.runtime import Runtime
from dockyard.engine.volumes import Volumes
from dockyard.linux.libc import errno_text

if TYPE_CHECKING:
    from dockyard.engine.archive import PathStat
    from dockyard.engine.mountpoints import MountPoint

log = logging.getLogger(__name__)

LIST_FILTERS = (
    "status",
    "name",
    "id",
    "label",
    "ancestor",
    "exited",
    "before",
    "since",
    "volume",
    "network",
    "health",
    "is-task",
    "publish",
    "expose",
)
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
ATTACH_CONNECT_TIMEOUT = 10.0
# How long a stop waits for the exit after SIGKILL (or after finding it already dying).
STOP_EXIT_WAIT = 30.0
# A monitor reports the exit first and then deletes the runtime's container: how long
# whoever needs that container gone (a new start, the removal's cleanup) waits for it.
MONITOR_EXIT_WAIT = 15.0

# Called at start, after the monitor exists and before the process runs, with the
# attach socket path; the returned future completes once the client is connected.
AttachReady = Callable[[str], "Future[None]"]


def parse_signal(value: str | int | None, default: int = signal.SIGKILL) -> int:
    """'SIGTERM', 'TERM', '15' -> 15; InvalidParameter on anything else."""
    if value is None or value == "":
        return default
    if isinstance(value, int):
        sig = value
    elif value.isdigit():
        sig = int(value)
    else:
        name = value.upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        try:
            sig = int(signal.Signals[name])
        except KeyError:
            raise InvalidParameter(f"Invalid signal: {value}") from None
    if not 0 < sig < 65:
        raise InvalidParameter(f"Invalid signal: {value}")
    return sig


def host_cpusets() -> tuple[str, str]:
    """The CPUs and memory nodes containers may use: the root cpuset's (v1), else what is
    online ("0" when the machine lists no nodes)."""
    found = []
    for v1, online, default in (
        ("cpuset.cpus", "/sys/devices/system/cpu/online", f"0-{(os.cpu_count() or 1) - 1}"),
        ("cpuset.mems", "/sys/devices/system/node/online", "0"),
    ):
        for path in (f"/sys/fs/cgroup/cpuset/{v1}", f"/sys/fs/cgroup/{v1}.effective", online):
            with contextlib.suppress(OSError):
                text = Path(path).read_text().strip()
                if text:
                    found.append(text)
                    break
        else:
            found.append(default)
    return found[0], found[1]


def is_task(f: Filters) -> bool:
    """The `is-task` filter's value (swarm tasks: there are none here)."""
    return bool(filter_bool(f, "is-task"))


class Engine:
    def __init__(
        self,
        data_root: Path,
        exec_root: Path,
        runtime: str,
        images: ImageBackend,
        events: EventBus,
    ) -> None:
        self.data_root = data_root
        self.exec_root = exec_root
        self.containers_dir = data_root / "containers"
        self.containers_dir.mkdir(parents=True, exist_ok=True)
        (exec_root / "containers").mkdir(parents=True, exist_ok=True)
        (exec_root / "monitors").mkdir(parents=True, exist_ok=True)
        self.runtime = Runtime(runtime, exec_root / "runtime")
        self.images = images
        self.events = events
        self.volumes = Volumes(data_root / "volumes", self._volume_users)
        self._lock = threading.RLock()
        self._by_id: dict[str, Container] = {}
        self._names: dict[str, str] = {}
        self._oplocks: dict[str, threading.RLock] = {}
        self._handles: dict[str, Any] = {}
        self._attach_ready: dict[str, list[AttachReady]] = {}
        self._exited: dict[str, threading.Event] = {}
        self._backoff: dict[str, float] = {}
        self._closing = False
        self._gone: set[str] = set()

    # -- paths -----------------------------------------------------------------

    def cdir(self, cid: str) -> Path:
        return self.containers_dir / cid

    def bundle(self, cid: str) -> Path:
        return self.exec_root / "containers" / cid

    def rootfs(self, cid: str) -> Path:
        return self.bundle(cid) / "rootfs"

    def state_dir(self, cid: str) -> Path:
        return self.exec_root / "monitors" / cid

    def log_path(self, cid: str) -> Path:
        return self.cdir(cid) / f"{cid}-json.log"

    def file_paths(self, cid: str) -> dict[str, str]:
        d = self.cdir(cid)
        return {
            "log": str(self.log_path(cid)),
            "hosts": str(d / "hosts"),
            "hostname": str(d / "hostname"),
            "resolv": str(d / "resolv.conf"),
        }

    # -- index -----------------------------------------------------------------

    def get(self, ref: str) -> Container:
        """By full id, name (with or without '/'), or unique id prefix."""
        with self._lock:
            c = self._by_id.get(ref)
            if c is not None:
                return c
            cid = self._names.get(ref if ref.startswith("/") else "/" + ref)
            if cid is not None:
                return self._by_id[cid]
            if ref:
                hits = [c for i, c in self._by_id.items() if i.startswith(ref)]
                if len(hits) == 1:
                    return hits[0]
                if len(hits) > 1:
                    raise NotFound(f"multiple IDs found with provided prefix: {ref}")
        raise no_such_container(ref)

    def all(self) -> list[Container]:
        with self._lock:
            return list(self._by_id.values())

    def _oplock(self, cid: str) -> threading.RLock:
        with self._lock:
            return self._oplocks.setdefault(cid, threading.RLock())

    def _save(self, c: Container, durable: bool = True) -> None:
        with self._lock:
            if c.id not in self._by_id and c.id in self._gone:
                return  # removed meanwhile: never resurrect its record
            records.save(c, self.cdir(c.id), durable)

    def _event(self, c: Container, action: str, **extra: str) -> None:
        attrs = {"image": c.image_ref, "name": c.short_name}
        attrs.update({k: str(v) for k, v in (c.config.get("Labels") or {}).items()})
        attrs.update(extra)
        self.events.publish("container", action, c.id, attrs)

    def _volume_users(self, name: str) -> list[str]:
        with self._lock:
            return [
                c.id
                for c in self._by_id.values()
                if any(m.get("Type") == "volume" and m.get("Name") == name for m in c.mounts)
            ]

    # -- create ----------------------------------------------------------------

    def create(self, body: dict[str, Any], name: str | None) -> tuple[str, list[str]]:
        if not isinstance(body, dict):
            raise InvalidParameter("invalid create request: expected a JSON object")
        image_ref = body.get("Image")
        if not image_ref or not isinstance(image_ref, str):
            raise InvalidParameter("Config cannot be empty in order to create a container")
        hc = cfgmod.check_host_config(body.get("HostConfig") or {}, self.runtime.name)
        cfgmod.check_cpusets(hc, *host_cpusets())
        canon = names.validate(name) if name else None
        img = self.images.resolve(image_ref)
        cfg = cfgmod.merge_config(img.config, body, image_ref)
        plans = cfgmod.mount_plans(cfg, hc)
        cfgmod.log_limits(hc)
        cid = secrets.token_hex(32)
        if not cfg.get("Hostname"):
            # With the host's network or UTS namespace the container also shows the host's
            # name, as in Docker.
            host_name = hc.get("NetworkMode") == "host" or hc.get("UTSMode") == "host"
            cfg["Hostname"] = socket.gethostname() if host_name else cid[:12]
        self._check_spec(cfg, hc, cid)
        path, args = cfgmod.command_line(cfg)
        with self._lock:
            canon = canon or self._free_name()
            self._reserve_name(canon, cid)
        c = Container(
            id=cid,
            name=canon,
            created=now_rfc3339(),
            image_id=img.id,
            image_ref=image_ref,
            path=path,
            args=args,
            config=cfg,
            host_config=hc,
            snapshot_key=cid,
        )
        try:
            c.mounts = self._make_volumes(plans)
            self.cdir(cid).mkdir(parents=True, exist_ok=False)
            trace.mark("create: volumes, dir")
            self.images.prepare(img.id, cid)
            trace.mark("create: snapshot prepared")
            self.images.add_use(img.id, cid)
            self._save(c)
            trace.mark("create: saved")
        except BaseException:
            with self._lock:
                self._names.pop(canon, None)
            self._cleanup_failed_create(c)
            raise
        with self._lock:
            self._by_id[cid] = c
        self._event(c, "create")
        return cid, []

    def _check_spec(self, cfg: dict[str, Any], hc: dict[str, Any], cid: str) -> None:
        """Generate the spec once at create (without the root's files) so that bad
        options (an unknown capability, a bad ulimit…) fail now with a 400, as in Docker."""
        from dockyard.oci.specgen import SpecError, generate_spec

        # Users and devices are resolved at start (from the root's files, the host's nodes).
        img = dict(cfg, User="")
        body = dict(cfg, User="", HostConfig=dict(hc, Devices=None, GroupAdd=None))
        try:
            generate_spec(
                img,
                body,
                rootfs="/nonexistent",
                hostname=cfg["Hostname"],
                container_id=cid,
                init_path=shutil.which("docker-init") or shutil.which("tini") or "/sbin/init",
                volume_paths=_AnyPath(),
            )
        except SpecError as e:
            raise InvalidParameter(str(e)) from None

    def _free_name(self) -> str:
        for attempt in range(20):
            n = "/" + names.generate(retry=attempt // 5)
            if n not in self._names:
                return n
        raise EngineError("could not generate a free container name")

    def _reserve_name(self, canon: str, cid: str) -> None:
        other = self._names.get(canon)
        if other is not None:
            raise Conflict(
                f'Conflict. The container name "{canon}" is already in use by container '
                f'"{other}". You have to remove (or rename) that container to be able to '
                "reuse that name."
            )
        self._names[canon] = cid

    def _make_volumes(self, plans: list[cfgmod.MountPlan]) -> list[dict[str, Any]]:
        """Docker's MountPoint records; named and anonymous volumes are created now."""
        out: list[dict[str, Any]] = []
        for p in plans:
            if p.type == "bind":
                if not os.path.exists(p.source):
                    raise InvalidParameter(
                        f'invalid mount config for type "bind": bind source path does not '
                        f"exist: {p.source}"
                    )
                out.append(
                    {
                        "Type": "bind",
                        "Source": p.source,
                        "Destination": p.destination,
                        "Mode": "ro" if p.read_only else "",
                        "RW": not p.read_only,
                        "Propagation": "rprivate",
                    }
                )
            elif p.type == "volume":
                vol, _new = self.volumes.create(p.source or None)
                if _new:
                    self.events.publish("volume", "create", vol["Name"], {"driver": "local"})
                out.append(
                    {
                        "Type": "volume",
                        "Name": vol["Name"],
                        "Source": vol["Mountpoint"],
                        "Destination": p.destination,
                        "Driver": "local",
                        "Mode": "ro" if p.read_only else "z",
                        "RW": not p.read_only,
                        "Propagation": "",
                        "Anonymous": not p.source,
                        "FromImage": p.from_image,
                    }
                )
            else:
                out.append(
                    {
                        "Type": "tmpfs",
                        "Source": "",
                        "Destination": p.destination,
                        "Mode": ",".join(p.options),
                        "RW": not p.read_only,
                        "Propagation": "",
                        "Unlisted": not p.listed,
                    }
                )
        return out

    def _cleanup_failed_create(self, c: Container) -> None:
        steps: list[Callable[[], object]] = [
            lambda: self.images.remove_use(c.image_id, c.id),
            lambda: self.images.remove_snapshot(c.id),
            lambda: shutil.rmtree(self.cdir(c.id), ignore_errors=True),
        ]
        for step in steps:
            try:
                step()
            except Exception:
                log.debug("cleanup after failed create", exc_info=True)

    # -- start -----------------------------------------------------------------

    def add_attach(self, cid: str, ready: AttachReady) -> Callable[[], None]:
        """Have ``ready`` called at the next start; returns a function that cancels it."""
        with self._lock:
            self._attach_ready.setdefault(cid, []).append(ready)

        def cancel() -> None:
            with self._lock:
                lst = self._attach_ready.get(cid, [])
                if ready in lst:
                    lst.remove(ready)

        return cancel

    def state_dir_of(self, cid: str) -> str:
        return str(self.state_dir(cid))

    def start(self, ref: str) -> None:
        c = self.get(ref)
        with self._oplock(c.id):
            if c.state.status == "paused":
                raise Conflict("cannot start a paused container, try unpause instead")
            if c.state.status in ("running", "restarting"):
                raise NotModified("container already started")
            if c.removing:
                raise Conflict(f"container {c.id} is marked for removal and cannot be started")
            c.manually_stopped = False
            try:
                self._start_locked(c)
            except BaseException as e:
                self._fail_attach_waiters(c.id)
                if c.host_config.get("AutoRemove"):
                    threading.Thread(target=self._auto_remove, args=(c.id,), daemon=True).start()
                msg = str(e)
                if (
                    isinstance(e, EngineError)
                    and not isinstance(e, InvalidParameter)
                    and (
                        "executable file not found" in msg
                        or "no such file" in msg.lower()
                        or "permission denied" in msg.lower()
                    )
                ):
                    raise InvalidParameter(msg) from None
                raise

    def _volume_paths(self, c: Container) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """Host dirs of the container's volumes (named by name, anonymous by target), and
        OCI mounts for the image's declared volumes that no user mount covers."""
        paths: dict[str, str] = {}
        extra: list[dict[str, Any]] = []
        for m in c.mounts:
            if m.get("Type") != "volume":
                continue
            src = self.volumes.mountpoint(m["Name"])
            paths[m["Destination"] if m.get("Anonymous") else m["Name"]] = src
            if m.get("FromImage"):
                extra.append(
                    {
                        "destination": m["Destination"],
                        "type": "bind",
                        "source": src,
                        "options": ["rbind", "rprivate", "rw"],
                    }
                )
        return paths, extra

    def _spec(self, c: Container, files: dict[str, str]) -> dict[str, Any]:
        from dockyard.engine.users import read_in_root
        from dockyard.oci.specgen import SpecError, device_from_stat, generate_spec

        def device_lookup(path: str) -> dict[str, Any]:
            try:
                st = os.stat(path)
            except OSError as e:
                raise InvalidParameter(
                    "error gathering device information while adding custom device "
                    f'"{path}": {errno_text(e)}'
                ) from None
            return device_from_stat(path, st.st_mode, st.st_rdev, st.st_uid, st.st_gid)

        root = str(self.rootfs(c.id))
        body = dict(c.config)
        body["HostConfig"] = c.host_config
        volume_paths, extra = self._volume_paths(c)
        init = shutil.which("docker-init") or shutil.which("tini-static") or shutil.which("tini")
        try:
            spec: dict[str, Any] = generate_spec(
                c.config,
                body,
                rootfs=root,
                hostname=c.config["Hostname"],
                container_id=c.id,
                mounts_extra=extra,
                etc_files={
                    "/etc/hosts": files["hosts"],
                    "/etc/hostname": files["hostname"],
                    "/etc/resolv.conf": files["resolv"],
                },
                passwd=read_in_root(root, "/etc/passwd") or None,
                group=read_in_root(root, "/etc/group") or None,
                volume_paths=volume_paths,
                device_lookup=device_lookup,
                init_path=init,
            )
        except SpecError as e:
            raise InvalidParameter(str(e)) from None
        return spec

    def _start_locked(self, c: Container) -> None:
        from dockyard.engine.monitor.client import spawn_monitor
        from dockyard.engine.monitor.protocol import MonitorOptions

        cid = c.id
        self._clear_runtime_leftovers(c)
        trace.mark("start: leftovers cleared")
        mounts = self.images.mounts(c.image_id, c.snapshot_key)
        mount_rootfs(mounts, self.rootfs(cid))
        trace.mark("start: rootfs mounted")
        try:
            files = write_etc_files(self.cdir(cid), c.config["Hostname"], c.host_config)
            spec = self._spec(c, files)
            trace.mark("start: spec made")
            records.write_atomic(
                self.bundle(cid) / "config.json", json.dumps(spec).encode(), durable=False
            )
            size, nfiles = cfgmod.log_limits(c.host_config)
            opts = MonitorOptions(
                container_id=cid,
                bundle=str(self.bundle(cid)),
                runtime=self.runtime.binary,
                runtime_root=str(self.runtime.root),
                state_dir=str(self.state_dir(cid)),
                log_path=str(self.log_path(cid)),
                log_max_size=size,
                log_max_file=nfiles,
                tty=bool(c.config.get("Tty")),
                stdin=bool(c.config.get("OpenStdin")),
                stdin_once=bool(c.config.get("StdinOnce")),
            )
            handle = spawn_monitor(opts)
            trace.mark("start: monitor ready (runtime created)")
        except BaseException as e:
            self._unmount_quietly(c)
            c.state.error = str(e)
            c.state.exit_code = 128 if isinstance(e, InvalidParameter) else 127
            self._save(c)
            raise
        with self._lock:
            waiters = self._attach_ready.pop(cid, [])
        futs = []
        for ready in waiters:
            try:
                futs.append(ready(self.state_dir_of(cid)))
            except Exception:
                log.debug("attach waiter failed", exc_info=True)
        for f in futs:
            try:
                f.result(timeout=ATTACH_CONNECT_TIMEOUT)
            except Exception:
                log.debug("attach waiter did not connect", exc_info=True)
        trace.mark("start: attach waiters connected")
        pending = handle.begin_wait()  # queued before the process can exit
        try:
            started = handle.start()
            trace.mark("start: runtime started")
        except Exception as e:
            # A process that exits at once can take its monitor down before the reply to
            # "start" is sent; an exit status on disk proves that it did run.
            done = handle.exit_status()
            if done is None:
                pending.close()
                self._start_failed(c, e)
                raise EngineError(str(e)) from None
            started = {"pid": done.get("pid") or 0}
        c.has_been_started = True
        c.state.status = "running"
        c.state.pid = int(started.get("pid") or 0) if isinstance(started, dict) else 0
        if not c.state.pid:
            c.state.pid = self._pid_of(handle)
        c.state.started_at = now_rfc3339()
        c.state.error = ""
        c.state.exit_code = 0
        c.state.finished_at = records.ZERO_TIME
        # No fsync on the `run` path: after a power loss no container runs, and a record
        # that still says "created" is as consistent as one saying "exited (255)".
        self._save(c, durable=False)
        with self._lock:
            self._handles[cid] = handle
            self._exited[cid] = threading.Event()
        self._event(c, "start")
        self._watch(c, handle, pending)
        trace.mark("start: done")

    def _fail_attach_waiters(self, cid: str) -> None:
        """Release clients attached before a start that failed ("" means: no stream)."""
        with self._lock:
            waiters = self._attach_ready.pop(cid, [])
        for ready in waiters:
            with contextlib.suppress(Exception):
                ready("")

    def _start_failed(self, c: Container, e: BaseException) -> None:
        c.state.error = str(e)
        c.state.exit_code = 126 if "permission" in str(e).lower() else 127
        self._save(c)
        self._teardown_runtime(c)

    @staticmethod
    def _pid_of(handle: Any) -> int:
        try:
            st = handle.status()
            if isinstance(st, dict):
                return int(st.get("pid") or st.get("Pid") or 0)
        except Exception:
            pass
        return 0

    def _clear_runtime_leftovers(self, c: Container) -> None:
        """Remove a previous run's runtime state and monitor dir before a new start."""
        self._wait_monitor_gone(c.id)
        if (self.runtime.root / c.id).exists():
            try:
                self.runtime.delete(c.id)
            except EngineError:
                log.debug("runtime delete before start", exc_info=True)
        shutil.rmtree(self.state_dir(c.id), ignore_errors=True)
        self.bundle(c.id).mkdir(parents=True, exist_ok=True)

    def _watch(self, c: Container, handle: Any, pending: Any = None) -> None:
        t = threading.Thread(
            target=self._wait_exit,
            args=(c.id, handle, pending),
            daemon=True,
            name=f"wait-{c.id[:12]}",
        )
        t.start()

    def _wait_exit(self, cid: str, handle: Any, pending: Any = None) -> None:
        try:
            code = pending.result() if pending is not None else handle.wait()
            trace.mark("exit: monitor reported")
        except Exception:
            log.warning("monitor of %s lost", cid[:12], exc_info=True)
            code = None
        if self._closing:
            return  # the daemon is going down; the monitor keeps the container
        status = self._exit_status(handle, code)
        self._on_exit(cid, status)

    @staticmethod
    def _exit_status(handle: Any, code: Any) -> dict[str, Any]:
        if isinstance(code, int):
            st: dict[str, Any] = {"exit_code": code}
        else:
            st = {"exit_code": 255}
        try:
            # The wait's answer holds exit.json's fields; the file is read only without one.
            extra = code if isinstance(code, dict) and "exit_code" in code else None
            if extra is None:
                extra = handle.exit_status()
            if isinstance(extra, dict):
                if "exit_code" in extra:
                    st["exit_code"] = int(extra["exit_code"])
                st["oom_killed"] = bool(extra.get("oom_killed", False))
                st["error"] = str(extra.get("error") or "")
            elif isinstance(extra, int):
                st["exit_code"] = extra
        except Exception:
            pass
        return st

    def _on_exit(self, cid: str, status: dict[str, Any]) -> None:
        # Not under the container's op lock: stop/rm hold it while they wait for this.
        log.debug("container %s exited: %s", cid[:12], status)
        with self._lock:
            c = self._by_id.get(cid)
        if c is None:
            return
        # Unmounted before anyone can see the exit, so that a restart cannot race it.
        self._teardown_runtime(c, monitor_deletes=True)
        trace.mark("exit: runtime torn down")
        with self._lock:
            ran_for = time.time() - records.parse_rfc3339(c.state.started_at)
            c.state.status = "exited"
            c.state.pid = 0
            c.state.exit_code = int(status.get("exit_code", 255))
            c.state.oom_killed = bool(status.get("oom_killed", False))
            c.state.error = str(status.get("error", ""))
            c.state.finished_at = now_rfc3339()
            policy = Policy.from_host_config(c.host_config)
            restart = not c.removing and should_restart(
                policy, c.state.exit_code, c.restart_count, c.manually_stopped
            )
            if restart:
                c.state.status = "restarting"
            # An AutoRemove container is about to go; a crash before that is settled at start.
            # No fsync: a record lost with the power still says "running", and the start
            # after it reads the exit from the monitor's exit.json.
            if restart or not c.host_config.get("AutoRemove"):
                self._save(c, durable=False)
            self._handles.pop(cid, None)
            ev = self._exited.get(cid)
        if c.state.oom_killed:
            self._event(c, "oom")
        self._event(c, "die", exitCode=str(c.state.exit_code))
        trace.mark("exit: die published")
        if ev is not None:
            ev.set()
        if restart:
            delay = next_delay(self._backoff.get(cid, 0.0), ran_for)
            self._backoff[cid] = delay
            timer = threading.Timer(delay, self._restart_after_backoff, args=(cid,))
            timer.daemon = True
            timer.start()
        elif c.host_config.get("AutoRemove") and not c.removing:
            threading.Thread(target=self._auto_remove, args=(cid,), daemon=True).start()

    def _auto_remove(self, cid: str) -> None:
        try:
            self.remove(cid, force=True, volumes=True)
        except NotFound:
            pass
        except Exception:
            log.warning("auto-remove of %s failed", cid[:12], exc_info=True)

    def _restart_after_backoff(self, cid: str) -> None:
        with self._lock:
            c = self._by_id.get(cid)
        if c is None or self._closing:
            return
        with self._oplock(cid):
            if c.state.status != "restarting" or c.manually_stopped or c.removing:
                return
            c.restart_count += 1
            try:
                self._start_locked(c)
            except Exception as e:
                log.warning("restart of %s failed: %s", cid[:12], e)
                c.state.status = "exited"
                c.state.error = str(e)
                self._save(c)
                return
        self._event(c, "restart")

    def _wait_monitor_gone(self, cid: str) -> None:
        """Let a monitor that reported an exit finish deleting the runtime's container."""
        from dockyard.engine.monitor.client import MonitorHandle

        if not self._monitor_finishing(cid):
            return
        if not MonitorHandle(str(self.state_dir(cid))).wait_exited(MONITOR_EXIT_WAIT):
            log.warning("monitor of %s still running after its container exited", cid[:12])

    def _monitor_finishing(self, cid: str) -> bool:
        """Has the monitor reported the exit and not yet exited (so it deletes the
        runtime's container itself)? A monitor left holding a created or running
        container (a daemon killed mid-start) has no exit to report: not finishing."""
        from dockyard.engine.monitor.client import MonitorHandle
        from dockyard.engine.monitor.protocol import EXIT_FILE

        handle = MonitorHandle(str(self.state_dir(cid)))
        return (self.state_dir(cid) / EXIT_FILE).exists() and handle.running_pid() is not None

    def _teardown_runtime(self, c: Container, monitor_deletes: bool = False) -> None:
        """Delete the runtime's container and unmount the root.

        After an exit the monitor deletes the runtime's container itself, after it has
        reported the exit (off the `run` path): with ``monitor_deletes`` it is left to a
        monitor that still runs. Only a crash leaves one behind for us."""
        if monitor_deletes and self._monitor_finishing(c.id):
            self._unmount_quietly(c)
            return
        if (self.runtime.root / c.id).exists():
            try:
                self.runtime.delete(c.id)
            except EngineError:
                log.debug("runtime delete", exc_info=True)
        self._unmount_quietly(c)

    def _after_monitor(self, c: Container) -> None:
        """Once a removed container's monitor is gone, delete what it may have left."""
        self._wait_monitor_gone(c.id)
        if (self.runtime.root / c.id).exists():
            try:
                self.runtime.delete(c.id)
            except EngineError:
                log.debug("runtime delete after the monitor", exc_info=True)

    def _unmount_quietly(self, c: Container) -> None:
        try:
            unmount_rootfs(self.rootfs(c.id))
        except EngineError:
            log.warning("unmount of %s failed", c.id[:12], exc_info=True)

    # -- stop / kill / restart / pause -------------------------------------------

    def _signal(self, c: Container, sig: int) -> None:
        from dockyard.engine.monitor.client import MonitorError

        with self._lock:
            handle = self._handles.get(c.id)
        if handle is None:
            raise Conflict(f"Container {c.id} is not running")
        try:
            handle.kill(sig)
        except MonitorError as e:
            if "not running" in str(e) or "gone" in type(e).__name__.lower():
                raise Conflict(f"Container {c.id} is not running") from None
            raise EngineError(str(e)) from None

    def kill(self, ref: str, sig_name: str | None) -> None:
        c = self.get(ref)
        sig = parse_signal(sig_name)
        with self._oplock(c.id):
            if c.state.status not in ("running", "paused"):
                raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
            if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
                c.manually_stopped = True
            self._signal(c, sig)
        self._event(c, "kill", signal=str(sig))

    def stop(self, ref: str, timeout: int | None, sig_name: str | None = None) -> None:
        c = self.get(ref)
        with self._oplock(c.id):
            if c.state.status == "restarting":
                c.manually_stopped = True
                c.state.status = "exited"
                self._save(c)
                return
            if c.state.status not in ("running", "paused"):
                raise NotModified("container already stopped")
            c.manually_stopped = True
            self._save(c)
            self._stop_locked(c, timeout, sig_name)
        self._event(c, "stop")

    def _stop_locked(self, c: Container, timeout: int | None, sig_name: str | None) -> None:
        if timeout is None:
            st = c.config.get("StopTimeout")
            timeout = int(st) if st is not None else 10
        sig = parse_signal(sig_name or c.config.get("StopSignal") or "SIGTERM")
        ev = self._exited.get(c.id) or threading.Event()
        if c.state.status == "paused":
            # A frozen process cannot handle its stop signal; Docker kills it outright.
            sig = signal.SIGKILL
            try:
                self._signal(c, sig)
                self.runtime.resume(c.id)
            except EngineError:
                pass
            self._event(c, "kill", signal=str(int(sig)))
        else:
            try:
                self._signal(c, sig)
                self._event(c, "kill", signal=str(int(sig)))
            except Conflict:
                timeout = 0  # already on its way out: only its exit is left to wait for
        if timeout < 0:
            ev.wait()
            return
        if sig != signal.SIGKILL and not ev.wait(timeout):
            # "Not running" here means the exit is already in flight.
            with contextlib.suppress(Conflict):
                self._signal(c, signal.SIGKILL)
                self._event(c, "kill", signal=str(int(signal.SIGKILL)))
        if not ev.wait(STOP_EXIT_WAIT):
            raise EngineError(f"container {c.id} did not exit after SIGKILL")

    def restart(self, ref: str, timeout: int | None, sig_name: str | None = None) -> None:
        c = self.get(ref)
        with self._oplock(c.id):
            if c.state.status in ("running", "paused"):
                c.manually_stopped = True
                self._stop_locked(c, timeout, sig_name)
                # _on_exit runs in the watcher thread: wait for it to settle the record.
                self._wait_settled(c)
            c.manually_stopped = False
            c.state.status = "exited" if c.state.status == "restarting" else c.state.status
            self._start_locked(c)
        self._event(c, "restart")

    def _wait_settled(self, c: Container, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while c.id in self._handles and time.monotonic() < end:
            time.sleep(0.01)

    def pause(self, ref: str) -> None:
        c = self.get(ref)
        with self._oplock(c.id):
            if c.state.status == "paused":
                raise Conflict(f"Container {c.id} is already paused")
            if c.state.status != "running":
                raise Conflict(f"Container {c.id} is not running")
            self.runtime.pause(c.id)
            c.state.status = "paused"
            self._save(c)
        self._event(c, "pause")

    def unpause(self, ref: str) -> None:
        c = self.get(ref)
        with self._oplock(c.id):
            if c.state.status != "paused":
                raise Conflict(f"Container {c.id} is not paused")
            self.runtime.resume(c.id)
            c.state.status = "running"
            self._save(c)
        self._event(c, "unpause")

    # -- remove / rename ---------------------------------------------------------

    def remove(self, ref: str, force: bool, volumes: bool) -> None:
        c = self.get(ref)
        with self._oplock(c.id):
            if c.id not in self._by_id:
                raise no_such_container(ref)
            if c.state.status in ("running", "paused", "restarting"):
                if not force:
                    what = "paused" if c.state.status == "paused" else "running"
                    raise Conflict(
                        f"You cannot remove a {what} container {c.id}. Stop the container "
                        "before attempting removal or force remove"
                    )
                c.manually_stopped = True
                if c.state.status == "restarting":
                    c.state.status = "exited"
                else:
                    self._stop_locked(c, 0, "SIGKILL")
                    self._wait_settled(c)
            c.removing = True
            c.state.status = "removing"
            # An AutoRemove container is removed at start whatever its record says (as
            # "removing", or "running" with its monitor gone): no fsync on `run --rm`'s path.
            self._save(c, durable=not c.host_config.get("AutoRemove"))
            self._finish_remove(c, volumes)
        log.debug("container %s removed", c.id[:12])
        self._event(c, "destroy")
        trace.mark("rm: destroy published")

    def _finish_remove(self, c: Container, volumes: bool) -> None:
        """Every step is idempotent, so a removal cut short by a crash is redone at start."""
        self._teardown_runtime(c, monitor_deletes=True)
        trace.mark("rm: runtime torn down")
        try:
            self.images.remove_snapshot(c.snapshot_key)
            trace.mark("rm: snapshot removed")
        except Exception:
            log.warning("removing the snapshot of %s", c.id[:12], exc_info=True)
        try:
            self.images.remove_use(c.image_id, c.id)
        except Exception:
            log.debug("remove image use", exc_info=True)
        with self._lock:
            self._by_id.pop(c.id, None)
            self._gone.add(c.id)
            if self._names.get(c.name) == c.id:
                del self._names[c.name]
            self._exited.pop(c.id, None)
            self._backoff.pop(c.id, None)
        if volumes:
            for m in c.mounts:
                if m.get("Type") == "volume" and m.get("Anonymous"):
                    try:
                        self.volumes.remove(m["Name"])
                        self.events.publish("volume", "destroy", m["Name"], {"driver": "local"})
                    except EngineError:
                        pass
        # The record goes last: until then a restarted daemon knows to finish the job.
        with contextlib.suppress(FileNotFoundError):
            (self.cdir(c.id) / records.RECORD_FILE).unlink()
        # What is left holds nothing anyone needs (logs, monitor state, an unmounted
        # bundle): deleted off the request's path; a crash leaves it to the sweep at start.
        _discard(
            [self.state_dir(c.id), self.bundle(c.id), self.cdir(c.id)],
            before=lambda: self._after_monitor(c),
        )

    def rename(self, ref: str, new_name: str) -> None:
        if not new_name:
            raise InvalidParameter("Neither old nor new names may be empty")
        c = self.get(ref)  # first, as dockerd: an unknown container is the error to report
        canon = "/" + new_name.removeprefix("/")
        with self._lock:
            if canon == c.name:
                raise InvalidParameter(
                    "Renaming a container with the same name as its current name"
                )
            try:
                self._reserve_name(names.validate(canon), c.id)
            except (InvalidParameter, Conflict) as e:
                raise type(e)(f"Error when allocating new name: {e}") from None
            old = c.name
            del self._names[old]
            c.name = canon
            self._save(c)
        self._event(c, "rename", oldName=old)

    # -- read-only views ---------------------------------------------------------

    def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        c = self.get(ref)
        return inspect_json(c, self.file_paths(c.id), self._size(c) if size else None)

    def _size(self, c: Container) -> tuple[int, int]:
        try:
            upper = self.images.upper_dir(c.snapshot_key)
        except Exception:
            return 0, 0
        rw = _du(upper)
        return rw, rw

    def list_containers(
        self, all_: bool, limit: int | None, size: bool, filters: Filters
    ) -> list[dict[str, Any]]:
        for st in filters.get("status", []):
            if st not in STATUSES:
                raise InvalidParameter(f"Invalid filter 'status={st}'")
        is_task(filters)  # validated before anything is listed
        with self._lock:
            items = sorted(self._by_id.values(), key=lambda c: c.created, reverse=True)
        if filters.get("status") or filters.get("exited"):
            all_ = True
        out = []
        for c in items:
            if (
                not all_
                and limit in (None, 0, -1)
                and c.state.status not in ("running", "paused", "restarting")
            ):
                continue
            if not self._match(c, filters):
                continue
            out.append(c)
        if limit is not None and limit > 0:
            out = out[:limit]
        return [
            list_json(
                c,
                self.images.display_name(c.image_id, c.image_ref),
                self._size(c) if size else None,
            )
            for c in out
        ]

    def _match(self, c: Container, f: Filters) -> bool:
        st = c.state.status
        checks: list[bool] = []
        if "status" in f:
            checks.append(st in f["status"])
        if "name" in f:
            checks.append(
                any(name_matches(c.short_name, n) or name_matches(c.name, n) for n in f["name"])
            )
        if "id" in f:
            checks.append(any(c.id.startswith(i) for i in f["id"]))
        if "label" in f:
            checks.append(match_labels(c.config.get("Labels") or {}, f["label"]))
        if "ancestor" in f:
            checks.append(
                any(
                    a in (c.image_ref, c.image_id)
                    or c.image_id.startswith("sha256:" + a)
                    or c.image_ref.split(":")[0] == a
                    for a in f["ancestor"]
                )
            )
        if "exited" in f:
            checks.append(st == "exited" and str(c.state.exit_code) in f["exited"])
        if "volume" in f:
            checks.append(
                any(
                    m.get("Name") in f["volume"] or m.get("Destination") in f["volume"]
                    for m in c.mounts
                )
            )
        if "network" in f:
            checks.append((c.host_config.get("NetworkMode") or "none") in f["network"])
        if "is-task" in f:
            checks.append(not is_task(f))  # a container here is never a swarm task
        return all(checks)

    def is_running(self, cid: str) -> bool:
        with self._lock:
            c = self._by_id.get(cid)
            return c is not None and c.state.status in ("running", "paused", "restarting")

    def handle(self, cid: str) -> Any:
        with self._lock:
            h = self._handles.get(cid)
        if h is None:
            raise Conflict(f"Container {cid} is not running")
        return h

    # -- filesystem and resources ------------------------------------------------

    @contextlib.contextmanager
    def mounted_rootfs(self, ref: str) -> Iterator[tuple[Container, str]]:
        """The container's root, mounted for the duration (already mounted while it runs)."""
        c = self.get(ref)
        with self._oplock(c.id):
            target = self.rootfs(c.id)
            if os.path.ismount(target):
                yield c, str(target)
                return
            mount_rootfs(self.images.mounts(c.image_id, c.snapshot_key), target)
            try:
                yield c, str(target)
            finally:
                if not self.is_running(c.id):
                    self._unmount_quietly(c)

    def changes(self, ref: str) -> list[dict[str, Any]]:
        from dockyard.engine.archive import changes_json
        from dockyard.store.layers import changes

        c = self.get(ref)
        upper = self.images.upper_dir(c.snapshot_key)
        lowers: list[Path] = []
        for m in self.images.mounts(c.image_id, c.snapshot_key):
            for o in m.options:
                if o.startswith("lowerdir="):
                    lowers += [Path(x) for x in o[len("lowerdir=") :].split(":") if x]
        return changes_json(changes(upper, lowers, OWN_MOUNT_POINTS))

    def export(self, ref: str, out: BinaryIO) -> None:
        from dockyard.store.layers import write_tree

        with self.mounted_rootfs(ref) as (c, root):
            write_tree(Path(root), out)
        self._event(c, "export")

    def _copy_mounts(self, c: Container) -> list[MountPoint]:
        """What a copy sees over the rootfs: volumes, binds and the /etc files, as Docker."""
        from dockyard.engine.mountpoints import mount_points

        return mount_points(c.mounts, self.cdir(c.id))

    @contextlib.contextmanager
    def _copying(self, ref: str) -> Iterator[tuple[Container, str]]:
        """The mounted rootfs for a copy; a missing path is reported with the container's
        name as the client gave it, as dockerd does."""
        from dockyard.engine.archive import NoSuchPath

        try:
            with self.mounted_rootfs(ref) as (c, root):
                yield c, root
        except NoSuchPath as e:
            raise NoSuchPath(e.path, ref) from None

    def archive_stat(self, ref: str, path: str) -> PathStat:
        from dockyard.engine.archive import stat_path

        with self._copying(ref) as (c, root):
            return stat_path(root, path, self._copy_mounts(c))

    def archive_get(self, ref: str, path: str, out: BinaryIO) -> None:
        from dockyard.engine.archive import write_archive

        with self._copying(ref) as (c, root):
            write_archive(root, path, out, self._copy_mounts(c))
        self._event(c, "archive-path")

    def archive_put(self, ref: str, path: str, stream: BinaryIO) -> None:
        from dockyard.engine.archive import put_archive

        with self._copying(ref) as (c, root):
            ro = bool(c.host_config.get("ReadonlyRootfs"))
            put_archive(root, path, stream, self._copy_mounts(c), read_only_rootfs=ro)
        self._event(c, "extract-to-dir")

    def top(self, ref: str, ps_args: str) -> dict[str, Any]:
        from dockyard.engine.resources import require_pid, top

        c = self.get(ref)
        if c.state.status not in ("running", "paused"):
            raise Conflict(f"Container {c.id} is not running")
        return top(require_pid(c.state.pid, c.id), ps_args)

    def stats_sample(self, ref: str) -> dict[str, Any]:
        from dockyard.engine.resources import empty_sample, sample

        c = self.get(ref)
        if c.state.status not in ("running", "paused") or c.state.pid <= 0:
            out = empty_sample()
        else:
            out = sample(c.state.pid)
        out["name"] = c.name
        out["id"] = c.id
        return out

    def update(self, ref: str, body: dict[str, Any]) -> list[str]:
        from dockyard.engine.resources import resources_from_update

        c = self.get(ref)
        cfgmod.check_cpusets(body, *host_cpusets())
        with self._oplock(c.id):
            conflict = cfgmod.swap_conflict(c.host_config, body)
            if conflict is not None:
                raise Conflict(f"Cannot update container {c.id}: {conflict}")
            if body.get("Memory") and not body.get("MemorySwap"):
                # The swap limit in force stays; with none, memory+swap stays unlimited.
                body = dict(body, MemorySwap=cfgmod.swap_in_force(c.host_config))
            res = resources_from_update(body)
            if "RestartPolicy" in body and body["RestartPolicy"] is not None:
                hc = dict(c.host_config, RestartPolicy=body["RestartPolicy"])
                Policy.from_host_config(hc)
                c.host_config["RestartPolicy"] = body["RestartPolicy"]
            if res and c.state.status in ("running", "paused"):
                self.runtime.update(c.id, res)
            for key in (
                "Memory",
                "MemorySwap",
                "MemoryReservation",
                "NanoCpus",
                "CpuQuota",
                "CpuPeriod",
                "CpuShares",
                "CpusetCpus",
                "CpusetMems",
                "PidsLimit",
            ):
                if body.get(key):
                    c.host_config[key] = body[key]
            self._save(c)
        self._event(c, "update")
        return []

    # -- recovery ----------------------------------------------------------------

    def load(self) -> None:
        """Read every record, finish interrupted removals, re-attach to live monitors."""
        from dockyard.engine.monitor.client import MonitorHandle

        to_restart: list[Container] = []
        for d in sorted(self.containers_dir.iterdir()):
            if not _is_container_id(d.name) or not d.is_dir():
                continue
            try:
                c = records.load(d)
            except (ValueError, OSError) as e:
                log.warning("skipping unreadable container record %s: %s", d.name, e)
                continue
            if c is None:
                # A create cut short before its record was written: sweep what it left.
                shutil.rmtree(d, ignore_errors=True)
                with contextlib.suppress(Exception):
                    self.images.remove_snapshot(d.name)
                continue
            with self._lock:
                self._by_id[c.id] = c
                self._names[c.name] = c.id
            if c.removing:
                self._finish_remove(c, volumes=False)
                continue
            if c.state.status in ("running", "paused", "restarting"):
                handle = MonitorHandle(str(self.state_dir(c.id)))
                alive = False
                try:
                    alive = bool(handle.alive())
                except Exception:
                    alive = False
                if alive and c.state.status != "restarting":
                    with self._lock:
                        self._handles[c.id] = handle
                        self._exited[c.id] = threading.Event()
                    self._watch(c, handle)
                    continue
                self._wait_monitor_gone(c.id)  # one that is finishing writes exit.json
                status = self._exit_status(handle, None)
                if (self.state_dir(c.id) / "exit.json").exists():
                    c.state.exit_code = int(status.get("exit_code", 255))
                else:
                    c.state.exit_code = 255  # the monitor died with the machine
                c.state.status = "exited"
                c.state.pid = 0
                c.state.finished_at = now_rfc3339()
                self._teardown_runtime(c)
                self._save(c)
                policy = Policy.from_host_config(c.host_config)
                if restart_at_daemon_start(policy, c.manually_stopped) and should_restart(
                    policy, c.state.exit_code, c.restart_count, False
                ):
                    to_restart.append(c)
                elif c.host_config.get("AutoRemove"):
                    self._auto_remove(c.id)
        self._sweep_exec_root()
        threading.Thread(target=self._prestart_launcher, daemon=True, name="launcher").start()
        for c in to_restart:
            try:
                with self._oplock(c.id):
                    self._start_locked(c)
            except Exception as e:
                log.warning("restarting %s at daemon start failed: %s", c.id[:12], e)

    def _prestart_launcher(self) -> None:
        """Have the monitor launcher ready before the first start needs it (its interpreter
        and imports take a tenth of a second)."""
        from dockyard.engine.monitor.client import prestart_launcher

        try:
            prestart_launcher(str(self.exec_root / "monitors"))
        except Exception:
            log.debug("monitor launcher prestart", exc_info=True)

    def _sweep_exec_root(self) -> None:
        """Bundles and monitor dirs of containers that no longer exist (a removal cut short)."""
        for sub in ("containers", "monitors"):
            base = self.exec_root / sub
            for d in base.iterdir() if base.exists() else []:
                # Only container dirs (64 hex digits); the monitor launcher keeps its own
                # files next to them.
                if d.name in self._by_id or not _is_container_id(d.name) or not d.is_dir():
                    continue
                if sub == "containers":
                    with contextlib.suppress(EngineError):
                        unmount_rootfs(d / "rootfs")
                    if os.path.ismount(d / "rootfs"):
                        continue
                shutil.rmtree(d, ignore_errors=True)

    @property
    def closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Daemon shutdown: stop watching; containers keep running under their monitors."""
        self._closing = True


def _is_container_id(name: str) -> bool:
    return len(name) == 64 and all(ch in "0123456789abcdef" for ch in name)


def _discard(dirs: list[Path], before: Callable[[], None] | None = None) -> None:
    def run() -> None:
        if before is not None:
            try:
                before()
            except Exception:
                log.warning("cleanup before discarding %s", dirs[0], exc_info=True)
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)

    threading.Thread(target=run, daemon=True, name="discard").start()


class _AnyPath(dict[str, str]):
    """volume_paths for a dry run: every volume resolves to a placeholder."""

    def __init__(self) -> None:
        super().__init__({"": "/nonexistent"})  # never empty, hence never falsy

    def get(self, key: str, default: Any = None) -> str:
        return "/nonexistent"

    def __missing__(self, key: str) -> str:
        return "/nonexistent"


def _du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total
