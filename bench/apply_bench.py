"""Layer applier vs GNU tar: the same multi-layer image (≥ 200 MB), plain, gzip and zstd.

    .venv/bin/python bench/apply_bench.py [--dir DIR] [--repeat N] [--keep]

Builds a four-layer image in a temporary directory (many small files in many
directories, a few big ones, a layer of whiteouts), writes each layer as plain
tar, gzip and zstd, then extracts the whole image with GNU tar (``tar -xf``,
``tar -xzf``, ``tar --zstd -xf``, one process per layer) and with
``apply_layer`` into fresh directories on the same filesystem (tmpfs by
default: on a disk, writeback stalls of the previous run dominate the times),
and prints the best of N times and the ratio ours/tar. ``main()`` returns the
figures.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dockyard.store.layers import apply_layer

MB = 1 << 20
_WORDS = [
    b"layer", b"image", b"container", b"overlay", b"digest", b"config", b"manifest",
    b"root", b"bin", b"usr", b"lib", b"share", b"locale", b"python", b"\n", b"=", b"{", b"}",
]  # fmt: skip


def _content(rng: random.Random, size: int) -> bytes:
    """Half text-like (compressible), half random: gzip/zstd have real work to do."""
    half = size // 2
    text = b" ".join(rng.choice(_WORDS) for _ in range(half // 5 + 1))[:half]
    return text + rng.randbytes(size - len(text))


def _small_files(root: Path, rng: random.Random, dirs: int, per_dir: int, tag: str) -> int:
    total = 0
    sizes = [0, 64, 300, 1200, 4000, 9000, 30000]
    for d in range(dirs):
        sub = root / f"usr/{tag}/pkg{d:04}/lib/{d % 11}"
        sub.mkdir(parents=True, exist_ok=True)
        for f in range(per_dir):
            data = _content(rng, rng.choice(sizes))
            (sub / f"mod{f:03}.py").write_bytes(data)
            total += len(data)
        (sub / "link").symlink_to("mod000.py")
    return total


def build_image(work: Path) -> tuple[list[Path], int, int]:
    """The layer trees; returns (tree dirs, file count, content bytes)."""
    rng = random.Random(20261128)
    trees = [work / f"tree{i}" for i in range(4)]
    for t in trees:
        t.mkdir()
    total = _small_files(trees[0], rng, 300, 60, "a")  # 18k small files
    for i in range(3):
        data = _content(rng, 32 * MB)
        (trees[1] / f"opt/big{i}.bin").parent.mkdir(parents=True, exist_ok=True)
        (trees[1] / f"opt/big{i}.bin").write_bytes(data)
        total += len(data)
    total += _small_files(trees[2], rng, 150, 60, "b")  # 9k more
    data = _content(rng, 24 * MB)
    (trees[2] / "opt/big3.bin").parent.mkdir(parents=True, exist_ok=True)
    (trees[2] / "opt/big3.bin").write_bytes(data)
    total += len(data)
    # Layer 4: whiteouts of a few hundred files and one directory, plus new files.
    for d in range(0, 300, 3):
        sub = trees[3] / f"usr/a/pkg{d:04}/lib/{d % 11}"
        sub.mkdir(parents=True)
        (sub / ".wh.mod001.py").write_bytes(b"")
        (sub / "new.py").write_bytes(_content(rng, 2000))
    (trees[3] / "usr/b/.wh.pkg0007").parent.mkdir(parents=True)
    (trees[3] / "usr/b/.wh.pkg0007").write_bytes(b"")
    files = sum(len(fs) for t in trees for _, _, fs in os.walk(t))
    return trees, files, total


def write_layers(work: Path, trees: list[Path]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {"plain": [], "gzip": [], "zstd": []}
    for i, tree in enumerate(trees):
        tar = work / f"layer{i}.tar"
        subprocess.run(["tar", "--sort=name", "-C", str(tree), "-cf", str(tar), "."], check=True)
        subprocess.run(["gzip", "-k", "-6", str(tar)], check=True)
        subprocess.run(["zstd", "-q", "-3", "-k", str(tar)], check=True)
        out["plain"].append(tar)
        out["gzip"].append(Path(f"{tar}.gz"))
        out["zstd"].append(Path(f"{tar}.zst"))
    return out


_TAR_FLAGS = {"plain": ["-xf"], "gzip": ["-xzf"], "zstd": ["--zstd", "-xf"]}


def _fresh(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir()
    subprocess.run(["sync"], check=True)  # no writeback of the last run in this one


def time_tar(layers: list[Path], kind: str, dest: Path) -> float:
    _fresh(dest)
    start = time.perf_counter()
    for layer in layers:
        subprocess.run(["tar", *_TAR_FLAGS[kind], str(layer), "-C", str(dest)], check=True)
    return time.perf_counter() - start


def time_ours(layers: list[Path], dest: Path) -> float:
    _fresh(dest)
    start = time.perf_counter()
    for layer in layers:
        with open(layer, "rb") as f:
            apply_layer(f, dest)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--dir",
        type=Path,
        default=Path("/dev/shm") if os.path.isdir("/dev/shm") else None,
        help="where to work (default /dev/shm: a disk's writeback makes timings noise)",
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="apply-bench-", dir=args.dir))
    try:
        t0 = time.perf_counter()
        trees, files, content = build_image(work)
        layers = write_layers(work, trees)
        for tree in trees:
            shutil.rmtree(tree)
        sizes = {k: sum(p.stat().st_size for p in v) for k, v in layers.items()}
        print(
            f"image: 4 layers, {files} entries, {content / MB:.0f} MB of content; "
            f"tar {sizes['plain'] / MB:.0f} MB, gzip {sizes['gzip'] / MB:.0f} MB, "
            f"zstd {sizes['zstd'] / MB:.0f} MB (built in {time.perf_counter() - t0:.0f} s)"
        )
        figures: dict[str, dict[str, float]] = {}
        for kind in ("plain", "gzip", "zstd"):
            tar_t = min(time_tar(layers[kind], kind, work / "tar") for _ in range(args.repeat))
            ours_t = min(time_ours(layers[kind], work / "ours") for _ in range(args.repeat))
            same = _same_result(work / "tar", work / "ours")
            figures[kind] = {"tar_s": tar_t, "ours_s": ours_t, "ratio": ours_t / tar_t}
            print(
                f"{kind:>5}: GNU tar {tar_t:6.2f} s   dockyard {ours_t:6.2f} s   "
                f"ratio {ours_t / tar_t:4.2f}{'' if same else '   (TREES DIFFER)'}"
            )
        return figures
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _listing(root: Path) -> set[str]:
    out = set()
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def _same_result(tar_dir: Path, ours_dir: Path) -> bool:
    """GNU tar leaves .wh. files as plain files; with their whiteouts applied, trees match."""
    tar_tree = _listing(tar_dir)
    gone = set()
    for p in tar_tree:
        head, _, base = p.rpartition("/")
        if base.startswith(".wh."):
            victim = f"{head}/{base[4:]}" if head else base[4:]
            gone.add(p)
            gone.update(q for q in tar_tree if q == victim or q.startswith(victim + "/"))
    return tar_tree - gone == _listing(ours_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
