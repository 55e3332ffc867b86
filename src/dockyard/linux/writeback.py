"""Start writing a file's new pages to disk without waiting (sync_file_range(2)).

A blob is fsynced once complete: started as its batches arrive, writeback
overlaps the transfer and the final fsync waits only for the tail, instead of the whole
file at the end. Only a hint: errors are ignored (the fsync still decides durability).
"""

from __future__ import annotations

import ctypes

from dockyard.linux.libc import libc

_SYNC_FILE_RANGE_WRITE = 2

_sync_file_range = libc["sync_file_range"]
_sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
_sync_file_range.restype = ctypes.c_int


def start_writeback(fd: int, offset: int, length: int) -> bool:
    """Ask the kernel to begin writing ``length`` bytes at ``offset`` of ``fd``."""
    return int(_sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)) == 0
