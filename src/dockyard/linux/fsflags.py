"""Ask the filesystem to spread a directory's subdirectories over its allocation groups.

Every snapshot is a directory tree under one parent. ext4 puts a new directory near its
parent and a new file in its directory's block group, so a layer unpacked right after
another tree was removed lands among the inodes that removal freed. Without a journal,
ext4 skips such recently freed inodes one by one on every create (``recently_deleted``:
for a minute, five while their inode table block is dirty): each create of a layer's
thousands of files then scans the group and costs ~0.3 ms instead of ~15 µs, which made
``rmi`` followed by ``pull`` several times slower than a first pull. The "top of a
directory hierarchy" flag (``chattr +T``, as ``/home`` gets) has ext4's Orlov allocator
choose a group for each new snapshot directory afresh, by its (unique) name, instead
of packing them all beside the parent. It is only a hint: Orlov favours the emptiest
groups, which may be ones just emptied; and filesystems without the flag refuse it.
"""

from __future__ import annotations

import array
import fcntl
import os
from pathlib import Path

# linux/fs.h: _IOR('f', 1, long) and _IOW('f', 2, long); the kernel reads and writes an int.
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_TOPDIR_FL = 0x00020000


def spread_subdirs(path: Path) -> bool:
    """Set the top-directory flag on directory ``path``; whether it is set now."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        flags = array.array("i", [0, 0])  # room for a long, whatever the kernel writes
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
        if not flags[0] & FS_TOPDIR_FL:
            flags[0] |= FS_TOPDIR_FL
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, flags, False)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
