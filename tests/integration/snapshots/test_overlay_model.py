"""Random layer stacks through overlay snapshots (overlay whiteouts, real mounts) == the model."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import dockyard_tests_root  # type: ignore[import-not-found]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.store.snapshots import OverlaySnapshotter

pytestmark = pytest.mark.root


model = dockyard_tests_root.load_test_module(
    "dockyard_tests_apply_model",
    Path(__file__).parents[2] / "unit" / "layers" / "test_apply_model.py",
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(model.layers(), min_size=1, max_size=4), st.none() | st.integers(0, 2**16))
def test_overlay_stack_matches_model(
    tb: ModuleType,
    tmp_path: Path,
    mount: Callable[..., Any],
    stack: list[dict[str, tuple[str, bytes]]],
    shuffle: int | None,
) -> None:
    root = tmp_path / "snap"
    shutil.rmtree(root, ignore_errors=True)
    snap = OverlaySnapshotter(root)
    state: dict[str, bytes | None] = {}
    parent = None
    for i, layer in enumerate(stack):
        snap.prepare(f"k{i}", parent)
        tar = model.to_tar(tb, layer, shuffle)
        assert snap.whiteout_format(f"k{i}") == ("overlay" if i else "oci")
        snap.apply_layer(f"k{i}", io.BytesIO(tar))
        snap.commit(f"c{i}", f"k{i}")
        parent = f"c{i}"
        state = model.model_apply(state, layer)
    with mount(snap.prepare("ctr", parent), tmp_path / "merged") as merged:
        assert model.read_tree(merged) == state
