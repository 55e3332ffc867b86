"""`create`: the parent side (validate, cgroup, fork, answer the child) and the child side
(stage 1 joins/creates namespaces and forks the init; the init builds the root and waits
on the exec fifo for `start`).

Process tree while creating:  create ──fork──▶ stage1 ──fork──▶ init (PID 1 of a new pid ns)
stage1 exits as soon as the init exists, so no runtime process stays the init's parent:
conmon or containerd-shim (subreapers) inherit and reap it. When there is nothing to join
first (no namespace paths, no user or time namespace), one clone3 from `create` makes the
init directly in its new namespaces (crun's way); `create` exits once it is ready, so the
same holds.
"""

from __future__ import annotations

import errno
import os
import select

from dockyard.linux import namespaces as ns
from dockyard.linux.process import (
    SIGKILL,
    clone_process,
    fork_into_cgroup,
    join_session_keyring,
    personality,
    set_child_subreaper,
    set_dumpable,
    setdomainname,
    sethostname,
    start_time,
)
from dockyard.runtime import state as st_mod
from dockyard.runtime.config import Config, load_config_file, parse_config
from dockyard.runtime.errors import ConfigError, RuntimeErr, SetupError
from dockyard.runtime.procspec import CapSets, check_lsm, compile_seccomp, parse_capsets
from dockyard.runtime.record import record
from dockyard.runtime.sync import Sync
from dockyard.runtime.trace import mark

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from typing import Any, NoReturn


@record
class CreateOptions:
    root: str
    cid: str
    bundle: str
    pid_file: str | None = None
    console_socket: str | None = None
    no_pivot: bool = False
    no_new_keyring: bool = False
    preserve_fds: int = 0
    systemd: bool = False
    subreaper: bool = False
    console_sock: socket.socket | None = None  # `run` with a terminal: our own socketpair
    # Output: the container's Cgroup (None without one), for `run` to remove it without
    # finding it again.
    made_cgroup: Any = None


def write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def connect_console(path: str) -> socket.socket:
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot connect to console socket {path}: {e.strerror or e}") from None
    return sock


def open_ns_paths(cfg: Config) -> dict[str, int]:
    fds: dict[str, int] = {}
    for kind, path in cfg.namespaces:
        if path is None:
            continue
        try:
            fds[kind] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            for fd in fds.values():
                os.close(fd)
            raise ConfigError(f"cannot open {kind} namespace {path}: {e.strerror}") from None
    return fds


def listen_fds() -> int:
    """Socket-activation fds handed to us (LISTEN_FDS) are passed on, as runc does."""
    try:
        return max(0, int(os.environ.get("LISTEN_FDS", "0")))
    except ValueError:
        return 0


def remove_state_dir(root: str, cid: str) -> None:
    d = st_mod.container_dir(root, cid)
    try:
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)
    except FileNotFoundError:
        pass


def create(opts: CreateOptions) -> st_mod.State:
    st_mod.check_id(opts.cid)
    cfg = parse_config(load_config_file(opts.bundle), opts.bundle)
    proc = cfg.process
    if proc is None:
        raise ConfigError("config.json: process is missing")
    if proc.terminal and not (opts.console_socket or opts.console_sock):
        raise ConfigError("process.terminal is set but no --console-socket was given")
    if not cfg.new_ns("mount"):
        raise ConfigError("config.json: a new mount namespace is required")
    capsets = parse_capsets(proc)
    check_lsm(proc)
    filt = compile_seccomp(cfg.seccomp, opts.root)
    mark("config parsed")
    sdir = st_mod.reserve(opts.root, opts.cid)
    ns_fds: dict[str, int] = {}
    spawn = _Spawn()
    console = None
    try:
        ns_fds = open_ns_paths(cfg)
        fifo = os.path.join(sdir, st_mod.FIFO_NAME)
        os.mkfifo(fifo, 0o600)
        # The init keeps this read end and blocks on it until `start` writes a byte. Opened
        # here (non-blocking, no writer needed), it needs no /proc access later: the init
        # may be non-dumpable and in a user namespace by then.
        fifo_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        if opts.console_socket:
            console = connect_console(opts.console_socket)
        elif opts.console_sock is not None:
            console = opts.console_sock
        saved: list[st_mod.State] = []

        def save_state(init_pid: int) -> None:
            state = st_mod.State(
                id=opts.cid,
                bundle=cfg.bundle,
                rootfs=cfg.root,
                created=st_mod.rfc3339_now(),
                config=cfg.raw,
                pid=init_pid,
                pid_start=start_time(init_pid),
                annotations=cfg.annotations,
                cgroups_path=cfg.cgroups_path,
                systemd_cgroup=opts.systemd,
                has_cgroup=spawn.cg is not None,
            )
            st_mod.save(opts.root, state)
            saved.append(state)

        # The state is written while the init builds its root, not after: one step less
        # between "ready" and the container's start.
        spawn.save_state = save_state
        init_pid = spawn.run(cfg, opts, capsets, filt, ns_fds, fifo_fd, console)
        os.close(fifo_fd)
        state = saved[0]
        opts.made_cgroup = spawn.cg
        if opts.pid_file:
            write_pid_file(opts.pid_file, init_pid)
        return state
    except BaseException:
        if spawn.init_pid:
            _kill(spawn.init_pid)
        if spawn.cg is not None:
            _destroy_quietly(spawn.cg)
        remove_state_dir(opts.root, opts.cid)
        raise
    finally:
        for fd in ns_fds.values():
            os.close(fd)
        if console is not None:
            console.close()


