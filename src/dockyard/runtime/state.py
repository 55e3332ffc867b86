"""A container's state dir (<root>/<id>/): state.json, written atomically, and the exec fifo."""

from __future__ import annotations

import os
import time

from dockyard.linux.process import is_alive
from dockyard.oci import fastjson
from dockyard.runtime.errors import ContainerExists, ContainerNotFound, UsageError
from dockyard.runtime.record import as_dict, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.0.2"
DEFAULT_ROOT = "/run/dockyard-runc"
STATE_FILE = "state.json"
FIFO_NAME = "exec.fifo"

_ID_EXTRA = set("+.-_")


def check_id(cid: str) -> str:
    if (
        not cid
        or cid in (".", "..")
        or not all(c.isalnum() or c in _ID_EXTRA for c in cid)
        or len(cid) > 1024
    ):
        raise UsageError(f"invalid container id {cid!r}")
    return cid


def rfc3339_now() -> str:
    now = time.time()
    frac = f"{now % 1:.9f}"[1:]
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + frac + "Z"


@record
class State:
    id: str
    bundle: str
    rootfs: str
    created: str
    config: dict[str, Any]
    pid: int = 0
    pid_start: int | None = None
    annotations: dict[str, str] = {}  # noqa: RUF012 (@record copies it)
    cgroups_path: str = ""
    systemd_cgroup: bool = False
    has_cgroup: bool = False
    paused: bool = False
    owner: str = ""

    def to_json(self) -> dict[str, Any]:
        return as_dict(self)


def container_dir(root: str, cid: str) -> str:
    return os.path.join(root, check_id(cid))


def fifo_path(root: str, cid: str) -> str:
    return os.path.join(container_dir(root, cid), FIFO_NAME)


def reserve(root: str, cid: str) -> str:
    """Create the state dir; mkdir's atomicity is what refuses a duplicate id."""
    os.makedirs(root, mode=0o711, exist_ok=True)
    d = container_dir(root, cid)
    try:
        os.mkdir(d, 0o711)
    except FileExistsError:
        raise ContainerExists(cid) from None
    return d


def save(root: str, st: State) -> None:
    d = container_dir(root, st.id)
    tmp = os.path.join(d, f".{STATE_FILE}.{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(fastjson.dumps(st.to_json()))
    os.rename(tmp, os.path.join(d, STATE_FILE))


def load(root: str, cid: str) -> State:
    path = os.path.join(container_dir(root, cid), STATE_FILE)
    try:
        with open(path) as f:
            data = fastjson.loads(f.read())
    except FileNotFoundError:
        raise ContainerNotFound(cid) from None
    except ValueError as e:
        raise ContainerNotFound(f"{cid} (unreadable state: {e})") from None
    return State(**data)


def list_ids(root: str) -> list[str]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [n for n in names if os.path.exists(os.path.join(root, n, STATE_FILE))]


def status(root: str, st: State) -> str:
    if st.pid <= 0 or not is_alive(st.pid, st.pid_start):
        return "stopped"
    if os.path.exists(fifo_path(root, st.id)):
        return "created"
    return "paused" if st.paused else "running"


def oci_state(root: str, st: State) -> dict[str, Any]:
    """The runtime-spec state document (plus runc's rootfs, created and owner)."""
    s = status(root, st)
    return {
        "ociVersion": OCI_VERSION,
        "id": st.id,
        "pid": st.pid if s != "stopped" else 0,
        "status": s,
        "bundle": st.bundle,
        "rootfs": st.rootfs,
        "created": st.created,
        "owner": st.owner,
        "annotations": st.annotations,
    }


def hook_state(st: State, status_: str, pid: int | None = None) -> bytes:
    doc = {
        "ociVersion": OCI_VERSION,
        "id": st.id,
        "status": status_,
        "pid": st.pid if pid is None else pid,
        "bundle": st.bundle,
        "annotations": st.annotations,
    }
    return fastjson.dumps(doc).encode()
