"""The hub's server-rendered web UI (works without JavaScript)."""