def _kill(pid: int) -> None:
    # (try/except rather than contextlib: create's parent avoids that import.)
    try:
        os.kill(pid, SIGKILL)
    except ProcessLookupError:
        return


def _destroy_quietly(cg: Any) -> None:
    """Best effort on an error path: the original error is what the user must see."""
    for step in (lambda: cg.kill_all(SIGKILL), cg.destroy):
        try:
            step()
        except Exception:
            continue


class _Spawn:
    """The parent's side of the sync protocol; remembers what to clean up on failure."""

    def __init__(self) -> None:
        self.cg: Any = None
        self.init_pid = 0
        self.save_state: Callable[[int], None] = lambda _pid: None

    def run(
        self,
        cfg: Config,
        opts: CreateOptions,
        capsets: CapSets | None,
        filt: Any,
        ns_fds: dict[str, int],
        fifo_fd: int,
        console: socket.socket | None,
    ) -> int:
        parent, child = Sync.pair()
        if opts.subreaper:
            set_child_subreaper()
        _preload(cfg)
        from dockyard.runtime.cgroup import add_pid_to, container_cgroup, split_join

        # The cgroup is made before the fork: cgroupfs work right after a fork costs
        # copy-on-write faults on top, and stage1 would wait for it anyway. The init joins
        # the v1 hierarchies itself (cheap, see cgroup.split_join). The v2 one (the hybrid's
        # unified, or all of v2) has no such cheap way in: the init is created inside it
        # (clone3 CLONE_INTO_CGROUP, by us or by stage1 through the directory fd it
        # inherits) where the kernel allows; else we move the init there while it works.
        self.cg = container_cgroup(cfg, opts.cid, opts.systemd)
        mark("cgroup made")
        in_userns = cfg.new_ns("user") or cfg.has_ns("user")
        own, ours = split_join(self.cg, in_userns=in_userns)
        into = ours[0] if len(ours) == 1 and not in_userns else ""
        cgroup_fd = -1
        if into:
            try:
                cgroup_fd = os.open(into, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                into = ""
        stage1 = 0
        if not ns_fds and not in_userns and not cfg.time_offsets:
            # Nothing to join first: like crun, one clone3 makes the init in its new
            # namespaces (and its v2 cgroup), without a stage1 process. We become
            # non-dumpable first and the init inherits it (see _stage1 for why).
            set_dumpable(False)
            try:
                pid = clone_process(_new_ns_flags(cfg), cgroup_fd)
            except OSError:
                pid = -1  # refused (seccomp, old kernel): through stage1
            if pid > 0:
                self.init_pid = pid
            elif pid == 0:
                parent.close()
                if cgroup_fd >= 0:
                    os.close(cgroup_fd)
                mark("init")
                try:
                    _init(cfg, opts, capsets, filt, fifo_fd, console, child, False)
                except BaseException as e:
                    _report_and_exit(child, e)
        if not self.init_pid:
            mark("fork stage1")
            stage1 = os.fork()
            if stage1 == 0:
                mark("stage1")
                parent.close()
                try:
                    _stage1(cfg, opts, capsets, filt, ns_fds, fifo_fd, console, cgroup_fd, child)
                except BaseException as e:
                    _report_and_exit(child, e)
                os._exit(0)
        child.close()
        if cgroup_fd >= 0:
            os.close(cgroup_fd)
        try:
            if not stage1:
                if cgroup_fd >= 0:
                    ours = [d for d in ours if d != into]
            else:
                if cfg.new_ns("user"):
                    parent.expect("userns")
                    _write_id_maps(stage1, cfg)
                    parent.send("mapped")
                born = parent.expect("pid")
                self.init_pid = int(born["pid"])
                if born.get("into"):
                    ours = [d for d in ours if d != into]
                os.waitpid(stage1, 0)
                stage1 = 0
            state = _hook_state(cfg, opts.cid, self.init_pid)
            # The init must wait for the rest when it needs to read its final cgroup paths:
            # to root a cgroup namespace, or (no v1 hierarchy) to bind its v2 directory.
            wait = bool(ours) and (cfg.new_ns("cgroup") or not own)
            parent.send("go", state=state, join=own, wait=wait)
            # (Only without clone3: this write waits for an RCU grace period, overlapped
            # with the init's work; the container's process starts in every cgroup.)
            try:
                add_pid_to(ours, self.init_pid)
            except OSError as e:
                raise SetupError(f"cannot join the container's cgroup: {e}") from None
            if wait:
                parent.send("joined")
            self.save_state(self.init_pid)
            while True:
                kind = parent.recv()["t"]
                if kind == "hooks":
                    from dockyard.runtime.hooks import run_hooks

                    run_hooks(cfg.hooks.get("prestart", []), state.encode(), "prestart")
                    run_hooks(cfg.hooks.get("createRuntime", []), state.encode(), "createRuntime")
                    parent.send("hooks-done")
                elif kind == "ready":
                    mark("ready received")
                    return self.init_pid
                else:
                    raise SetupError(f"protocol error: unexpected message {kind!r}")
        except Exception as e:
            # A failure here (a cgroup write, say) is often a consequence of the child
            # having failed first: its own message says what went wrong.
            why = parent.pending_error(0.2)
            if why is not None and not (isinstance(e, SetupError) and str(e) == why):
                raise SetupError(why) from None
            raise
        finally:
            if stage1:
                _kill(stage1)
                os.waitpid(stage1, 0)
            parent.close()


def _hook_state(cfg: Config, cid: str, pid: int) -> str:
    st = st_mod.State(
        id=cid,
        bundle=cfg.bundle,
        rootfs=cfg.root,
        created="",
        config={},
        pid=pid,
        annotations=cfg.annotations,
    )
    return st_mod.hook_state(st, "creating").decode()


def _write_id_maps(pid: int, cfg: Config) -> None:
    for name, maps in (("uid_map", cfg.uid_mappings), ("gid_map", cfg.gid_mappings)):
        text = "".join(f"{c} {h} {s}\n" for c, h, s in maps)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            raise SetupError(f"cannot write {name} ({text.strip()!r}): {e.strerror}") from None


def _report_and_exit(sync: Sync, e: BaseException) -> NoReturn:
    msg = str(e) if isinstance(e, (RuntimeErr, OSError)) else f"{type(e).__name__}: {e}"
    try:
        sync.send("error", msg=msg or type(e).__name__)
    finally:
        os._exit(1)


def join_namespaces(ns_fds: dict[str, int]) -> None:
    """setns into each given namespace; the user namespace first so the rest are permitted."""
    for kind in sorted(ns_fds, key=lambda k: k != "user"):
        flag = ns.NAMESPACES[kind][0]
        try:
            ns.setns(ns_fds[kind], flag)
        except OSError as e:
            raise SetupError(f"cannot join {kind} namespace: {e.strerror}") from None
        if kind == "user":
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)


