"""`dockyardd`: the daemon's command line, start-up (recovery) and graceful shutdown."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger("dockyardd")

DEFAULT_DATA_ROOT = "/var/lib/dockyard"
DEFAULT_EXEC_ROOT = "/run/dockyard"
DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"
# Blocking engine calls (start, stop with its timeout…) run in this many threads.
WORKERS = 64


class DaemonError(Exception):
    """The daemon cannot start (bad flag, socket in use, another daemon on this root)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dockyardd", description="dockyard's container daemon")
    p.add_argument(
        "--data-root",
        default=os.environ.get("DOCKYARD_ROOT", DEFAULT_DATA_ROOT),
        help="persistent state (default: %(default)s, env DOCKYARD_ROOT)",
    )
    p.add_argument(
        "--exec-root",
        default=os.environ.get("DOCKYARD_EXEC_ROOT", DEFAULT_EXEC_ROOT),
        help="runtime state: monitors, bundles (default: %(default)s)",
    )
    p.add_argument(
        "-H",
        "--host",
        default=os.environ.get("DOCKYARD_HOST", DEFAULT_HOST),
        help="API socket, unix:///path (default: %(default)s, env DOCKYARD_HOST)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warn", "warning", "error", "fatal"],
    )
    p.add_argument(
        "--runtime",
        default=None,
        help="OCI runtime binary (default: dockyard-runc if it works, else runc; "
        "env DOCKYARD_RUNTIME)",
    )
    p.add_argument(
        "-p", "--pidfile", default=None, help="pid file (default: EXEC_ROOT/dockyardd.pid)"
    )
    p.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST[:PORT]|CIDR",
        help="registry reachable over plain HTTP or unverified TLS (repeatable; "
        "env DOCKYARD_INSECURE_REGISTRIES, comma-separated)",
    )
    p.add_argument(
        "--default-registry",
        default=None,
        metavar="HOST[:PORT]",
        help="registry for unqualified names such as busybox (env DOCKYARD_DEFAULT_REGISTRY)",
    )
    p.add_argument(
        "--registry-certs",
        default=None,
        metavar="DIR",
        help="certs.d-style directory of registry CA certificates and client keys "
        "(env DOCKYARD_CERTS_D)",
    )
    return p.parse_args(argv)


def registry_environment(args: argparse.Namespace, env: dict[str, str]) -> dict[str, str]:
    """The DOCKYARD_* variables the registry flags set; dockyard.distribution reads them per
    request. Insecure registries add to those the environment already lists."""
    out: dict[str, str] = {}
    if args.insecure_registry:
        current = [p.strip() for p in env.get("DOCKYARD_INSECURE_REGISTRIES", "").split(",")]
        wanted = [p for p in current if p]
        for entry in args.insecure_registry:
            entry = entry.strip()
            for prefix in ("http://", "https://"):
                entry = entry.removeprefix(prefix)
            if not entry or "," in entry:
                raise DaemonError(f"invalid --insecure-registry {entry!r}")
            if entry not in wanted:
                wanted.append(entry)
        out["DOCKYARD_INSECURE_REGISTRIES"] = ",".join(wanted)
    if args.default_registry is not None:
        value = args.default_registry.strip().removeprefix("https://").removeprefix("http://")
        if not value or "/" in value.rstrip("/"):
            raise DaemonError(f"invalid --default-registry {args.default_registry!r}: HOST[:PORT]")
        out["DOCKYARD_DEFAULT_REGISTRY"] = value.rstrip("/")
    if args.registry_certs is not None:
        out["DOCKYARD_CERTS_D"] = str(Path(args.registry_certs).resolve())
    return out


def socket_path(host: str) -> str:
    if host.startswith("unix://"):
        return host[len("unix://") :]
    if host.startswith("/"):
        return host
    raise DaemonError(f"unsupported -H {host!r}: only unix:///path sockets are served")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def take_pidfile(path: Path) -> None:
    """Write our pid; refuse if a live daemon already holds this file."""
    try:
        old = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        old = 0
    if old and old != os.getpid() and _pid_alive(old):
        try:
            cmdline = Path(f"/proc/{old}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if b"dockyardd" in cmdline or b"dockyard.api.daemon" in cmdline:
            raise DaemonError(f"dockyardd is already running (pid {old}, pid file {path})")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, path)


DATA_ROOT_LOCK = "dockyardd.lock"


def lock_data_root(data_root: Path) -> int:
    """Hold an exclusive flock on DATA_ROOT/dockyardd.lock for the daemon's life: two
    daemons on one data root would each believe they own every container and image.
    The lock goes with the process (a SIGKILL leaves nothing to clean); it holds our pid."""
    import fcntl

    fd = os.open(data_root / DATA_ROOT_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise DaemonError(
            f"dockyardd is already running on data root {data_root} (pid {holder})"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _socket_in_use(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(1)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def make_images(data_root: Path) -> tuple[Any, Any]:
    """The store-backed image backend and the ImageStore itself."""
    from dockyard.engine.images import StoreImages

    backend = StoreImages(data_root / "image")
    return backend, backend.store


async def serve(args: argparse.Namespace) -> int:
    from dockyard.api import version
    from dockyard.api.app import App
    from dockyard.api.http import Server
    from dockyard.engine.containers import Engine
    from dockyard.engine.events import EventBus
    from dockyard.engine.execs import Execs
    from dockyard.engine.runtime import choose_runtime

    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="api"))
    data_root = Path(args.data_root).resolve()
    exec_root = Path(args.exec_root).resolve()
    sock = socket_path(args.host)
    data_root.mkdir(parents=True, exist_ok=True, mode=0o710)
    exec_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock_data_root(data_root)  # (kept open until the process ends)
    take_pidfile(Path(args.pidfile) if args.pidfile else exec_root / "dockyardd.pid")
    if os.path.exists(sock):
        if _socket_in_use(sock):
            raise DaemonError(f"socket {sock} is in use by another daemon")
        os.unlink(sock)
    os.makedirs(os.path.dirname(sock) or ".", exist_ok=True)

    runtime = choose_runtime(args.runtime)
    events = EventBus()
    images, image_store = make_images(data_root)
    engine = Engine(data_root, exec_root, runtime, images, events)
    await asyncio.to_thread(engine.load)
    app = App(
        engine=engine,
        events=events,
        execs=Execs(engine),
        image_store=image_store,
        data_root=data_root,
        exec_root=exec_root,
        runtime=runtime,
    )
    server = Server(app.handle, version.base_headers)
    old_umask = os.umask(0o117)
    try:
        await server.start_unix(sock)
    finally:
        os.umask(old_umask)
    os.chmod(sock, 0o660)
    os.chown(sock, 0, 0)
    log.info(
        "dockyardd %s serving on unix://%s (data %s, runtime %s)",
        version.ENGINE_VERSION,
        sock,
        data_root,
        runtime,
    )

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down; containers keep running under their monitors")
    engine.close()
    await server.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sock)
    pid = Path(args.pidfile) if args.pidfile else exec_root / "dockyardd.pid"
    with contextlib.suppress(FileNotFoundError):
        if pid.read_text().strip() == str(os.getpid()):
            pid.unlink()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        os.environ.update(registry_environment(args, dict(os.environ)))
    except DaemonError as e:
        print(f"dockyardd: {e}", file=sys.stderr)
        return 1
    level = {"warn": "WARNING", "fatal": "CRITICAL"}.get(args.log_level, args.log_level.upper())
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        return asyncio.run(serve(args))
    except DaemonError as e:
        print(f"dockyardd: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
