"""dockyard-hub: the registry server with accounts, tokens and a web UI."""
