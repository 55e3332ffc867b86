"""The only place that makes raw syscalls (ctypes)."""
