"""dockyard: the CLI, a thin client of the daemon's Docker Engine API.

Layout (one concern per module; only the standard library is imported on the hot paths):

- main.py       entry point: global flags, command lookup, dispatch, error → exit code
- catalog.py    every command's name, usage and flags (data), management-command aliases
- flags.py      pflag-compatible parser (Docker's syntax and messages)
- runopts.py    run/create flags → the create request body (pure)
- transport.py  Client: version negotiation, requests, JSON streams, hijacked streams
- httpwire.py   minimal HTTP/1.1 framing over a socket (no http.client: start-up cost)
- frames.py     8-byte stream frames demultiplexer, detach-key scanner (pure)
- stdio.py      raw terminal, SIGWINCH → resize, signal proxy, stdin/stdout pump
- template.py   Go text/template subset for --format (pure)
- table.py      Go tabwriter layout and --format row rendering (pure)
- units.py      human sizes/durations, size parsing (pure)
- copying.py    `cp` naming rules over the archive endpoints
- autostart.py  start dockyardd on demand (root, our socket absent)
- commands/     the verbs, `def verb(ctx, opts) -> int`, one module per area

Exit codes follow Docker: 125 usage/daemon errors on run/create, 126/127 when the command
cannot be invoked / is not found, otherwise the container's own; other verbs exit 1 on error.
"""
