"""The registry client's errors; the daemon maps each to a status code by its class."""

from __future__ import annotations


class DistributionError(Exception):
    """Any failure talking to a registry; the message is one line a user can act on."""

    status = 500


class RegistryUnreachable(DistributionError):
    """The registry cannot (or must not) be contacted from this machine."""

    status = 502


class InsecureRegistry(DistributionError):
    """Plain HTTP was needed but the registry is not listed as insecure."""

    status = 502


class Unauthorized(DistributionError):
    """The registry refused the credentials (wrong password, no account)."""

    status = 401


class Denied(DistributionError):
    """The credentials are valid but do not grant the requested access."""

    status = 403


class NotFoundError(DistributionError):
    """A repository, tag, manifest or blob the registry does not have."""

    status = 404


class InvalidResponse(DistributionError):
    """The registry answered something malformed, too large, or with a wrong digest."""

    status = 502


class NoMatchingPlatform(DistributionError):
    """An index lists no manifest this host can run."""

    status = 404


class InvalidAuthConfig(DistributionError):
    """An X-Registry-Auth header or credentials file that cannot be read."""

    status = 400


class TransferInterrupted(RegistryUnreachable):
    """A blob transfer kept failing mid-way; what arrived is kept for the next attempt."""
