"""The CLI's typed errors; `main` maps each to one stderr line and Docker's exit code."""

from __future__ import annotations


class CliError(Exception):
    """An error to print as `Error: ...` (or as given) with an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class UsageError(CliError):
    """Bad flags or arguments: Docker prints the message, the usage line and exits 125."""

    def __init__(self, message: str, status: int = 125) -> None:
        super().__init__(message, status)


class DaemonError(CliError):
    """The daemon answered with an error status; printed as `Error response from daemon: ...`."""

    def __init__(self, http_status: int, message: str, status: int = 1) -> None:
        super().__init__(message, status)
        self.http_status = http_status

    def __str__(self) -> str:
        return f"Error response from daemon: {self.message}"


class ConnectError(CliError):
    """The daemon's socket cannot be reached."""


class StatusExit(Exception):
    """Leave with a status code and no message (a container's own exit code)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class TemplateError(Exception):
    """A --format template does not parse or cannot be executed on the value."""
