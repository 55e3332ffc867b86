"""`cp` between the local filesystem and a container, through tar archives (the API's
/containers/{id}/archive GET/HEAD/PUT), with the docker CLI's naming rules:
copying onto an existing directory puts the source inside it; onto a missing path names
the copy after that path."""

from __future__ import annotations

import base64
import json
import os
import sys
import tarfile
import tempfile

from dockyard.cli.errors import CliError, DaemonError
from dockyard.cli.transport import Client, quote_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any


GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27


def path_stat(header: str | None) -> dict[str, Any]:
    """Decode X-Docker-Container-Path-Stat (base64 JSON)."""
    if not header:
        return {}
    try:
        data = json.loads(base64.b64decode(header))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def stat_in_container(client: Client, container: str, path: str) -> dict[str, Any] | None:
    try:
        resp = client.request(
            "HEAD", f"/containers/{quote_path(container)}/archive", {"path": path}
        )
    except DaemonError as exc:
        if exc.http_status == 404 and "no such container" not in exc.message.lower():
            return None
        raise
    resp.read()
    resp.close()
    return path_stat(resp.getheader("X-Docker-Container-Path-Stat"))


def rename_root(name: str, old_root: str, new_root: str) -> str:
    """Replace the archive's first path component `old_root` by `new_root`."""
    head, sep, tail = name.partition("/")
    if head != old_root:
        return name
    return new_root + sep + tail


def from_container(client: Client, container: str, src: str, dst: str, follow: bool) -> None:
    shown_name = os.path.basename(src.rstrip("/")) or "/"
    if follow:
        # -L: copy what a symlink points to, under the link's own name.
        link = stat_in_container(client, container, src)
        if link and int(link.get("mode", 0)) & GO_MODE_SYMLINK and link.get("linkTarget"):
            target = str(link["linkTarget"])
            if not target.startswith("/"):
                target = os.path.join(os.path.dirname(src.rstrip("/")) or "/", target)
            src = os.path.normpath(target)
    resp = client.request("GET", f"/containers/{quote_path(container)}/archive", {"path": src})
    if dst == "-":
        sys.stdout.flush()
        from dockyard.cli.stdio import write_all

        while chunk := resp.read(1 << 16):
            write_all(1, chunk)
        resp.close()
        return
    stat = path_stat(resp.getheader("X-Docker-Container-Path-Stat"))
    src_is_dir = bool(int(stat.get("mode", 0)) & GO_MODE_DIR)
    src_base = str(stat.get("name") or os.path.basename(src.rstrip("/")) or "/")
    copy_contents = src.endswith("/.")
    if os.path.isdir(dst):
        target_dir, new_root = dst, shown_name
        if copy_contents:
            new_root = ""
    else:
        if dst.endswith("/"):
            raise CliError(f'Error: destination directory "{dst}" must exist')
        parent = os.path.dirname(os.path.abspath(dst))
        if not os.path.isdir(parent):
            raise CliError(f"Error: lstat {parent}: no such file or directory")
        if src_is_dir and os.path.exists(dst):
            raise CliError("Error: cannot copy a directory to a file")
        target_dir, new_root = parent, os.path.basename(dst)
    uid, gid = os.getuid(), os.getgid()

    links: set[str] = set()

    def member_filter(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        name = rename_root(member.name, src_base, new_root).lstrip("/")
        if not name or name == ".":
            return None
        renamed = member.replace(name=name, deep=False)
        return safe_member(renamed, path, links).replace(
            uid=uid, gid=gid, uname="", gname="", deep=False
        )

    try:
        with tarfile.open(fileobj=resp, mode="r|") as archive:  # type: ignore[call-overload]
            if not hasattr(tarfile, "data_filter"):
                _extract_legacy(archive, target_dir, src_base, new_root, links)
                return
            archive.extractall(target_dir, filter=member_filter)
    except tarfile.FilterError as exc:
        # A link pointing outside the destination (or absolute) is refused rather than
        # written: later members could otherwise be extracted through it.
        raise CliError(f"Error: refusing to extract {exc.tarinfo.name!r}: {exc}") from None
    except tarfile.TarError as exc:
        raise CliError(f"Error: bad archive from the daemon: {exc}") from None
    finally:
        resp.close()


def _extract_legacy(
    archive: tarfile.TarFile, dest: str, src_base: str, new_root: str, links: set[str]
) -> None:
    """Python before 3.11.4 (Debian 12's 3.11.2 runs the CLI's launcher) has no extraction
    filters: the same checks by hand, one member at a time."""
    import copy

    uid, gid = os.getuid(), os.getgid()
    for member in archive:
        name = rename_root(member.name, src_base, new_root).lstrip("/")
        norm = os.path.normpath(name) if name else "."
        if norm == ".":
            continue
        if norm == ".." or norm.startswith("../"):
            raise CliError(f"Error: refusing to extract {member.name!r}: outside the destination")
        parts = norm.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in links:
                raise CliError(f"Error: refusing to extract {member.name!r}: through a link")
        if member.islnk():
            target = os.path.normpath(rename_root(member.linkname, src_base, new_root))
            if target.startswith(("/", "../")) or target == "..":
                raise CliError(f"Error: refusing to extract {member.name!r}: link outside")
        elif member.isdev():
            raise CliError(f"Error: refusing to extract {member.name!r}: a special file")
        checked = copy.copy(member)
        checked.name = norm
        checked.uid, checked.gid, checked.uname, checked.gname = uid, gid, "", ""
        if member.islnk():
            checked.linkname = target
        if not member.issym():
            checked.mode &= ~0o7022  # as tarfile's data filter: no setuid, no group/other write
        else:
            links.add(norm)
        archive.extract(checked, dest)


def safe_member(member: tarfile.TarInfo, dest: str, links: set[str]) -> tarfile.TarInfo:
    """Docker copies symlinks as they are, whatever they point to; that is safe as long as
    no later member is written *through* one. Other members get tarfile's `data` filter."""
    parts = os.path.normpath(member.name).split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[:i]) in links:
            raise tarfile.OutsideDestinationError(member, os.path.join(dest, member.name))
    if member.issym():
        checked = tarfile.tar_filter(member, dest)
        links.add(os.path.normpath(checked.name))
        return checked
    return tarfile.data_filter(member, dest)