def _stage1(
    cfg: Config,
    opts: CreateOptions,
    capsets: CapSets | None,
    filt: Any,
    ns_fds: dict[str, int],
    fifo_fd: int,
    console: socket.socket | None,
    cgroup_fd: int,
    sync: Sync,
) -> None:
    # Non-dumpable before touching any namespace: the container can't ptrace us or open
    # our /proc/<pid>/exe, fds or memory (runc CVE-2019-5736).
    set_dumpable(False)
    join_namespaces(ns_fds)
    in_userns = "user" in ns_fds
    if cfg.new_ns("user"):
        ns.unshare(ns.CLONE_NEWUSER)
        sync.send("userns")
        sync.expect("mapped")
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        in_userns = True
    try:
        ns.unshare(_new_ns_flags(cfg))
    except OSError as e:
        raise SetupError(f"cannot create namespaces: {e.strerror}") from None
    if cfg.time_offsets:
        with open("/proc/self/timens_offsets", "w") as f:
            for clock, (secs, nsecs) in cfg.time_offsets.items():
                f.write(f"{clock} {secs} {nsecs}\n")
    # cgroup_fd: the v2 cgroup directory to create the init in (-1: the parent moves it).
    pid, into = -1, False
    if cgroup_fd >= 0:
        try:
            pid = fork_into_cgroup(cgroup_fd)
            into = True
        except OSError:
            pass  # refused (old kernel, seccomp): a plain fork, the parent moves the init
    if pid < 0:
        pid = os.fork()
    if pid == 0:
        if cgroup_fd >= 0:
            os.close(cgroup_fd)
        mark("init")
        try:
            _init(cfg, opts, capsets, filt, fifo_fd, console, sync, in_userns)
        except BaseException as e:
            _report_and_exit(sync, e)
    sync.send("pid", pid=pid, into=into)


