"""dockyard: the CLI, a thin client of the daemon."""
