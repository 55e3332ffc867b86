"""Push and pull of a ≥ 200 MB multi-layer image: dockyard (CLI → dockyardd) vs docker (CLI →
Debian's dockerd), against dockyard-hub and Debian's docker-registry (registry:2), loopback only.

The image (many small files, a few big ones, several gzip layers) is built into a scratch
store, saved with the store's ``save`` (docker-archive) and loaded into both daemons, which
run in their own temporary roots. Each round starts fresh registries (so every push uploads),
pushes from both daemons into both registries, then times pulls of the repository dockyard
pushed (same blobs for both pullers), after removing the image from the puller. Sides and
registries are interleaved so that load from elsewhere falls on both. skopeo stands in for
docker when dockerd cannot run here.

    .venv/bin/python bench/pull_bench.py [--image-mb 220] [--rounds 2] [--pull-runs 2]

Every timed step starts after a ``sync``: the disk here is slow at writeback, and whatever the
previous step left dirty would otherwise be paid by the next one. Figures are medians.

``--settle S`` waits S seconds between removing the image and pulling it again (both sides).
On ext4 without a journal (this machine's root), a file created within 60 s of a removal in
the same block group first skips the group's recently freed inodes one by one
(``recently_deleted`` in fs/ext4/ialloc.c): right after ``rmi`` of this image each of its
~6,500 creates can cost ~0.3 ms instead of ~15 µs, for whichever side lands there. With
``--settle 61`` that effect is gone and the figures compare the pull pipelines themselves.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import free_port, wait_port, wait_socket

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
PY = str(BIN / "python") if BIN.exists() else sys.executable
USER, PASSWORD = "bench", "bench-password"
MTIME = 946684800
TIMEOUT = 600


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# the image -------------------------------------------------------------------------------


def _text(rng: random.Random, n: int) -> bytes:
    """Compressible bytes (hex of random words), as source trees and configs are."""
    words = [rng.randbytes(rng.randint(2, 8)).hex().encode() for _ in range(512)]
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words) + (b"\n" if rng.random() < 0.1 else b" ")
    return bytes(out[:n])


def layer_specs(total_mb: int) -> list[dict[str, bytes]]:
    """Five layers: small files, big random files, a mix, big files again, a few configs."""
    rng = random.Random(20261128)
    unit = total_mb * 1_000_000 // 220
    small = {
        f"usr/share/pkg{i // 200}/file{i}.txt": _text(rng, rng.randint(1_000, 14_000))
        for i in range(4000)
    }
    big = {f"opt/big/blob{i}.bin": os.urandom(25 * unit) for i in range(3)}
    mix = {
        f"srv/app/mod{i // 100}/m{i}.py": _text(rng, rng.randint(500, 9_000)) for i in range(2500)
    }
    mix["srv/app/data.bin"] = os.urandom(30 * unit)
    more = {f"var/lib/db{i}.bin": os.urandom(25 * unit) for i in range(2)}
    etc = {f"etc/conf{i}.conf": _text(rng, 2_000) for i in range(50)}
    return [small, big, mix, more, etc]


def build_image(store_root: Path, ref: str, total_mb: int) -> tuple[str, int]:
    """The image in a scratch store; returns its id and compressed size."""
    from dockyard.oci import mediatypes as mt
    from dockyard.oci.digest import Digest
    from dockyard.store.images import ImageStore
    from dockyard.store.operation import LayerInput

    store = ImageStore(store_root)
    inputs: list[LayerInput] = []
    diff_ids: list[str] = []
    packed = 0
    lease = store.create_lease()
    try:
        for files in layer_specs(total_mb):
            raw = io.BytesIO()
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
                dirs: set[str] = set()
                for name, data in sorted(files.items()):
                    parts = name.split("/")[:-1]
                    for i in range(1, len(parts) + 1):
                        d = "/".join(parts[:i])
                        if d not in dirs:
                            dirs.add(d)
                            info = tarfile.TarInfo(d)
                            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
                            tf.addfile(info)
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = len(data), 0o644, MTIME
                    tf.addfile(info, io.BytesIO(data))
            tar = raw.getvalue()
            blob = gzip.compress(tar, compresslevel=1, mtime=0)
            packed += len(blob)
            digest = Digest.parse("sha256:" + hashlib.sha256(blob).hexdigest())
            with store.blob_writer(lease, digest, len(blob)) as w:
                w.write(blob)
                w.commit()
            diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
            diff_ids.append(diff_id)
            inputs.append(LayerInput(digest, mt.OCI_LAYER_GZIP, Digest.parse(diff_id), len(tar)))
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"bench layer {i}"} for i in range(len(diff_ids))],
        }
        body = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        image_id = str(store.create_image(body, inputs, ref, lease=lease))
    except BaseException:
        store.release_lease(lease)
        store.close()
        raise
    with open(store_root.parent / "image.tar", "wb") as out:
        store.save([ref], out)
    store.close()
    return image_id, packed


# the registries ----------------------------------------------------------------------------


class Registry:
    def __init__(self, name: str, proc: subprocess.Popen[bytes], port: int) -> None:
        self.name = name
        self.proc = proc
        self.addr = f"127.0.0.1:{port}"
        self.auth = name == "dockyard-hub"


def start_registry2(tmp: Path) -> Registry:
    exe = shutil.which("docker-registry")
    if exe is None:
        raise SystemExit("docker-registry is not installed")
    port = free_port()
    cfg = tmp / "registry.yml"
    cfg.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'registry'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with open(tmp / "registry.log", "ab") as log:
        proc = subprocess.Popen([exe, "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=log)
    wait_port(port, proc)
    return Registry("registry:2", proc, port)


def start_hub(tmp: Path) -> Registry:
    data = tmp / "hub"
    hub = [PY, "-m", "dockyard.hub.cli"]
    subprocess.run(
        [*hub, "user", "add", USER, "--password-stdin", "--data", str(data)],
        input=PASSWORD.encode() + b"\n",
        check=True,
        capture_output=True,
    )
    port = free_port()
    (tmp / "hub.toml").write_text("gc_interval = 0\n")
    with open(tmp / "hub.log", "ab") as log:
        proc = subprocess.Popen(
            [
                *hub,
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--data",
                str(data),
                "--config",
                str(tmp / "hub.toml"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    wait_port(port, proc)
    return Registry("dockyard-hub", proc, port)


# the engines -------------------------------------------------------------------------------


class Engine:
    name = ""

    def __init__(self, base: Path) -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.sock = str(base / "api.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, stdin: bytes | None = None) -> bytes:
        r = subprocess.run(
            [*self.argv(), *args],
            input=stdin,
            capture_output=True,
            env=self.env(),
            timeout=TIMEOUT,
        )
        if r.returncode != 0:
            raise RuntimeError(f"{self.name} {' '.join(args)}: {r.stderr.decode()[-400:]}")
        return r.stdout

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def login(self, reg: Registry) -> None:
        self.cli("login", "-u", USER, "--password-stdin", reg.addr, stdin=PASSWORD.encode())

    def start(self) -> None:
        raise NotImplementedError

    def push(self, ref: str) -> float:
        t0 = time.perf_counter()
        self.cli("push", ref)
        return time.perf_counter() - t0

    def pull(self, ref: str) -> float:
        t0 = time.perf_counter()
        said = self.cli("pull", ref)
        took = time.perf_counter() - t0
        if b"Already exists" in said:
            raise RuntimeError(f"{self.name} still had layers of {ref}: not a full pull")
        return took

    def remove(self, image_id: str) -> None:
        """The image under every name, and so its layers (``rmi -f`` of the id)."""
        if self.has(image_id):
            self.cli("rmi", "-f", image_id)

    def has(self, ref: str) -> bool:
        r = subprocess.run(
            [*self.argv(), "image", "inspect", ref], capture_output=True, env=self.env()
        )
        return r.returncode == 0


class Dockyard(Engine):
    name = "dockyard"

    def start(self) -> None:
        cmd = [str(BIN / "dockyardd"), "--data-root", str(self.base / "data")]
        cmd += ["--exec-root", str(self.base / "exec"), "-H", f"unix://{self.sock}"]
        log = open(self.base / "daemon.log", "ab")  # noqa: SIM115 - lives with the daemon
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        wait_socket(self.sock, self.proc)

    def argv(self) -> list[str]:
        return [str(BIN / "dockyard")]

    def remove(self, image_id: str) -> None:
        super().remove(image_id)
        # A pull must apply every layer again: no layer snapshot may be left.
        left = [
            p
            for d in (self.base / "data").rglob("snapshots")
            if d.is_dir() and d.parent.name == "overlayfs"
            for p in d.iterdir()
        ]
        if left:
            raise RuntimeError(f"dockyard rmi left {len(left)} snapshots: not a full pull")

    def env(self) -> dict[str, str]:
        env = dict(os.environ, DOCKYARD_HOST=f"unix://{self.sock}")
        env["DOCKER_CONFIG"] = str(self.base / "cli")
        env.pop("DOCKER_HOST", None)
        return env


class Docker(Engine):
    name = "docker"

    def __init__(self, base: Path, registries: list[str]) -> None:
        super().__init__(base)
        self.registries = registries

    def start(self) -> None:
        cmd = ["dockerd", "--data-root", str(self.base / "data")]
        cmd += ["--exec-root", str(self.base / "exec"), "-H", f"unix://{self.sock}"]
        cmd += ["--pidfile", str(self.base / "dockerd.pid"), "--bridge=none"]
        cmd += ["--iptables=false", "--ip6tables=false", "--ip-masq=false"]
        cmd += ["--storage-driver=overlay2"]
        for r in self.registries:
            cmd += ["--insecure-registry", r]
        log = open(self.base / "daemon.log", "ab")  # noqa: SIM115 - lives with the daemon
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        wait_socket(self.sock, self.proc)

    def argv(self) -> list[str]:
        return ["docker"]

    def env(self) -> dict[str, str]:
        env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")
        env["DOCKER_CONFIG"] = str(self.base / "cli")
        return env


class Skopeo(Engine):
    """Copies between the registry and an OCI layout directory (no unpacking: a lower bound)."""

    name = "skopeo"

    def start(self) -> None:
        self.layout = self.base / "image"

    def argv(self) -> list[str]:
        return ["skopeo"]

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def login(self, reg: Registry) -> None:
        pass

    def _creds(self, ref: str, flag: str) -> list[str]:
        return [flag, f"{USER}:{PASSWORD}"] if "/bench/" in ref else []

    def push(self, ref: str) -> float:
        t0 = time.perf_counter()
        self.cli(
            "copy", "-q", "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}",
            f"oci:{self.layout}:latest", f"docker://{ref}",
        )  # fmt: skip
        return time.perf_counter() - t0

    def pull(self, ref: str) -> float:
        out = self.base / "pulled"
        t0 = time.perf_counter()
        self.cli(
            "copy", "-q", "--src-tls-verify=false", "--src-creds", f"{USER}:{PASSWORD}",
            f"docker://{ref}", f"oci:{out}:latest",
        )  # fmt: skip
        took = time.perf_counter() - t0
        shutil.rmtree(out, ignore_errors=True)
        return took

    def remove(self, image_id: str) -> None:
        shutil.rmtree(self.base / "pulled", ignore_errors=True)


def docker_runnable() -> bool:
    return shutil.which("dockerd") is not None and shutil.which("docker") is not None


# the run -----------------------------------------------------------------------------------


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--image-mb", type=int, default=220)
    ap.add_argument("--rounds", type=int, default=2, help="fresh registries each round")
    ap.add_argument("--pull-runs", type=int, default=2, help="pulls per side and registry")
    ap.add_argument("--no-docker", action="store_true", help="skopeo as the peer")
    ap.add_argument(
        "--settle", type=float, default=0.0, help="seconds between rmi and the timed pull"
    )
    args = ap.parse_args(argv)
    rounds = max(1, min(args.rounds, 5))
    pull_runs = max(1, min(args.pull_runs, 5))
    times: dict[str, dict[str, list[float]]] = {}
    out: dict[str, Any] = {"load_before": loadavg()}
    with tempfile.TemporaryDirectory(prefix="pull-bench-") as tmpdir:
        tmp = Path(tmpdir)
        t0 = time.perf_counter()
        image_id, packed = build_image(tmp / "build" / "store", "bench/big:latest", args.image_mb)
        out["image"] = {"id": image_id, "compressed_mb": round(packed / 1e6, 1), "layers": 5}
        out["build_sec"] = round(time.perf_counter() - t0, 1)
        dy = Dockyard(tmp / "dockyard")
        # The registries' ports are not known yet: dockerd's default insecure registries
        # are 127.0.0.0/8, which is what --insecure-registry would say.
        peer: Engine
        if docker_runnable() and not args.no_docker:
            peer = Docker(tmp / "docker", [])
        else:
            peer = Skopeo(tmp / "skopeo")
        engines: list[Engine] = [dy, peer]
        try:
            dy.start()
            peer.start()
            dy.cli("load", "-q", "-i", str(tmp / "build" / "image.tar"))
            if isinstance(peer, Docker):
                peer.cli("load", "-q", "-i", str(tmp / "build" / "image.tar"))
            elif isinstance(peer, Skopeo):
                subprocess.run(
                    ["skopeo", "copy", "-q", f"docker-archive:{tmp / 'build' / 'image.tar'}",
                     f"oci:{peer.layout}:latest"],
                    check=True, capture_output=True, timeout=TIMEOUT,
                )  # fmt: skip
            for r in range(rounds):
                regdir = tmp / f"round{r}"
                regs: list[Registry] = []
                try:
                    for starter in (start_registry2, start_hub):
                        d = regdir / starter.__name__
                        d.mkdir(parents=True)
                        regs.append(starter(d))
                    order = engines if r % 2 == 0 else engines[::-1]
                    for reg in regs:
                        for e in order:
                            e.login(reg)
                            ref = f"{reg.addr}/bench/{e.name}:latest"
                            if not isinstance(e, Skopeo):
                                e.cli("tag", "bench/big:latest", ref)
                            os.sync()  # the last step's writeback does not land on this one
                            took = e.push(ref)
                            times.setdefault(e.name, {}).setdefault(f"push {reg.name}", []).append(
                                took
                            )
                    last: dict[str, str] = {}
                    for i in range(pull_runs):
                        for reg in regs:
                            # Both pull what dockyard pushed: the same gzip blobs.
                            ref = f"{reg.addr}/bench/dockyard:latest"
                            for e in order if i % 2 == 0 else order[::-1]:
                                e.remove(image_id)
                                os.sync()
                                time.sleep(max(0.0, min(args.settle, 120.0)))
                                took = e.pull(ref)
                                last[e.name] = ref
                                times.setdefault(e.name, {}).setdefault(
                                    f"pull {reg.name}", []
                                ).append(took)
                    # The image back under its name, for the next round's push.
                    for e in engines:
                        if not isinstance(e, Skopeo) and not e.has("bench/big:latest"):
                            e.cli("tag", last[e.name], "bench/big:latest")
                finally:
                    for reg in regs:
                        stop(reg.proc)
        finally:
            for e in engines:
                stop(e.proc)
                if isinstance(e, Docker):
                    # dockerd leaves its managed containerd's mounts behind otherwise
                    with contextlib.suppress(Exception):
                        subprocess.run(["umount", "-R", str(e.base / "data")], capture_output=True)
    out["load_after"] = loadavg()
    out["times"] = times
    out["peer"] = peer.name
    med = {e: {k: sorted(v)[len(v) // 2] for k, v in kinds.items()} for e, kinds in times.items()}
    best = {e: {k: min(v) for k, v in kinds.items()} for e, kinds in times.items()}
    out["median"], out["best"] = med, best
    ratios = {k: med["dockyard"][k] / med[peer.name][k] for k in med["dockyard"]}
    out["ratio dockyard/peer (median time; < 1 is faster)"] = ratios
    out["settle_sec"] = args.settle
    print(
        f"image: {out['image']}  load: {out['load_before']} → {out['load_after']}"
        f"  settle: {args.settle:g}s"
    )
    print(f"{'median (best) s':<20}{'dockyard':>16}{peer.name:>16}{'ratio':>7}   runs")
    for k in med["dockyard"]:
        runs = " ".join(f"{x:.2f}" for x in times["dockyard"][k])
        prs = " ".join(f"{x:.2f}" for x in times[peer.name][k])
        dyf = f"{med['dockyard'][k]:.2f} ({best['dockyard'][k]:.2f})"
        pf = f"{med[peer.name][k]:.2f} ({best[peer.name][k]:.2f})"
        print(f"{k:<20}{dyf:>16}{pf:>16}{ratios[k]:>7.2f}   dockyard [{runs}] {peer.name} [{prs}]")
    return out


if __name__ == "__main__":
    main()
