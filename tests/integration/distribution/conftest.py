"""Fixtures: a real dockyard-hub with users made by its CLI, a real registry:2, and image
stores (one with the bootstrapped busybox image); defined in distfixtures.py, which
tests/compat/distribution shares."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from distfixtures import empty_store, hub, registry2, source_store

__all__ = ["empty_store", "hub", "registry2", "source_store"]
