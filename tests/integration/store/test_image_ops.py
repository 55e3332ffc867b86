"""Image operations on a real store: bootstrap, tag/rmi rules, save/load, import, commit, GC."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from store_testlib import docker_archive, state, tar_bytes

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, sha256_bytes
from dockyard.oci.image import canonical_json, chain_ids
from dockyard.oci.platform import host_platform
from dockyard.store.bootstrap import bootstrap_busybox
from dockyard.store.errors import (
    ArchiveError,
    ConflictError,
    ImageCorrupt,
    ImageInUse,
    ImageNotFound,
    InvalidChange,
    InvalidImage,
    InvalidReference,
)
from dockyard.store.images import ImageStore, ImageUser, LayerInput

pytestmark = pytest.mark.root


def layer_members(store: ImageStore, image: str) -> dict[str, tarfile.TarInfo]:
    [layer] = store.layers(image)
    with store.content.open(Digest.parse(layer.blob_digest)) as f, tarfile.open(fileobj=f) as tf:
        return {m.name.rstrip("/"): m for m in tf.getmembers()}


# bootstrap ----------------------------------------------------------------------------------


def test_bootstrap_busybox_is_deterministic(
    store: ImageStore, busybox: str, tmp_path: Path
) -> None:
    other = ImageStore(tmp_path / "other")
    assert bootstrap_busybox(other) == busybox
    assert store.resolve("busybox") == busybox
    cfg = store.config("busybox")
    assert cfg.config["Cmd"] == ["sh"]
    assert any(e.startswith("PATH=") for e in cfg.config["Env"])
    assert (cfg.os, cfg.architecture) == ("linux", host_platform().architecture)
    members = layer_members(store, "busybox")
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["tmp"].mode == 0o1777
    assert {"etc/passwd", "etc/group"} <= members.keys()
    assert {m.mtime for m in members.values()} == {946684800}
    store.verify(busybox, deep=True)


def test_list_inspect_history(store: ImageStore, busybox: str) -> None:
    [summary] = store.list()
    assert summary.id == busybox and summary.repo_tags == ["busybox:latest"]
    info = store.inspect("busybox:latest")
    assert info["Id"] == busybox
    assert info["RootFS"]["Layers"] == [store.layers(busybox)[0].diff_id]
    assert info["Config"]["Cmd"] == ["sh"]
    assert info["Size"] == store.layers(busybox)[0].size > 1_000_000
    hist = store.history("busybox")
    assert hist[0]["Id"] == busybox and hist[0]["Tags"] == ["busybox:latest"]
    assert hist[0]["CreatedBy"] == 'CMD ["sh"]' and hist[0]["Size"] == 0
    assert hist[1]["Id"] == "<missing>" and hist[1]["Size"] == info["Size"]


def test_lookup_rules(store: ImageStore, busybox: str) -> None:
    hexid = busybox.removeprefix("sha256:")
    for spelling in (
        busybox,
        hexid,
        hexid[:12],
        "sha256:" + hexid[:10],
        "busybox",
        "docker.io/library/busybox:latest",
    ):
        assert store.resolve(spelling) == busybox
    with pytest.raises(ImageNotFound, match="No such image: nosuch:latest"):
        store.resolve("nosuch")
    with pytest.raises(ImageNotFound, match=f"No such image: sha256:{'0' * 64}"):
        store.resolve("0" * 64)
    with pytest.raises(InvalidReference, match="must be lowercase"):
        store.resolve("BusyBox")


# tag / rmi ---------------------------------------------------------------------------------


def test_tag_and_untag(store: ImageStore, busybox: str) -> None:
    ref = store.tag("busybox", "localhost:5000/me/bb")
    assert str(ref) == "localhost:5000/me/bb:latest"
    assert store.inspect(busybox)["RepoTags"] == ["busybox:latest", "localhost:5000/me/bb:latest"]
    assert store.remove("localhost:5000/me/bb") == [{"Untagged": "localhost:5000/me/bb:latest"}]
    assert store.exists(busybox)
    with pytest.raises(InvalidReference, match="refusing to create a tag with a digest"):
        store.tag("busybox", "x@sha256:" + "a" * 64)


def test_remove_last_tag_deletes_image_and_blobs(store: ImageStore, busybox: str) -> None:
    layer = store.layers(busybox)[0]
    records = store.remove("busybox")
    assert records == [
        {"Untagged": "busybox:latest"},
        {"Deleted": busybox},
        {"Deleted": layer.chain_id},
    ]
    assert store.list() == []
    assert list(store.content.walk()) == []


def test_remove_by_id_with_tags_in_several_repositories(store: ImageStore, busybox: str) -> None:
    store.tag("busybox", "other:1")
    with pytest.raises(
        ConflictError, match=r"\(must be forced\) - image is referenced in multiple"
    ):
        store.remove(busybox)
    records = store.remove(busybox[7:19], force=True)
    assert {"Untagged": "busybox:latest"} in records and {"Untagged": "other:1"} in records
    assert {"Deleted": busybox} in records
    assert not store.exists(busybox)


def test_remove_by_id_single_repository(store: ImageStore, busybox: str) -> None:
    records = store.remove(busybox)
    assert records[0] == {"Untagged": "busybox:latest"} and records[1] == {"Deleted": busybox}


def test_remove_in_use_by_stopped_container(store: ImageStore, busybox: str) -> None:
    store.add_image_use("c0ffee" * 10 + "abcd", busybox)
    with pytest.raises(
        ImageInUse,
        match=r'unable to remove repository reference "busybox" \(must force\)'
        r" - container c0ffeec0ffee is using its referenced image",
    ):
        store.remove("busybox")
    with pytest.raises(ImageInUse, match=r"\(must be forced\) - image is being used by stopped"):
        store.remove(busybox)
    # with a second tag, untagging one of them is fine
    store.tag("busybox", "bb:2")
    assert store.remove("bb:2") == [{"Untagged": "bb:2"}]
    chain = store.get(busybox).chain_id
    records = store.remove("busybox", force=True)
    assert {"Deleted": busybox} in records
    # the container still holds the layer chain, so it is not reported deleted
    assert {"Deleted": chain} not in records
    assert chain is not None and store.meta.chain_refcounts()[chain] == 1
    store.remove_image_use("c0ffee" * 10 + "abcd")
    assert chain not in store.meta.chain_refcounts()


def test_remove_in_use_by_running_container_cannot_be_forced(
    store: ImageStore, busybox: str
) -> None:
    def in_use(image_id: str) -> list[ImageUser]:
        return [ImageUser("deadbeef" * 8, True)] if image_id == busybox else []

    with pytest.raises(ImageInUse, match=r"\(cannot be forced\) - image is being used by running"):
        store.remove(busybox, force=True, in_use=in_use)
    assert store.exists("busybox")


def test_remove_not_found_and_invalid(store: ImageStore) -> None:
    with pytest.raises(ImageNotFound, match="No such image: nope:latest"):
        store.remove("nope")
    with pytest.raises(InvalidReference):
        store.remove("Nope")


def test_digest_references_go_with_the_last_tag(store: ImageStore, busybox: str) -> None:
    config = store.content.read_bytes(Digest.parse(busybox))
    layer = store.layers(busybox)[0]
    manifest, mtype = store.manifest(busybox)
    pulled = store.create_image(
        config,
        [(layer.blob_digest, layer.media_type, layer.diff_id, layer.size)],
        "localhost:5000/lib/bb:1",
        manifest=manifest,
        manifest_media_type=mtype,
    )
    assert pulled == busybox
    digests = store.inspect(busybox)["RepoDigests"]
    assert digests == [f"localhost:5000/lib/bb@{sha256_bytes(manifest)}"]
    records = store.remove("localhost:5000/lib/bb:1")
    assert records == [
        {"Untagged": "localhost:5000/lib/bb:1"},
        {"Untagged": f"localhost:5000/lib/bb@{sha256_bytes(manifest)}"},
    ]
    assert store.inspect(busybox)["RepoDigests"] == []


# save / load -------------------------------------------------------------------------------


def names_in(archive: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        return {m.name for m in tf.getmembers()}


def test_docker_archive_roundtrip(store: ImageStore, busybox: str, tmp_path: Path) -> None:
    store.tag("busybox", "bb:x")
    out = io.BytesIO()
    store.save(["busybox"], out)
    data = out.getvalue()
    names = names_in(data)
    assert {"manifest.json", "repositories", f"{busybox[7:]}.json"} <= names
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        manifest = json.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
        repos = json.loads(tf.extractfile("repositories").read())  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["busybox:latest"]  # NAME saves the repository's tags
    assert list(repos) == ["busybox"]
    other = ImageStore(tmp_path / "other")
    [loaded] = other.load(io.BytesIO(data))
    assert loaded.image_id == busybox and loaded.tags == ["busybox:latest"]
    assert loaded.messages() == ["Loaded image: busybox:latest"]
    other.verify("busybox", deep=True)
    assert other.layers("busybox")[0].diff_id == store.layers("busybox")[0].diff_id


def test_save_by_id_has_no_tags(store: ImageStore, busybox: str, tmp_path: Path) -> None:
    out = io.BytesIO()
    store.save([busybox], out)
    other = ImageStore(tmp_path / "o")
    [loaded] = other.load(io.BytesIO(out.getvalue()))
    assert loaded.tags == [] and loaded.messages() == [f"Loaded image ID: {busybox}"]


def test_oci_layout_roundtrip(store: ImageStore, busybox: str, tmp_path: Path) -> None:
    store.tag("busybox", "localhost/me/bb:v1")
    out = io.BytesIO()
    store.save_oci(["busybox:latest", "localhost/me/bb:v1"], out)
    data = out.getvalue()
    assert {"oci-layout", "index.json", "manifest.json"} <= names_in(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        index = json.loads(tf.extractfile("index.json").read())  # type: ignore[union-attr]
    refs = sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"])
    assert refs == ["latest", "v1"]
    other = ImageStore(tmp_path / "other")
    [loaded] = other.load(io.BytesIO(data))
    assert loaded.image_id == busybox
    assert sorted(loaded.tags) == ["busybox:latest", "localhost/me/bb:v1"]
    assert other.get(busybox).manifest_digest == store.get(busybox).manifest_digest
    other.verify(busybox, deep=True)


def test_gzip_compressed_archive_and_gzip_layers(store: ImageStore, tmp_path: Path) -> None:
    layer = tar_bytes({"hello.txt": b"hello\n"}, dirs=("d",))
    gz = gzip.compress(layer, mtime=0)
    # an OCI layout whose layer blob is gzip-compressed, the archive gzipped too
    cfg = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [str(sha256_bytes(layer))]},
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.OCI_CONFIG,
                "digest": str(sha256_bytes(cfg)),
                "size": len(cfg),
            },
            "layers": [
                {"mediaType": mt.OCI_LAYER_GZIP, "digest": str(sha256_bytes(gz)), "size": len(gz)}
            ],
        }
    )
    index = canonical_json(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": str(sha256_bytes(manifest)),
                    "size": len(manifest),
                    "annotations": {"org.opencontainers.image.ref.name": "localhost/gz:1"},
                }
            ],
        }
    )
    files = {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        "index.json": index,
        **{f"blobs/sha256/{sha256_bytes(b).hex}": b for b in (cfg, manifest, gz)},
    }
    [loaded] = store.load(io.BytesIO(gzip.compress(tar_bytes(files))))
    assert loaded.tags == ["localhost/gz:1"]
    [rec] = store.layers(loaded.image_id)
    assert rec.media_type == mt.OCI_LAYER_GZIP and rec.size == len(layer)
    # docker save writes the layer uncompressed, as Docker 20.10 does
    out = io.BytesIO()
    store.save(["localhost/gz:1"], out)
    other = ImageStore(tmp_path / "o")
    [again] = other.load(io.BytesIO(out.getvalue()))
    assert again.image_id == loaded.image_id
    assert other.layers(again.image_id)[0].blob_digest == str(sha256_bytes(layer))


# refused input leaves the store unchanged ---------------------------------------------------


def test_diff_id_mismatch_is_refused(store: ImageStore, busybox: str) -> None:
    before = state(store)
    layer = tar_bytes({"a": b"a"})
    bad = docker_archive([layer], tags=["busybox:latest"], diff_ids=["sha256:" + "0" * 64])
    with pytest.raises(InvalidImage, match="diff_id"):
        store.load(io.BytesIO(bad))
    assert state(store) == before
    assert store.resolve("busybox") == busybox  # the tag did not move


def test_layer_count_mismatch_is_refused(store: ImageStore) -> None:
    before = state(store)
    layer = tar_bytes({"a": b"a"})
    bad = docker_archive([layer, layer], diff_ids=[str(sha256_bytes(layer))])
    with pytest.raises(InvalidImage, match="lists 1 layers"):
        store.load(io.BytesIO(bad))
    assert state(store) == before


def oci_layout_with_manifest(manifest: bytes, media_type: str = mt.OCI_MANIFEST) -> bytes:
    index = canonical_json(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": media_type,
                    "digest": str(sha256_bytes(manifest)),
                    "size": len(manifest),
                }
            ],
        }
    )
    return tar_bytes(
        {
            "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
            "index.json": index,
            f"blobs/sha256/{sha256_bytes(manifest).hex}": manifest,
        }
    )


@pytest.mark.parametrize(
    ("manifest", "media_type", "message"),
    [
        (b'{"schemaVersion":2,"layers":[],"manifests":[]}', mt.OCI_MANIFEST, "both"),
        (b"{not json", mt.OCI_MANIFEST, "not valid JSON"),
        (
            b'{"schemaVersion":2,"mediaType":"application/x-bogus","layers":[]}',
            "application/x-bogus",
            "unsupported manifest media type",
        ),
    ],
)
def test_malformed_manifest_is_refused(
    store: ImageStore, busybox: str, manifest: bytes, media_type: str, message: str
) -> None:
    before = state(store)
    with pytest.raises(InvalidImage, match=message):
        store.load(io.BytesIO(oci_layout_with_manifest(manifest, media_type)))
    assert state(store) == before


def test_corrupt_and_truncated_archives(store: ImageStore, busybox: str) -> None:
    out = io.BytesIO()
    store.save_oci(["busybox"], out)
    data = out.getvalue()
    fresh_root = store.root.parent / "fresh"
    fresh = ImageStore(fresh_root)
    before = state(fresh)
    with pytest.raises(ArchiveError):
        fresh.load(io.BytesIO(data[: len(data) // 2]))
    assert state(fresh) == before
    # flip one byte inside the layer blob: its name no longer matches its content
    pos = data.index(b"BusyBox", len(data) // 4)
    corrupt = data[:pos] + b"X" + data[pos + 1 :]
    with pytest.raises(ArchiveError, match="digest mismatch"):
        fresh.load(io.BytesIO(corrupt))
    assert state(fresh) == before
    with pytest.raises(ArchiveError):
        fresh.load(io.BytesIO(os.urandom(4096)))
    with pytest.raises(ArchiveError, match=r"no manifest\.json"):
        fresh.load(io.BytesIO(tar_bytes({"hello": b"x"})))
    assert state(fresh) == before


def test_missing_blob_in_layout(store: ImageStore, busybox: str) -> None:
    out = io.BytesIO()
    store.save_oci(["busybox"], out)
    layer = store.layers(busybox)[0].blob_digest.removeprefix("sha256:")
    kept = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(out.getvalue())) as src,
        tarfile.open(fileobj=kept, mode="w") as dst,
    ):
        for m in src.getmembers():
            if layer not in m.name and m.name != "manifest.json":
                dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    fresh = ImageStore(store.root.parent / "fresh")
    with pytest.raises(ArchiveError, match="missing"):
        fresh.load(io.BytesIO(kept.getvalue()))
    assert list(fresh.content.walk()) == []


# import / commit ---------------------------------------------------------------------------


def test_import_with_changes(store: ImageStore) -> None:
    rootfs = tar_bytes({"etc/motd": b"hi\n", "bin/tool": b"#!/bin/sh\n"}, dirs=("etc", "bin"))
    image_id = store.import_rootfs(
        io.BytesIO(gzip.compress(rootfs)),
        "imported:1",
        ['CMD ["sh"]', "ENV A=b", "WORKDIR /x"],
        "my message",
    )
    cfg = store.config("imported:1")
    assert cfg.config == {"Cmd": ["sh"], "Env": ["A=b"], "WorkingDir": "/x"}
    assert cfg.history[0].comment == "my message"
    [layer] = store.layers(image_id)
    assert layer.blob_digest == layer.diff_id == str(sha256_bytes(rootfs))
    store.verify(image_id, deep=True)
    plain = store.import_rootfs(io.BytesIO(rootfs))
    assert store.config(plain).history[0].comment == "Imported from -"
    assert store.inspect(plain)["RepoTags"] == []


def test_import_refuses_garbage_and_bad_changes(store: ImageStore, busybox: str) -> None:
    before = state(store)
    with pytest.raises(InvalidImage):
        store.import_rootfs(io.BytesIO(b"this is not a tarball" * 100), "busybox:latest")
    with pytest.raises(InvalidImage):
        store.import_rootfs(io.BytesIO(b"\x1f\x8b\x08\x00garbage"), "busybox:latest")
    with pytest.raises(InvalidChange):
        store.import_rootfs(io.BytesIO(tar_bytes({"a": b""})), "busybox:latest", ["RUN x"])
    assert state(store) == before


def test_commit_from_a_diff_stream(store: ImageStore, busybox: str) -> None:
    diff = tar_bytes({"root/new.txt": b"made in a container\n"}, dirs=("root",))
    child = store.commit(
        io.BytesIO(diff),
        "busybox",
        {"Cmd": ["cat", "/root/new.txt"]},
        "child:1",
        author="me",
        message="added a file",
        changes=["ENV X=1"],
        created_by="sh -c echo",
    )
    cfg = store.config(child)
    base = store.layers(busybox)
    layers = store.layers(child)
    assert [x.diff_id for x in layers] == [base[0].diff_id, str(sha256_bytes(diff))]
    assert layers[1].chain_id == str(chain_ids([x.diff_id for x in layers])[1])
    assert cfg.config["Cmd"] == ["cat", "/root/new.txt"]
    assert "X=1" in cfg.config["Env"] and any(e.startswith("PATH=") for e in cfg.config["Env"])
    assert cfg.history[-1].comment == "added a file" and cfg.history[-1].author == "me"
    info = store.inspect("child:1")
    assert info["Parent"] == busybox and info["Author"] == "me"
    hist = store.history("child:1")
    assert [h["Id"] for h in hist] == [child, busybox, "<missing>"]
    assert hist[0]["Tags"] == ["child:1"] and hist[1]["Tags"] == ["busybox:latest"]
    assert hist[0]["CreatedBy"] == "sh -c echo" and hist[0]["Comment"] == "added a file"
    assert hist[0]["Size"] == len(diff)
    store.verify(child, deep=True)
    # the parent loses its tag but stays: it has a dependent child
    assert store.remove("busybox") == [{"Untagged": "busybox:latest"}]
    with pytest.raises(ConflictError, match="dependent child images"):
        store.remove(busybox, force=True)
    records = store.remove("child:1")
    assert {"Deleted": child} in records and {"Deleted": busybox} in records
    assert store.list() == []


# prune, disk usage, verify, gc -------------------------------------------------------------


def test_prune_dangling_and_all(store: ImageStore, busybox: str) -> None:
    dangling = store.import_rootfs(io.BytesIO(tar_bytes({"x": b"1"})))
    used = store.import_rootfs(io.BytesIO(tar_bytes({"y": b"2"})))
    store.add_image_use("c1", used)
    chain = store.get(dangling).chain_id
    result = store.prune()
    assert result["ImagesDeleted"] == [{"Deleted": dangling}, {"Deleted": chain}]
    assert result["SpaceReclaimed"] > 0
    assert store.exists(busybox) and store.exists(used)
    result = store.prune(all=True)
    assert {"Untagged": "busybox:latest"} in result["ImagesDeleted"]
    assert not store.exists(busybox) and store.exists(used)


def test_disk_usage_shared_and_unique(store: ImageStore, busybox: str) -> None:
    child = store.commit(io.BytesIO(tar_bytes({"f": b"x" * 5000})), busybox, None, "c:1")
    usage = {i["Id"]: i for i in store.disk_usage()["Images"]}
    base_size = store.layers(busybox)[0].size
    assert usage[busybox]["SharedSize"] == base_size and usage[busybox]["UniqueSize"] == 0
    assert usage[child]["SharedSize"] == base_size
    assert usage[child]["UniqueSize"] == store.layers(child)[1].size
    assert store.disk_usage()["LayersSize"] == base_size + store.layers(child)[1].size


def test_verify_detects_corruption(store: ImageStore, busybox: str) -> None:
    blob = store.content.blob_path(Digest.parse(store.layers(busybox)[0].blob_digest))
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as f:
        f.seek(5000)
        f.write(b"\0corrupt\0")
    with pytest.raises(ImageCorrupt, match="digest mismatch"):
        store.verify(busybox)
    assert list(store.verify_all()) == [busybox]
    blob.unlink()
    with pytest.raises(ImageCorrupt, match="not found"):
        store.verify(busybox)


def test_gc_removes_only_unreferenced(store: ImageStore, busybox: str) -> None:
    orphan = store.content.put_bytes(b"orphan")
    result = store.gc()
    assert result.blobs_removed == [str(orphan)]
    assert result.bytes_reclaimed == len(b"orphan")
    store.verify(busybox)
    lease = store.meta.create_lease()
    held = store.content.put_bytes(b"held")
    store.meta.add_lease_resource(lease, "blob", str(held))
    assert store.gc().blobs_removed == []
    store.meta.delete_lease(lease)
    assert store.gc().blobs_removed == [str(held)]


def test_create_image_checks_layers(store: ImageStore) -> None:
    layer = tar_bytes({"a": b"1"})
    d = store.content.put_bytes(layer)
    cfg = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "9" * 64]},
        }
    )
    with pytest.raises(InvalidImage, match="diff_id"):
        store.create_image(cfg, [LayerInput(d)], "x:1")
    assert store.list() == [] and not store.exists("x:1")


def test_pull_flow_with_a_lease(store: ImageStore) -> None:
    layer = gzip.compress(tar_bytes({"pulled": b"over the network"}), mtime=0)
    diff_id = sha256_bytes(gzip.decompress(layer))
    lease = store.create_lease()
    blob = sha256_bytes(layer)
    with pytest.raises(ConnectionError), store.blob_writer(lease, blob, len(layer)) as w:
        w.write(layer[:10])
        raise ConnectionError("connection lost; the ingest stays for a resume")
    assert store.gc().ingests_removed == []
    with store.blob_writer(lease, blob, len(layer)) as w:
        assert w.offset == 10
        w.write(layer[w.offset :])
        w.commit()
    assert store.gc().blobs_removed == []  # the lease protects the blob before any image does
    cfg = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [str(diff_id)]},
        }
    )
    image = store.create_image(cfg, [LayerInput(blob, mt.OCI_LAYER_GZIP)], "pulled:1", lease=lease)
    assert store.meta.leases() == []
    [rec] = store.layers(image)
    assert (rec.media_type, rec.diff_id) == (mt.OCI_LAYER_GZIP, str(diff_id))
    store.verify("pulled:1", deep=True)
    assert store.gc().blobs_removed == []


def test_load_leaves_no_stray_blobs(
    store: ImageStore, busybox: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dockyard.store.archive as arc

    out = io.BytesIO()
    store.save(["busybox"], out)
    monkeypatch.setattr(arc, "MAX_IN_MEMORY", 0)  # every member goes through the content store
    other = ImageStore(tmp_path / "o")
    [loaded] = other.load(io.BytesIO(out.getvalue()))
    counts = other.meta.blob_refcounts()
    assert sorted(str(b.digest) for b in other.content.walk()) == sorted(
        d for d in counts if other.content.exists(Digest.parse(d))
    )
    assert len(list(other.content.walk())) == 3  # manifest, config, one layer
    other.verify(loaded.image_id, deep=True)


def test_open_sweeps_orphans_left_by_a_crash(store: ImageStore, busybox: str) -> None:
    orphan = store.content.put_bytes(b"left behind by a crash between metadata and blob delete")
    dead = store.meta.create_lease()
    with store.meta.transaction():  # a lease of a process that no longer exists
        store.meta._db.execute("UPDATE leases SET pid=? WHERE id=?", (2**22 + 12345, dead))
    store.meta.add_lease_resource(dead, "blob", str(orphan))
    reopened = ImageStore(store.root)
    assert reopened.recovered is not None and reopened.recovered.blobs_removed == [str(orphan)]
    assert reopened.meta.leases() == []
    reopened.verify(busybox)


def test_list_survives_a_missing_config(store: ImageStore, busybox: str) -> None:
    store.content.delete(Digest.parse(busybox))
    [row] = store.list()
    assert row.id == busybox and row.repo_tags == ["busybox:latest"]
    with pytest.raises(ImageCorrupt):
        store.inspect("busybox")
    assert {"Deleted": busybox} in store.remove("busybox")


def test_gc_waits_for_operations_in_flight(store: ImageStore, busybox: str) -> None:
    import threading

    started, release = threading.Event(), threading.Event()

    class SlowStream(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            started.set()
            release.wait(10)
            return super().read(n)

    result: list[str] = []
    rootfs = tar_bytes({"slow": b"s" * 1000})
    worker = threading.Thread(
        target=lambda: result.append(store.import_rootfs(SlowStream(rootfs), "slow:1"))
    )
    worker.start()
    assert started.wait(10)
    orphan = store.content.put_bytes(b"garbage, but gc must not run now")
    store.gc(blocking=False)  # skipped: an operation holds the store lock
    assert store.content.exists(orphan)
    release.set()
    worker.join(10)
    assert result and store.resolve("slow:1") == result[0]
    assert store.gc().blobs_removed == [str(orphan)]
    store.verify("slow:1", deep=True)


def test_oci_layout_with_sha512_blobs(store: ImageStore, tmp_path: Path) -> None:
    from dockyard.oci.digest import digest_bytes

    layer = tar_bytes({"512": b"bits"})
    cfg = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [str(sha256_bytes(layer))]},
        }
    )
    d512 = {k: digest_bytes(v, "sha512") for k, v in (("cfg", cfg), ("layer", layer))}
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": str(d512["cfg"]), "size": len(cfg)},
            "layers": [
                {"mediaType": mt.OCI_LAYER, "digest": str(d512["layer"]), "size": len(layer)}
            ],
        }
    )
    mdig = digest_bytes(manifest, "sha512")
    index = canonical_json(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": str(mdig),
                    "size": len(manifest),
                    "annotations": {"io.containerd.image.name": "localhost/five12:1"},
                }
            ],
        }
    )
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
    for d, body in ((d512["cfg"], cfg), (d512["layer"], layer), (mdig, manifest)):
        files[f"blobs/sha512/{d.hex}"] = body
    [loaded] = store.load(io.BytesIO(tar_bytes(files)))
    assert loaded.image_id == str(d512["cfg"]) and loaded.tags == ["localhost/five12:1"]
    [rec] = store.layers(loaded.image_id)
    assert rec.blob_digest == str(d512["layer"]) and rec.diff_id == str(sha256_bytes(layer))
    store.verify("localhost/five12:1", deep=True)
    out = io.BytesIO()
    store.save(["localhost/five12:1"], out)
    other = ImageStore(tmp_path / "o")
    [again] = other.load(io.BytesIO(out.getvalue()))
    assert other.layers(again.image_id)[0].diff_id == rec.diff_id


def test_decompression_bombs_are_stopped(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "s", max_layer_size=1 << 20)
    big = tar_bytes({"zeros": b"\0" * (8 << 20)})
    bomb = gzip.compress(big, compresslevel=9)
    assert len(bomb) < 100_000
    before = state(store)
    with pytest.raises(InvalidImage, match="limit"):
        store.import_rootfs(io.BytesIO(bomb), "bomb:1")
    assert state(store) == before
    archive = docker_archive([bomb], tags=["bomb:2"], diff_ids=[str(sha256_bytes(big))])
    with pytest.raises(InvalidImage, match="limit"):
        store.load(io.BytesIO(archive))
    assert state(store) == before