def _build_tar(src: str, arcname: str, archive: bool, follow: bool) -> IO[bytes]:
    if not os.path.lexists(src):
        raise CliError(f"lstat {os.path.abspath(src)}: no such file or directory")
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (returned open, the caller closes it)

    def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
        if not archive:
            info.uid = info.gid = 0
            info.uname = info.gname = ""
        return info

    with tarfile.open(fileobj=spool, mode="w", dereference=follow) as tar:
        tar.add(src, arcname=arcname, filter=reset)
    spool.seek(0)
    return spool


def to_container(
    client: Client, container: str, dst: str, src: str, follow: bool, archive: bool
) -> None:
    params: dict[str, Any] = {"noOverwriteDirNonDir": True, "copyUIDGID": archive or None}
    path_q = f"/containers/{quote_path(container)}/archive"
    if src == "-":
        params["path"] = dst
        client.call("PUT", path_q, params, data=sys.stdin.buffer, content_type="application/x-tar")
        return
    dst_stat = stat_in_container(client, container, dst)
    src_base = os.path.basename(os.path.normpath(src))
    if dst_stat is not None and int(dst_stat.get("mode", 0)) & GO_MODE_DIR:
        target_dir, arcname = dst, src_base
        if src.endswith("/.") and os.path.isdir(src):
            arcname = "."
    else:
        if dst.endswith("/"):
            raise CliError(
                f"Error response from daemon: Could not find the file {dst} in "
                f"container {container}"
            )
        if os.path.isdir(src) and dst_stat is not None:
            raise CliError("Error: cannot copy a directory to a file")
        target_dir = os.path.dirname(dst.rstrip("/")) or "/"
        arcname = os.path.basename(dst.rstrip("/"))
    params["path"] = target_dir
    body = _build_tar(src, arcname, archive, follow)
    size = os.fstat(body.fileno()).st_size
    try:
        client.call(
            "PUT",
            path_q,
            params,
            data=body,
            content_type="application/x-tar",
            headers={"Content-Length": str(size)},
        )
    finally:
        body.close()
