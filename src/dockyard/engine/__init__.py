"""The daemon's domain: containers, monitor, volumes, events."""
