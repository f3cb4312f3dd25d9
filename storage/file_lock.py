"""An exclusive lock on a file, waited for a short sleep at a time, within a deadline.

Polled rather than blocking: a blocking ``flock`` holds the whole process (under gevent, every other
request of the worker) until it is granted. The kernel drops the lock when its holder exits, even
killed, so a crashed holder never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


@contextmanager
def file_lock(path: str | Path, *, wait: float, poll: float,
              on_timeout: Callable[[str], Exception] = TimeoutError) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block; raise ``on_timeout(reason)`` when another holder
    keeps it past ``wait`` seconds. Each call opens the file anew, so its lock excludes this process's other
    holders too."""
    deadline = time.monotonic() + wait
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)  # not open(): a file object costs more
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise on_timeout(f"another holder kept {Path(path).name} for {wait:g} s") from None
                time.sleep(poll)
        yield
    finally:
        os.close(descriptor)  # releases the lock