def _new_ns_flags(cfg: Config) -> int:
    """The CLONE_NEW* flags of the namespaces made for the init (the user namespace comes
    first and apart; the init makes its cgroup namespace once it is in its cgroups)."""
    flags = 0
    for kind, path in cfg.namespaces:
        if path is None and kind not in ("user", "cgroup"):
            flags |= ns.NAMESPACES[kind][0]
    return flags


def _die_on_signals() -> None:
    """Until it execs, the init is PID 1 of its namespace: the kernel drops signals it has
    no handler for, so `kill ID TERM` on a created container would do nothing. Handlers
    make them end it, like runc's init (execve resets them)."""
    if TYPE_CHECKING:
        import signal as _signal
    else:
        import _signal  # (no enums)

    def die(sig: int, _frame: object) -> None:
        os._exit(128 + sig)

    for sig in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP, _signal.SIGQUIT):
        _signal.signal(sig, die)


def _preload(cfg: Config) -> None:
    """Import, before forking, everything the parent and the init will need: inside a user
    namespace the host's Python library may be unreadable, after pivot_root it is out of
    reach, and after a fork every import costs copy-on-write faults in both processes
    (the import machinery touches objects all over the heap): measured, an import right
    after the fork took several times as long as the same import before it."""
    import dockyard.linux.cgroups

    if not TYPE_CHECKING:
        import _signal  # noqa: F401  (_die_on_signals)

    import dockyard.runtime.cgroup
    import dockyard.runtime.finalize
    import dockyard.runtime.rootfs

    if any(cfg.hooks.values()):
        import dockyard.runtime.hooks

    if cfg.process is not None and cfg.process.terminal:
        import dockyard.linux.terminal  # noqa: F401


