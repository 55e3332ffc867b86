"""The engine's typed errors; the API maps each class to one HTTP status code."""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine raises on purpose (maps to 500)."""


class NotFound(EngineError):
    """A container, image, volume or exec instance does not exist (404)."""


class Conflict(EngineError):
    """The request conflicts with the current state: name in use, still running (409)."""


class InvalidParameter(EngineError):
    """A malformed or unsupported request value (400)."""


class NotModified(EngineError):
    """The container is already in the requested state (304, no body)."""


class Forbidden(EngineError):
    """The operation is not allowed on this object (403)."""


class Unavailable(EngineError):
    """A feature that this daemon does not provide yet (501)."""


def no_such_container(ref: str) -> NotFound:
    return NotFound(f"No such container: {ref}")


def no_such_image(ref: str) -> NotFound:
    return NotFound(f"No such image: {ref}")
