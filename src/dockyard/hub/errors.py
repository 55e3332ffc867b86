"""Errors of the hub, each carrying the distribution spec's code and HTTP status."""

from __future__ import annotations

from typing import Any

# code -> (HTTP status, default message), as the OCI distribution spec lists them.
CODES: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "manifest references a manifest or blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown to registry"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (400, "the operation is unsupported"),
    "TOOMANYREQUESTS": (429, "too many requests"),
    "TAG_INVALID": (400, "manifest tag did not match URI"),
}


class HubError(Exception):
    """Base of every error the hub raises."""


class RegistryError(HubError):
    """An error the registry API reports as `{"errors": [{code, message, detail}]}`."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default_status, default_message = CODES[code]
        self.code = code
        self.message = message or default_message
        self.detail = detail
        self.status = status or default_status
        self.headers = dict(headers or {})
        super().__init__(f"{code}: {self.message}")

    def body(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return {"errors": [entry]}


class InvalidName(HubError):
    """A repository name, tag or account name that breaks the grammar."""


class AccountError(HubError):
    """A request about accounts, organisations or tokens that cannot be honoured."""


class TokenError(HubError):
    """A bearer token that is malformed, forged, expired or meant for someone else."""


class ConfigError(HubError):
    """A configuration file or flag the hub cannot use."""
