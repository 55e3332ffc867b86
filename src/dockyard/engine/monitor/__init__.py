"""The per-container monitor (like containerd's shim or podman's conmon).

One small, single-threaded process per container owns the container's stdio, writes its
json-file log, runs its exec sessions and records its exit status. It is never a child of
the daemon, so it survives a daemon restart; a new daemon re-attaches by constructing
:class:`client.MonitorHandle` on the state dir.

Monitors are forked by a launcher (``launcher.py``: one idle, single-threaded process per
launcher dir, started on demand, that has imported the monitor code once and rehearsed
whole monitor lives, ``warmup.py``), so each costs about 1.2 MB instead of a whole
interpreter; when no launcher can be reached the monitor is started as a fresh interpreter
(``python -S -m dockyard.engine.monitor STATE_DIR READY_FD``). Either way it forks away
from its parent, calls setsid and becomes a child subreaper.

Daemon side (``dockyard.engine.monitor.client``)::

    handle = spawn_monitor(MonitorOptions(container_id=..., bundle=..., runtime=...,
                                          runtime_root=..., state_dir=..., log_path=...,
                                          tty=..., stdin=..., stdin_once=...))
    # returns after ``runtime create`` succeeded, else raises MonitorError(<runtime's error>)
    sock = handle.attach(stdin=True, stdout=True, stderr=True)   # before start: no output lost
    handle.start()
    info = handle.wait()   # {"exit_code", "finished_at", "started_at", "oom_killed", "pid"}

All calls block (run them in a thread from asyncio code).

Files in STATE_DIR: ``monitor.json`` (options), ``monitor.pid``, ``init.pid`` (container
init's host pid), ``control.sock``, ``attach.sock``, ``runtime.log`` (the runtime's JSON
log), ``monitor.log`` (the monitor's own diagnostics) and, once the container has exited,
``exit.json`` written atomically: ``{"exit_code": N, "finished_at": RFC3339Nano,
"started_at": ..., "oom_killed": bool, "pid": N}``. The exit code is the process's, or
128 + signal when it was killed. The monitor removes its sockets, writes it, answers the
waiters, then runs ``runtime delete`` and exits: whoever needs the runtime's container gone
(a new start with the same id, cleanup) waits for the monitor process to exit
(``MonitorHandle.wait_exited``; ``running_pid`` tells whether it still runs).

Control socket (``control.sock``): newline-delimited JSON, any number of requests per
connection, each answered by one line ``{"ok": true, ...}`` or ``{"ok": false, "error": msg}``:

- ``{"cmd": "start"}`` runs ``runtime start``; answers ``{"pid"}`` or the runtime's error.
- ``{"cmd": "kill", "signal": 15|"TERM", "all": false}`` signals the init
  (``all``: ``runtime kill --all``).
- ``{"cmd": "resize", "height": H, "width": W}`` sets the container's pty size.
- ``{"cmd": "status"}`` → ``{"pid", "started", "running", "exit_code", "started_at",
  "finished_at", "runtime_forks"}`` (runtime_forks: the runtime's commands run in forks of
  the monitor, see inprocess).
- ``{"cmd": "wait"}`` answers when the container has exited, with the exit.json fields.
- ``{"cmd": "exec", "exec_id": ID, "process": <OCI process>, "tty": b, "stdin": b, "detach": b}``
  runs ``runtime exec --detach --process``; answers ``{"pid"}`` once it runs.
- ``{"cmd": "exec_resize", "exec_id": ID, "height": H, "width": W}``
- ``{"cmd": "exec_status", "exec_id": ID}`` → ``{"pid", "running", "exit_code", "error"}``.

Attach socket (``attach.sock``): the client sends one JSON line
``{"stdin": b, "stdout": b, "stderr": b, "exec_id": optional, "process": optional,
"tty": b, "detach_keys": "ctrl-p,ctrl-q"}`` and the monitor answers one JSON line
(``{"ok": true, "pid": N}`` or ``{"ok": false, "error": msg}`` and close). After that the
connection carries, monitor → client, the process's output: Docker's multiplexed frames
(8-byte header: stream 1/2, three zero bytes, big-endian uint32 size) without a TTY, raw
bytes with one; client → monitor, raw stdin bytes. Several clients may attach at once
(output is broadcast). When the client's input ends (``shutdown(SHUT_WR)``) and the process
was created with StdinOnce (always for execs), the process's stdin is closed; the client
keeps receiving output until the process exits, then the monitor closes the connection.
With a TTY, the detach key sequence (Docker's syntax; default ctrl-p,ctrl-q; "" disables)
in the client's stdin ends that client's attachment; without one, stdin is plain data.

Exec streams: send ``exec_id`` together with ``process`` (and ``tty``) on the attach socket
to start the exec and attach to it in one step (the ack comes once it runs; then
``exec_status`` gives its exit code after the stream closes). Or attach with just
``exec_id`` first (ack ``{"ok": true, "pending": true}``) and then send the ``exec``
control command. A detached exec's output is discarded, as Docker does. Exec output is not
logged (Docker does not log it either).

A client that falls more than 8 MiB behind is disconnected (the log keeps the output);
clients' stdin is back-pressured at 1 MiB of unwritten input.
"""
