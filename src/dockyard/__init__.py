"""dockyard: a Docker-compatible container engine with its own image hub."""

__version__ = "0.1.0"
