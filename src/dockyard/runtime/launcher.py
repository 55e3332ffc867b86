"""Write `<venv>/bin/dockyard-runc` and `<venv>/bin/dockyard` as launchers that start sooner.

    python -m dockyard.runtime.launcher --install <venv>

pip's console script starts the interpreter with `site` (site-packages scan, .pth files
of editable installs, setuptools' distutils hook) and cannot pass interpreter flags. This
one runs `python -I -S` (isolated, no site) with only the directory that holds the
`dockyard` package appended to sys.path: dockyard-runc and the CLI import nothing outside
the standard library and dockyard itself. Each ends through its module's ``entry`` (no
interpreter teardown). Idempotent; written to a temporary file and renamed into place.

Which interpreter: the distribution's /usr/bin/pythonX.Y when it is the venv's X.Y and has
ctypes, else the venv's own. Only the standard library is needed, and a distribution build
(libpython linked in statically, optimised with PGO/LTO, socket/select/struct built in)
starts about 2 ms sooner and runs the set-up faster than a shared-libpython build such as
pyenv's. The same X.Y shares the bytecode caches (one magic number per minor release).
`--python PATH` chooses explicitly.
"""

from __future__ import annotations

import os
import sys

# program -> the module whose entry() it runs
PROGRAMS = {"dockyard-runc": "dockyard.runtime.cli", "dockyard": "dockyard.cli.main"}


def marker(program: str) -> str:
    return f"# {program} launcher (dockyard.runtime.launcher)"


MARKER = marker("dockyard-runc")


def launcher_text(python: str, package_parent: str, program: str = "dockyard-runc") -> str:
    """The launcher script for an interpreter path and the directory holding `dockyard`."""
    for what, value in (("interpreter", python), ("package directory", package_parent)):
        if not os.path.isabs(value) or any(c in value for c in "\n\r\"'\\ "):
            raise ValueError(f"launcher: unusable {what} path {value!r}")
    return (
        f"#!{python} -IS\n"
        f"{marker(program)}\n"
        "import sys\n"
        f"sys.path.append('{package_parent}')\n"
        f"from {PROGRAMS[program]} import entry\n"
        "entry()\n"
    )


def package_parent() -> str:
    """The directory that holds the `dockyard` package (src/ for an editable install)."""
    import dockyard

    pkg_dir = os.path.dirname(os.path.abspath(dockyard.__file__))
    return os.path.dirname(pkg_dir)


def runs_this_package(path: str) -> bool:
    """Is ``path`` a launcher of the very `dockyard` package this process runs?

    Then forking this process and calling ``cli.entry(argv)`` does what executing
    ``path`` would do, minus the interpreter's start (see engine.monitor.inprocess).
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return False
    lines = head.splitlines()
    return (
        len(lines) >= 4
        and lines[1] == MARKER
        and lines[3] == f"sys.path.append('{package_parent()}')"
    )


def _usable(python: str) -> bool:
    """The interpreter runs isolated, is this X.Y, and has ctypes."""
    import subprocess

    want = f"{sys.version_info[0]}.{sys.version_info[1]}"
    code = "import sys, ctypes; print('%d.%d' % sys.version_info[:2])"
    try:
        out = subprocess.run(
            [python, "-IS", "-c", code], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return False
    return out.returncode == 0 and out.stdout.strip() == want


def pick_python(venv: str) -> str:
    bindir = os.path.join(os.path.abspath(venv), "bin")
    ver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    own = os.path.join(bindir, f"python{ver}")
    if not os.path.exists(own):
        own = os.path.join(bindir, "python3")
    system = f"/usr/bin/python{ver}"
    if os.path.exists(system) and _usable(system):
        return system
    return own


def install(venv: str, python: str | None = None, program: str = "dockyard-runc") -> str:
    bindir = os.path.join(os.path.abspath(venv), "bin")
    python = python or pick_python(venv)
    target = os.path.join(bindir, program)
    text = launcher_text(python, package_parent(), program)
    try:
        with open(target) as f:
            if f.read() == text:
                return target
    except OSError:
        pass
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.rename(tmp, target)
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    python = None
    if len(args) == 4 and args[2] == "--python":
        python = args[3]
        args = args[:2]
    if len(args) != 2 or args[0] != "--install":
        print(
            "usage: python -m dockyard.runtime.launcher --install VENV [--python PATH]",
            file=sys.stderr,
        )
        return 2
    import compileall

    # Byte-compile the runtime's packages now: the launcher's isolated interpreter would
    # otherwise compile them on its first start.
    parent = package_parent()
    for pkg in ("runtime", "linux", "oci", "cli"):
        compileall.compile_dir(os.path.join(parent, "dockyard", pkg), quiet=1)
    for program in PROGRAMS:
        print(install(args[1], python, program))
    return 0


if __name__ == "__main__":
    sys.exit(main())
