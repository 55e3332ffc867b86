"""Property: any rootfs survives import → save (both formats) → load with the same layers."""

from __future__ import annotations

import gzip
import io
import tarfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.oci.digest import Digest
from dockyard.store.images import ImageStore

pytestmark = pytest.mark.root

_name = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,12}", fullmatch=True).filter(
    lambda n: not n.startswith(".wh.")
)
_tree = st.dictionaries(
    st.lists(_name, min_size=1, max_size=3).map("/".join),
    st.binary(max_size=3000),
    min_size=1,
    max_size=12,
)


def rootfs_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    # drop paths that are also a parent of another path: a tar can't hold both as file and dir
    names = sorted(files)
    keep = [n for n in names if not any(o.startswith(n + "/") for o in names)]
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in keep:
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def members(store: ImageStore, image: str) -> dict[str, bytes]:
    out = {}
    for layer in store.layers(image):
        with (
            store.content.open(Digest.parse(layer.blob_digest)) as f,
            tarfile.open(fileobj=f) as tf,
        ):
            for m in tf.getmembers():
                src = tf.extractfile(m)
                out[m.name] = src.read() if src else b""
    return out


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(files=_tree, oci=st.booleans(), gz=st.booleans())
def test_import_save_load_roundtrip(
    tmp_path: Path, files: dict[str, bytes], oci: bool, gz: bool
) -> None:
    base = tmp_path / uuid.uuid4().hex
    src = ImageStore(base / "a")
    data = rootfs_tar(files)
    image = src.import_rootfs(
        io.BytesIO(gzip.compress(data) if gz else data), "prop:1", ['CMD ["x"]']
    )
    out = io.BytesIO()
    (src.save_oci if oci else src.save)(["prop:1"], out)
    dst = ImageStore(base / "b")
    [loaded] = dst.load(io.BytesIO(out.getvalue()))
    assert loaded.image_id == image and loaded.tags == ["prop:1"]
    assert members(dst, image) == members(src, image)
    dst.verify(image, deep=True)
    assert dst.config("prop:1").config["Cmd"] == ["x"]
