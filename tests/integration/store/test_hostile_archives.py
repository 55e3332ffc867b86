"""Archives that lie: every one is refused (or loads safely) and the store stays as it was."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from store_testlib import state, tar_bytes

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import sha256_bytes
from dockyard.oci.image import canonical_json
from dockyard.oci.platform import host_platform
from dockyard.store.errors import ArchiveError, ImageError
from dockyard.store.images import ImageStore

pytestmark = pytest.mark.root

LAYER = tar_bytes({"ok": b"fine"})
CONFIG = canonical_json(
    {
        "architecture": host_platform().architecture,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [str(sha256_bytes(LAYER))]},
    }
)


def archive(entries: list[tuple[str, bytes | None, str]]) -> bytes:
    """(name, data, link): data None makes a symlink to link, b"<hard>" a hardlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tf.addfile(info)
            elif data == b"<hard>":
                info.type = tarfile.LNKTYPE
                info.linkname = link
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def manifest_json(config: str, layers: list[str], tags: list[str] | None = None) -> bytes:
    return json.dumps(
        [{"Config": config, "RepoTags": tags or ["evil:1"], "Layers": layers}]
    ).encode()


CASES = {
    "layer path escapes with ..": [
        ("manifest.json", manifest_json("c.json", ["../../etc/passwd"]), ""),
        ("c.json", CONFIG, ""),
    ],
    "absolute layer path": [
        ("manifest.json", manifest_json("c.json", ["/etc/passwd"]), ""),
        ("c.json", CONFIG, ""),
    ],
    "config is a symlink out of the archive": [
        ("manifest.json", manifest_json("c.json", ["l.tar"]), ""),
        ("c.json", None, "/etc/passwd"),
        ("l.tar", LAYER, ""),
    ],
    "layer is a symlink through ..": [
        ("manifest.json", manifest_json("c.json", ["d/l.tar"]), ""),
        ("c.json", CONFIG, ""),
        ("d/l.tar", None, "../../../../etc/shadow"),
    ],
    "symlink loop": [
        ("manifest.json", manifest_json("c.json", ["a"]), ""),
        ("c.json", CONFIG, ""),
        ("a", None, "b"),
        ("b", None, "a"),
    ],
    "hardlink to outside": [
        ("manifest.json", manifest_json("c.json", ["l.tar"]), ""),
        ("c.json", CONFIG, ""),
        ("l.tar", b"<hard>", "/etc/passwd"),
    ],
    "member named with .. is ignored": [
        ("../manifest.json", manifest_json("c.json", ["l.tar"]), ""),
        ("c.json", CONFIG, ""),
        ("l.tar", LAYER, ""),
    ],
    "config is not JSON": [
        ("manifest.json", manifest_json("c.json", ["l.tar"]), ""),
        ("c.json", b"\x00\x01 not json", ""),
        ("l.tar", LAYER, ""),
    ],
    "config is huge": [
        ("manifest.json", manifest_json("c.json", ["l.tar"]), ""),
        ("c.json", b" " * (9 << 20), ""),
        ("l.tar", LAYER, ""),
    ],
    "manifest.json is an object": [("manifest.json", b"{}", "")],
    "bad RepoTag": [
        ("manifest.json", manifest_json("c.json", ["l.tar"], ["UPPER:case"]), ""),
        ("c.json", CONFIG, ""),
        ("l.tar", LAYER, ""),
    ],
    "index.json is garbage": [("oci-layout", b"{}", ""), ("index.json", b"[[[", "")],
    "index.json names a missing manifest": [
        ("oci-layout", b"{}", ""),
        (
            "index.json",
            canonical_json(
                {
                    "schemaVersion": 2,
                    "manifests": [
                        {"mediaType": mt.OCI_MANIFEST, "digest": "sha256:" + "0" * 64, "size": 5}
                    ],
                }
            ),
            "",
        ),
    ],
    "blob name does not match its content": [
        ("oci-layout", b"{}", ""),
        ("index.json", b"{}", ""),
        ("blobs/sha256/" + "1" * 64, b"content of another digest", ""),
    ],
}


@pytest.mark.parametrize("entries", list(CASES.values()), ids=list(CASES))
def test_hostile_archive_is_refused(
    tmp_path: Path, entries: list[tuple[str, bytes | None, str]]
) -> None:
    store = ImageStore(tmp_path / "s")
    before = state(store)
    with pytest.raises(ImageError):
        store.load(io.BytesIO(archive(entries)))
    assert state(store) == before
    assert not any(p.name == "passwd" for p in (tmp_path / "s").rglob("*"))


def test_nested_index_picks_the_host_platform(tmp_path: Path) -> None:
    host = host_platform()
    other = "arm64" if host.architecture != "arm64" else "amd64"
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.OCI_CONFIG,
                "digest": str(sha256_bytes(CONFIG)),
                "size": len(CONFIG),
            },
            "layers": [
                {"mediaType": mt.OCI_LAYER, "digest": str(sha256_bytes(LAYER)), "size": len(LAYER)}
            ],
        }
    )
    nested = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [
                # the other platform's manifest is not in the archive: it must not be needed
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": "sha256:" + "9" * 64,
                    "size": 10,
                    "platform": {"os": "linux", "architecture": other},
                },
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": str(sha256_bytes(manifest)),
                    "size": len(manifest),
                    "platform": host.to_dict(),
                },
            ],
        }
    )
    index = canonical_json(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": mt.OCI_INDEX,
                    "digest": str(sha256_bytes(nested)),
                    "size": len(nested),
                    "annotations": {"io.containerd.image.name": "docker.io/library/multi:1"},
                }
            ],
        }
    )
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
    for body in (CONFIG, LAYER, manifest, nested):
        files[f"blobs/sha256/{sha256_bytes(body).hex}"] = body
    store = ImageStore(tmp_path / "s")
    [loaded] = store.load(io.BytesIO(tar_bytes(files)))
    assert loaded.tags == ["multi:1"] and loaded.image_id == str(sha256_bytes(CONFIG))
    assert store.get("multi:1").manifest_digest == str(sha256_bytes(manifest))
    store.verify("multi:1", deep=True)
    # and an index with nothing for this host is refused
    only_other = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": "sha256:" + "9" * 64,
                    "size": 10,
                    "platform": {"os": "linux", "architecture": other},
                }
            ],
        }
    )
    files["index.json"] = canonical_json(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": mt.OCI_INDEX,
                    "digest": str(sha256_bytes(only_other)),
                    "size": len(only_other),
                }
            ],
        }
    )
    files[f"blobs/sha256/{sha256_bytes(only_other).hex}"] = only_other
    fresh = ImageStore(tmp_path / "f")
    with pytest.raises(ArchiveError, match="no image for"):
        fresh.load(io.BytesIO(tar_bytes(files)))
