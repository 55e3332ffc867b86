"""The runtime's exception types; each carries a one-line message for the user."""

from __future__ import annotations


class RuntimeErr(Exception):
    """Base of every dockyard-runc error; str() is the one-line message shown to the user."""


class ConfigError(RuntimeErr):
    """config.json is malformed, incomplete or asks for something Linux cannot do."""


class UsageError(RuntimeErr):
    """Bad command line."""


class ContainerNotFound(RuntimeErr):
    def __init__(self, cid: str) -> None:
        super().__init__(f"container {cid!r} does not exist")


class ContainerExists(RuntimeErr):
    def __init__(self, cid: str) -> None:
        super().__init__(f"container {cid!r} already exists")


class StateError(RuntimeErr):
    """The container is not in a state that allows the operation."""


class SetupError(RuntimeErr):
    """The container's init failed while setting up (message relayed from the child)."""


class HookError(RuntimeErr):
    """A hook failed or timed out."""