def _init(
    cfg: Config,
    opts: CreateOptions,
    capsets: CapSets | None,
    filt: Any,
    fifo_fd: int,
    console: socket.socket | None,
    sync: Sync,
    in_userns: bool,
) -> NoReturn:
    from dockyard.runtime.cgroup import join_self
    from dockyard.runtime.finalize import exec_process, find_executable
    from dockyard.runtime.rootfs import RootfsBuilder

    proc = cfg.process
    assert proc is not None
    go: list[bytes] = []

    def wait_go() -> None:
        """Block until the parent has put us in the container's cgroup (once)."""
        if go:
            return
        msg = sync.expect("go")
        go.append(str(msg["state"]).encode())
        join_self(msg.get("join") or [])
        if msg.get("wait"):
            sync.expect("joined")
        if cfg.new_ns("cgroup"):
            from dockyard.runtime.rootfs import cgroup_hierarchies

            cgroup_hierarchies()  # our cgroup paths, before the namespace hides them
            ns.unshare(ns.CLONE_NEWCGROUP)

    os.setsid()
    _die_on_signals()
    if not opts.no_new_keyring:
        try:
            join_session_keyring(f"_ses.{opts.cid}"[:255])
        except OSError as e:
            # Kernels without keyrings, or an outer seccomp profile that forbids keyctl.
            if e.errno not in (errno.ENOSYS, errno.EPERM, errno.EACCES):
                raise SetupError(f"cannot create a session keyring: {e.strerror}") from None
    rb = RootfsBuilder(cfg, in_userns=in_userns, new_cgroupns=cfg.new_ns("cgroup"))
    rb.before_cgroup_mount = wait_go
    rb.prepare()
    mark("init rootfs prepared")
    wait_go()
    mark("init go")
    state_json = go[0]
    if any(cfg.hooks.get(k) for k in ("prestart", "createRuntime")):
        sync.send("hooks")
        sync.expect("hooks-done")
    if cfg.hooks.get("createContainer"):
        from dockyard.runtime.hooks import run_hooks  # (preloaded: configs with hooks)

        run_hooks(cfg.hooks["createContainer"], state_json, "createContainer")
    rb.pivot(opts.no_pivot)
    _post_pivot(cfg)
    rb.finish()
    if proc.terminal and console is not None:
        _setup_terminal(proc.console_size, proc.uid, rb.root_fd, console)
    if console is not None:
        console.close()
    if cfg.personality is not None:
        personality(cfg.personality)
    # As runc: a missing executable fails `create` (the engine then answers 127 before the
    # container ever starts) instead of surfacing as an exit status after `start`.
    find_executable(proc.args[0], list(proc.env), proc.cwd)
    mark("init ready")
    sync.send("ready")
    sync.close()
    try:
        _wait_for_start(fifo_fd)
        mark("init started")
        if cfg.hooks.get("startContainer"):
            from dockyard.runtime.hooks import run_hooks

            running = state_json.replace(b'"creating"', b'"running"')
            run_hooks(cfg.hooks["startContainer"], running, "startContainer")
        extra = []
        preserve = opts.preserve_fds
        nlisten = listen_fds()
        if nlisten:
            preserve += nlisten
            extra = [f"LISTEN_FDS={nlisten}", "LISTEN_PID=1"]
        exec_process(proc, capsets, filt, preserve, extra, init=True)
    except BaseException as e:
        os.write(2, f"dockyard-runc init: {e}\n".encode())
    os._exit(127)


def _wait_for_start(fifo_fd: int) -> None:
    """Block until `start` writes its byte into the exec fifo."""
    poller = select.poll()
    poller.register(fifo_fd, select.POLLIN)
    while True:
        poller.poll()
        data = os.read(fifo_fd, 1)
        if data:
            os.close(fifo_fd)
            return
        # EOF without a byte: some writer opened and closed the fifo. Only root can
        # (mode 0600); treat it as an abort rather than spin on POLLHUP.
        raise SetupError("exec fifo closed without a start")


def _post_pivot(cfg: Config) -> None:
    # No imports from here on: after pivot_root the host's Python library is out of reach.
    try:
        if cfg.hostname:
            sethostname(cfg.hostname)
        if cfg.domainname:
            setdomainname(cfg.domainname)
    except OSError as e:
        raise SetupError(f"cannot set hostname/domainname: {e.strerror}") from None
    for key, value in cfg.sysctls.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise SetupError(f"cannot set sysctl {key}={value}: {e.strerror}") from None
    proc = cfg.process
    if proc is not None and proc.oom_score_adj is not None:
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(proc.oom_score_adj))
        except OSError as e:
            raise SetupError(f"cannot set oomScoreAdj {proc.oom_score_adj}: {e.strerror}") from None


def _setup_terminal(
    size: tuple[int, int] | None, uid: int, root_fd: int, console: socket.socket
) -> None:
    from dockyard.linux import mounts as m
    from dockyard.linux.paths import mkfile_in_root, proc_fd_path
    from dockyard.linux.terminal import make_controlling, open_pty, pty_number, send_fd, set_winsize

    try:
        master, slave = open_pty("/dev/ptmx")
    except OSError as e:
        raise SetupError(
            f"cannot allocate a terminal (is devpts mounted on /dev/pts?): {e.strerror}"
        ) from None
    try:
        if size and size[0] and size[1]:
            set_winsize(master, size[0], size[1])
        os.fchown(slave, uid, -1)
        target = mkfile_in_root(root_fd, "/dev/console")
        try:
            m.mount(proc_fd_path(slave), proc_fd_path(target), None, m.MS_BIND, None)
        finally:
            os.close(target)
        send_fd(console, master, f"/dev/pts/{pty_number(master)}")
    finally:
        os.close(master)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    make_controlling(0)
