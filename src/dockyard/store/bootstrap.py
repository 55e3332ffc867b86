"""The embedded base image: ``busybox:latest`` made from the host's static busybox.

The layer is built deterministically (sorted entries, fixed mtimes and owners) and the config
has a fixed creation date, so the same busybox binary gives the same image id on any machine.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.oci.image import canonical_json
from dockyard.oci.platform import host_platform
from dockyard.store.errors import StoreError
from dockyard.store.images import ImageStore, LayerInput

BUSYBOX = Path("/bin/busybox")
FIXED_MTIME = 946684800  # 2000-01-01T00:00:00Z
FIXED_CREATED = "2000-01-01T00:00:00Z"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "bin:x:2:2:bin:/bin:/bin/false\n"
    "sys:x:3:3:sys:/dev:/bin/false\n"
    "www-data:x:33:33:www-data:/var/www:/bin/false\n"
    "nobody:x:65534:65534:nobody:/home:/bin/false\n"
)
GROUP = (
    "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\n"
    "wheel:x:10:root\nwww-data:x:33:\nusers:x:100:\nnogroup:x:65534:\n"
)
DIRS = {
    "bin": 0o755,
    "dev": 0o755,
    "etc": 0o755,
    "home": 0o755,
    "proc": 0o755,
    "root": 0o700,
    "sys": 0o755,
    "tmp": 0o1777,
    "usr": 0o755,
    "usr/sbin": 0o755,
    "var": 0o755,
    "var/spool": 0o755,
    "var/spool/mail": 0o755,
    "var/www": 0o755,
}


class BootstrapError(StoreError):
    """The base image cannot be built on this machine."""


def ensure_busybox(path: Path = BUSYBOX) -> Path:
    """The static busybox, installing Debian's busybox-static when it is missing."""
    if path.is_file():
        return path
    apt = shutil.which("apt-get")
    if apt is None:
        raise BootstrapError(
            f"{path} is missing and apt-get is not available: install busybox-static"
        )
    result = subprocess.run(
        [apt, "install", "-y", "--no-install-recommends", "busybox-static"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not path.is_file():
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BootstrapError(f"cannot install busybox-static with apt-get: {last}")
    return path


def applets(busybox: Path) -> list[str]:
    out = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    return sorted({a for a in out if a and "/" not in a and a != "busybox"})


def busybox_version(busybox: Path) -> str:
    out = subprocess.run([str(busybox)], capture_output=True, text=True, check=False).stdout
    first = out.splitlines()[0] if out else ""
    return first.split(" multi-call")[0].strip() or "BusyBox"


def _info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = link
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def busybox_layer(busybox: Path) -> bytes:
    """The layer tar, byte-for-byte the same for the same busybox binary."""
    data = busybox.read_bytes()
    entries: list[tuple[str, tarfile.TarInfo, bytes | None]] = []
    for d, mode in DIRS.items():
        entries.append((d, _info(d + "/", tarfile.DIRTYPE, mode), None))
    entries.append(("bin/busybox", _info("bin/busybox", tarfile.REGTYPE, 0o755, len(data)), data))
    for name in applets(busybox):
        path = f"bin/{name}"
        entries.append((path, _info(path, tarfile.SYMTYPE, 0o777, link="busybox"), None))
    for path, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
        content = text.encode()
        entries.append((path, _info(path, tarfile.REGTYPE, 0o644, len(content)), content))
    entries.append(("etc/shadow", _info("etc/shadow", tarfile.REGTYPE, 0o640, 0), b""))
    entries.sort(key=lambda e: e[0])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for _, info, body in entries:
            tf.addfile(info, io.BytesIO(body) if body is not None else None)
    return buf.getvalue()


def busybox_config(diff_id: Digest, version: str, architecture: str, variant: str) -> bytes:
    body: dict[str, object] = {
        "architecture": architecture,
        "os": "linux",
        "created": FIXED_CREATED,
        "config": {"Env": [f"PATH={DEFAULT_PATH}"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [str(diff_id)]},
        "history": [
            {
                "created": FIXED_CREATED,
                "created_by": f"dockyard bootstrap: {version} from Debian busybox-static",
            },
            {"created": FIXED_CREATED, "created_by": 'CMD ["sh"]', "empty_layer": True},
        ],
    }
    if variant:
        body["variant"] = variant
    return canonical_json(body)


def bootstrap_busybox(
    store: ImageStore, ref: str = "busybox:latest", busybox: Path = BUSYBOX
) -> str:
    """Build (or find) ``busybox:latest`` from the host's busybox; returns the image id."""
    binary = ensure_busybox(busybox)
    layer = busybox_layer(binary)
    plat = host_platform()
    # One operation for the layer and the image: the lease keeps the new layer blob from
    # being swept before the image that uses it is registered.
    with store.operation() as op:
        digest = op.put_bytes(layer)
        config = busybox_config(digest, busybox_version(binary), plat.architecture, plat.variant)
        inputs = [LayerInput(digest, mt.OCI_LAYER, digest, len(layer))]
        return store.create_image_in(op, config, inputs, ref)
