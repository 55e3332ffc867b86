"""dockyard-runc: the runc-compatible OCI runtime.

Other parts of dockyard use it as a separate program, never inside a threaded or
long-running process: the container init must come from a fresh, single-threaded one.
The engine's monitors (single-threaded, forked from a launcher that preloaded this
package) run a command as the program would, in a fork of themselves: ``cli.entry(argv)``
(engine.monitor.inprocess), which saves an interpreter start per create/start/delete.

    dockyard-runc [--root DIR] [--log FILE --log-format json] create --bundle B \\
        [--pid-file F] [--console-socket S] ID
    dockyard-runc start ID | state ID | kill [--all] ID [SIG] | delete [--force] ID
    dockyard-runc exec [--process P.json | --tty --cwd D --env K=V --user U[:G] ... ID ARGS]
    dockyard-runc run [--detach] [--keep] --bundle B ID     (exit status = the process's)
    dockyard-runc ps|list [--format json], pause, resume, update, spec, features

Modules: cli (verbs), args (flag parsing), config (config.json → typed values, pure),
mountopts (mount options → flags, pure), create (parent/stage1/init), rootfs (mounts,
/dev, masks, pivot_root), finalize (user, caps, seccomp, execve), execute (exec),
lifecycle (start/kill/delete/pause/update/ps), state (state dir), sync (parent↔child
messages), hooks, cgroup (which cgroup, default device rules), run (run, signal
forwarding), tty (run's own pty proxy), defaults (spec/features documents), launcher
(writes the fast `dockyard-runc` start script), trace (DOCKYARD_RUNC_TRACE phase marks).

Start-up is on every container's critical path (bench/runc_bench.py): the hot path imports
no typing/re/json/contextlib/enum/signal/dataclasses, imports everything the children
need before forking (after a fork every import pays copy-on-write faults), creates the init
with clone3 in its namespaces and v2 cgroup, and exits without interpreter teardown.
"""
