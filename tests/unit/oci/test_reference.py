"""Image references: the cases of distribution/reference's own test tables."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.oci.reference import (
    InvalidReference,
    Reference,
    familiar_string,
    normalize,
    parse,
    parse_normalized_named,
    parse_tag_reference,
)

HEX64 = "f" * 64
DIGEST = f"sha256:{HEX64}"


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/debian", "docker.io/library/debian:latest"),
        ("docker/docker", "docker.io/docker/docker:latest"),
        ("docker.io/debian", "docker.io/library/debian:latest"),
        ("docker.io/library/debian", "docker.io/library/debian:latest"),
        ("index.docker.io/debian", "docker.io/library/debian:latest"),
        ("index.docker.io/docker/docker", "docker.io/docker/docker:latest"),
        ("127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker:latest"),
        ("127.0.0.1:5000/debian", "127.0.0.1:5000/debian:latest"),
        ("192.168.0.1", "docker.io/library/192.168.0.1:latest"),
        ("192.168.0.1:80", "docker.io/library/192.168.0.1:80"),
        ("192.168.0.1:8/debian", "192.168.0.1:8/debian:latest"),
        ("localhost/x", "localhost/x:latest"),
        ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
        ("host:5000/a/b:tag", "host:5000/a/b:tag"),
        ("[fc00::1]:5000/docker", "[fc00::1]:5000/docker:latest"),
        ("[fc00::1]:5000/docker/docker:v1", "[fc00::1]:5000/docker/docker:v1"),
        ("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080"),
        ("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080"),
        ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com"),
        (
            "b.gcr.io/test.example.com/my-app:test.example.com",
            "b.gcr.io/test.example.com/my-app:test.example.com",
        ),
        (
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        ),
        ("a__b/c--d/e.f", "docker.io/a__b/c--d/e.f:latest"),
        ("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
        (f"busybox:1@{DIGEST}", f"docker.io/library/busybox:1@{DIGEST}"),
        (f"docker.io/{'a1' * 32}", f"docker.io/library/{'a1' * 32}:latest"),
        (f"repo@sha512:{'e' * 128}", f"docker.io/library/repo@sha512:{'e' * 128}"),
    ],
)
def test_normalize(value: str, canonical: str) -> None:
    assert str(normalize(value)) == canonical


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "invalid reference format"),
        ("https://github.com/docker/docker", "invalid reference format"),
        ("-docker", "invalid reference format"),
        ("-docker/docker", "invalid reference format"),
        ("-docker.io/docker/docker", "invalid reference format"),
        ("docker///docker", "invalid reference format"),
        ("docker.io/docker///docker", "invalid reference format"),
        ("[fc00::1]", "invalid reference format"),
        ("[fc00::1]:5000", "invalid reference format"),
        ("fc00::1:5000/debian", "invalid reference format"),
        ("[fc00::1]:5000/debian:", "invalid reference format"),
        ("busybox:", "invalid reference format"),
        (":justtag", "invalid reference format"),
        (f"@{DIGEST}", "invalid reference format"),
        ("aa/asdf$$^/aa", "invalid reference format"),
        ("busybox@sha256:abc", "invalid reference format"),
        ("a:" + "t" * 129, "invalid reference format"),
        ("docker/Docker", "invalid reference format: repository name must be lowercase"),
        ("Busybox", "invalid reference format: repository name must be lowercase"),
        ("docker.io/docker/Docker", "invalid reference format: repository name must be lowercase"),
        (HEX64, "cannot specify 64-byte hexadecimal strings"),
        ("a/" * 128 + "a:tag", "repository name must not be more than 255 characters"),
        (f"name@sha256:{'f' * 40}", "invalid checksum digest length"),
        (f"name@md5:{'f' * 32}", "unsupported digest algorithm"),
    ],
)
def test_invalid(value: str, message: str) -> None:
    with pytest.raises(InvalidReference) as exc:
        parse_normalized_named(value)
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("value", "domain", "path", "tag", "digest"),
    [
        ("test_com", "", "test_com", None, None),
        ("test.com:tag", "", "test.com", "tag", None),
        ("test.com:5000", "", "test.com", "5000", None),
        ("test.com/repo:tag", "test.com", "repo", "tag", None),
        ("test:5000/repo", "test:5000", "repo", None, None),
        ("test:5000/repo:tag", "test:5000", "repo", "tag", None),
        (f"test:5000/repo@{DIGEST}", "test:5000", "repo", None, DIGEST),
        (f"test:5000/repo:tag@{DIGEST}", "test:5000", "repo", "tag", DIGEST),
        ("foo/foo_bar.com:8080", "foo", "foo_bar.com", "8080", None),
        ("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "repo", None, None),
        ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", None),
        (
            "a/" * 127 + "a:tag-puts-this-over-max",
            "a",
            "a/" * 126 + "a",
            "tag-puts-this-over-max",
            None,
        ),
    ],
)
def test_parse_parts(
    value: str, domain: str, path: str, tag: str | None, digest: str | None
) -> None:
    ref = parse(value)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert str(ref) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "repository name must have at least one component"),
        ("Uppercase:tag", "repository name must be lowercase"),
        ("test:5000/Uppercase/lowercase:tag", "repository name must be lowercase"),
        ("[2001:db8::1]:/repo", "invalid reference format"),
        ("2001:db8::1:5000/repo", "invalid reference format"),
    ],
)
def test_parse_errors(value: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        parse(value)


@pytest.mark.parametrize(
    ("value", "familiar"),
    [
        ("docker.io/library/ubuntu:latest", "ubuntu:latest"),
        ("docker.io/foo/bar", "foo/bar"),
        ("docker.io/library/foo/bar", "library/foo/bar"),
        ("localhost:5000/foo", "localhost:5000/foo"),
        ("busybox", "busybox"),
        (f"busybox@{DIGEST}", f"busybox@{DIGEST}"),
        ("quay.io/library/x:1", "quay.io/library/x:1"),
    ],
)
def test_familiar(value: str, familiar: str) -> None:
    assert familiar_string(value) == familiar


def test_uppercase_first_component_is_a_registry() -> None:
    # distribution/reference ≥ 0.5: an uppercase first component can only be a host name.
    ref = parse_normalized_named("Foo/bar")
    assert (ref.domain, ref.path) == ("Foo", "bar")


def test_reference_properties() -> None:
    ref = normalize("busybox")
    assert ref == Reference("docker.io", "library/busybox", "latest", None)
    assert ref.name == "docker.io/library/busybox"
    assert ref.familiar() == "busybox:latest"
    assert ref.familiar_name() == "busybox"
    assert str(ref.with_digest(DIGEST)) == f"docker.io/library/busybox@{DIGEST}"
    with pytest.raises(InvalidReference):
        ref.with_tag("bad tag")


def test_non_ascii_tag_is_refused() -> None:
    with pytest.raises(InvalidReference):
        parse_normalized_named("busybox:\u00e9t\u00e9")


def test_digest_reference_is_not_tagged() -> None:
    assert normalize(f"busybox@{DIGEST}").tag is None


def test_tag_reference_refuses_digest() -> None:
    with pytest.raises(InvalidReference, match="refusing to create a tag with a digest"):
        parse_tag_reference(f"busybox@{DIGEST}")
    assert str(parse_tag_reference("x")) == "docker.io/library/x:latest"


_component = st.from_regex(r"[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,5})?", fullmatch=True)


@given(
    st.lists(_component, min_size=1, max_size=4),
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
)
def test_roundtrip_property(parts: list[str], tag: str) -> None:
    text = "/".join(parts) + ":" + tag
    ref = parse_normalized_named(text)
    assert parse_normalized_named(str(ref)) == ref
    assert parse_normalized_named(ref.familiar()) == ref
