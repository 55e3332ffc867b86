"""Property test: stacking random layers with the applier == a pure model of the OCI rules."""

from __future__ import annotations

import io
import os
import random
import shutil
from pathlib import Path
from types import ModuleType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.store.layers import apply_layer

NAMES = ["a", "b", "c"]


def _all_paths(depth: int = 3) -> list[str]:
    out: list[str] = []
    frontier = [""]
    for _ in range(depth):
        frontier = [f"{p}/{n}" if p else n for p in frontier for n in NAMES]
        out += frontier
    return out


ALL = _all_paths()
State = dict[str, bytes | None]  # path -> file content, or None for a directory


def _parents(p: str) -> list[str]:
    parts = p.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _under(p: str, q: str) -> bool:
    return q == p or q.startswith(p + "/")


@st.composite
def layers(draw: st.DrawFn) -> dict[str, tuple[str, bytes]]:
    """One layer: path -> ("file", data) | ("dir", b"") | ("wh", b"") | ("opq", b"")."""
    layer: dict[str, tuple[str, bytes]] = {}
    for p in draw(st.lists(st.sampled_from(ALL), max_size=6, unique=True)):
        if any(layer.get(q, ("",))[0] == "file" for q in _parents(p)):
            continue  # no entry under a file of this same layer
        if draw(st.booleans()):
            layer[p] = ("file", draw(st.binary(max_size=8)))
            for q in list(layer):
                if q.startswith(p + "/"):
                    del layer[q]
        else:
            layer[p] = ("dir", b"")
        for q in _parents(p):
            layer[q] = ("dir", b"")
    for p in draw(st.lists(st.sampled_from(ALL), max_size=3, unique=True)):
        # A whiteout for something this layer does not touch (nor its parents' kind).
        if any(_under(p, q) or _under(q, p) for q in layer):
            continue
        if any(layer.get(q, ("dir",))[0] != "dir" for q in _parents(p)):
            continue
        layer[p] = ("wh", b"")
        for q in _parents(p):
            layer.setdefault(q, ("dir", b""))
    for p, (k, _) in list(layer.items()):
        if k == "dir" and draw(st.integers(0, 4)) == 0:
            layer[p] = ("opq", b"")
    return layer


def model_apply(state: State, layer: dict[str, tuple[str, bytes]]) -> State:
    new = dict(state)
    made = {p for p, (k, _) in layer.items() if k in ("file", "dir", "opq")}
    for p, (k, _) in layer.items():
        if k == "wh" and p not in made:
            for q in [q for q in new if _under(p, q)]:
                del new[q]
        if k == "opq":
            for q in [q for q in new if q.startswith(p + "/") and q not in made]:
                del new[q]
    for p in sorted(made, key=lambda x: x.count("/")):
        k, data = layer[p]
        if k == "file":
            for q in [q for q in new if _under(p, q)]:
                del new[q]
            new[p] = data
        else:
            if p in new and new[p] is not None:
                del new[p]
            new[p] = None
    return new


def to_tar(
    tb: ModuleType, layer: dict[str, tuple[str, bytes]], shuffle: int | None = None
) -> bytes:
    """Entries in the order image builders use (per dir, whiteouts first, then by name),
    or shuffled by seed ``shuffle``: the result must not depend on the order."""
    entries = []
    for p in sorted(layer, key=lambda x: (x.count("/"), x)):
        k, data = layer[p]
        if k == "file":
            entries.append(tb.entry(p, data=data))
        elif k == "dir":
            entries.append(tb.entry(p + "/", "dir"))
        elif k == "opq":
            entries.append(tb.entry(p + "/", "dir"))
            entries.append(tb.entry(p + "/.wh..wh..opq"))
        else:
            head, _, base = p.rpartition("/")
            entries.append(tb.entry(f"{head}/.wh.{base}" if head else f".wh.{base}"))

    def order(e: tuple[object, bytes]) -> tuple[str, int, str]:
        name = str(getattr(e[0], "name", "")).rstrip("/")
        head, _, base = name.rpartition("/")
        return (head, 0 if base.startswith(".wh.") else 1, base)

    # Parents before children, and inside a directory the whiteouts first.
    entries.sort(key=lambda e: (str(getattr(e[0], "name", "")).count("/"), order(e)))
    if shuffle is not None:
        random.Random(shuffle).shuffle(entries)
    return bytes(tb.make_tar(entries))


def read_tree(root: Path) -> State:
    out: State = {}
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = Path(p).read_bytes()
    return out


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(layers(), min_size=1, max_size=4), st.none() | st.integers(0, 2**16))
def test_applier_matches_model(
    tb: ModuleType,
    tmp_path: Path,
    stack: list[dict[str, tuple[str, bytes]]],
    shuffle: int | None,
) -> None:
    root = tmp_path / "root"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    state: State = {}
    for layer in stack:
        apply_layer(io.BytesIO(to_tar(tb, layer, shuffle)), root)
        state = model_apply(state, layer)
        assert read_tree(root) == state
