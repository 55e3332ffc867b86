from __future__ import annotations

import pytest

from dockyard.oci.reference import Reference, parse_normalized_named
from dockyard.store.errors import ConflictError, ImageInUse
from dockyard.store.rmi import (
    ImageUser,
    find_conflict,
    is_id_prefix,
    reference_in_use,
    single_reference,
    untag_by_name,
)

IMG = "sha256:" + "ab" * 32
DG = "sha256:" + "c" * 64


def refs(*names: str) -> list[Reference]:
    return [
        parse_normalized_named(n).tagged_or_latest() if "@" not in n else parse_normalized_named(n)
        for n in names
    ]


@pytest.mark.parametrize(
    ("names", "single"),
    [
        ((), False),
        (("a:1",), True),
        (("a:1", "a:2"), False),
        (("a:1", f"a@{DG}"), True),
        (("a:1", f"b@{DG}"), False),
        ((f"a@{DG}",), True),
        ((f"a@{DG}", f"a@sha256:{'d' * 64}"), True),
        ((f"a@{DG}", f"b@sha256:{'d' * 64}"), False),
    ],
)
def test_single_reference(names: tuple[str, ...], single: bool) -> None:
    assert single_reference(refs(*names)) is single


def test_id_prefix() -> None:
    assert is_id_prefix(IMG, IMG)
    assert is_id_prefix(IMG, "abab")
    assert is_id_prefix(IMG, "sha256:abab")
    assert not is_id_prefix(IMG, "busybox")


def test_untag_last_tag_takes_the_repository_digests() -> None:
    have = refs("a:1", f"a@{DG}", f"b@{DG}")
    drop, remaining = untag_by_name(have[0], have)
    assert [str(r) for r in drop] == ["docker.io/library/a:1", f"docker.io/library/a@{DG}"]
    assert [str(r) for r in remaining] == [f"docker.io/library/b@{DG}"]


def test_untag_one_of_two_tags_keeps_digests() -> None:
    have = refs("a:1", "a:2", f"a@{DG}")
    drop, remaining = untag_by_name(have[0], have)
    assert [r.tag for r in drop] == ["1"]
    assert len(remaining) == 2


def test_untag_a_digest_reference_only() -> None:
    have = refs("a:1", f"a@{DG}")
    drop, remaining = untag_by_name(have[1], have)
    assert [r.digest for r in drop] == [DG] and [r.tag for r in remaining] == ["1"]


def test_conflict_order_and_kinds() -> None:
    stopped, running = ImageUser("s" * 64, False), ImageUser("r" * 64, True)
    c = find_conflict(has_children=True, users=[running], has_references=True)
    assert c is not None and c.hard and "dependent child" in c.message
    c = find_conflict(has_children=False, users=[stopped, running], has_references=True)
    assert c is not None and c.hard and c.used and "running container rrrrrrrrrrrr" in c.message
    c = find_conflict(has_children=False, users=[stopped], has_references=True)
    assert c is not None and not c.hard and "multiple repositories" in c.message
    c = find_conflict(has_children=False, users=[stopped], has_references=False)
    assert c is not None and c.used and "stopped container ssssssssssss" in c.message
    # force: soft conflicts are ignored, hard ones are not
    assert (
        find_conflict(has_children=False, users=[stopped], has_references=True, soft=False) is None
    )
    assert find_conflict(has_children=True, users=[], has_references=False, soft=False) is not None
    assert find_conflict(has_children=False, users=[], has_references=False) is None


def test_conflict_errors_read_like_docker() -> None:
    c = find_conflict(has_children=False, users=[ImageUser("f" * 64, True)], has_references=False)
    assert c is not None
    err = c.error(IMG)
    assert isinstance(err, ImageInUse)
    assert str(err) == (
        "conflict: unable to delete abababababab (cannot be forced) - "
        "image is being used by running container ffffffffffff"
    )
    c = find_conflict(has_children=False, users=[], has_references=True)
    assert c is not None and type(c.error(IMG)) is ConflictError
    assert str(reference_in_use("busybox", IMG, ImageUser("e" * 64))) == (
        'conflict: unable to remove repository reference "busybox" (must force) - '
        "container eeeeeeeeeeee is using its referenced image abababababab"
    )
