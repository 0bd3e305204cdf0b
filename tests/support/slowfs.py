#!/usr/bin/python3
"""A slow source for the streaming tests: a read-only FUSE passthrough of SRC at MNT whose
reads are throttled like a network share or a USB stick (a fixed latency per read, and a
byte rate).

    slowfs.py SRC MNT CTL RATE_BYTES_PER_SEC LATENCY_MS

While the file CTL/pause exists, reads block (a stalled source); they resume when it is
removed. Killing this process (SIGKILL) is a source that vanishes: the kernel then fails every
read of the mount with ENOTCONN, as for a pulled USB stick or a dropped share.

Runs with Debian's python3-fusepy (libfuse2), single-threaded, in the foreground.
"""

import errno
import os
import sys
import time

from fusepy import FUSE, FuseOSError, Operations

# How often a paused read looks at the pause file again.
PAUSE_POLL_SECONDS = 0.01


class SlowFs(Operations):
    def __init__(self, root, ctl, rate, latency):
        self.root = root
        self.pause = os.path.join(ctl, "pause")
        self.rate = rate
        self.latency = latency

    def _path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._path(path))
        except OSError as e:
            raise FuseOSError(e.errno)
        keys = ("st_mode", "st_size", "st_nlink", "st_uid", "st_gid",
                "st_atime", "st_mtime", "st_ctime")
        attrs = {k: getattr(st, k) for k in keys}
        # Exact nanoseconds, so reel sees the same mtime through the mount every time.
        attrs["st_mtime"] = st.st_mtime_ns / 1e9
        return attrs

    def readdir(self, path, fh):
        return [".", ".."] + sorted(os.listdir(self._path(path)))

    def open(self, path, flags):
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise FuseOSError(errno.EROFS)
        try:
            return os.open(self._path(path), os.O_RDONLY)
        except OSError as e:
            raise FuseOSError(e.errno)

    def read(self, path, size, offset, fh):
        while os.path.exists(self.pause):
            time.sleep(PAUSE_POLL_SECONDS)
        data = os.pread(fh, size, offset)
        time.sleep(self.latency + len(data) / self.rate)
        return data

    def release(self, path, fh):
        os.close(fh)
        return 0


def main():
    src, mnt, ctl, rate, latency_ms = sys.argv[1:6]
    FUSE(SlowFs(src, ctl, float(rate), float(latency_ms) / 1000.0), mnt,
         foreground=True, nothreads=True, ro=True)


if __name__ == "__main__":
    main()
