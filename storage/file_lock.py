"""An exclusive lock on a file, granted as soon as its holder lets go, waited for within a deadline.

The kernel hands a ``flock`` to the next waiter the moment the holder releases it, but a blocking ``flock``
holds its thread until then: under gevent, a worker's hub, and so every other request of the worker. So
the blocking call runs in a thread of its own (gevent's thread pool in a gevent worker, a plain thread
otherwise), and the caller waits for that thread, cooperatively, until the deadline. A caller that gives up
leaves its descriptor to that thread, which closes it, and so releases the lock, once granted. The kernel
drops the lock when its holder exits, even killed, so a crashed holder never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

_GRANTED, _ABANDONED = "granted", "abandoned"


@contextmanager
def file_lock(path: str | Path, *, wait: float,
              on_timeout: Callable[[str], Exception] = TimeoutError) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block; raise ``on_timeout(reason)`` when another holder
    keeps it past ``wait`` seconds. Each call opens the file anew, so its lock excludes this process's other
    holders too."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)  # not open(): a file object costs more
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: no thread needed
    except BlockingIOError:
        if not _wait_for_lock(descriptor, wait):  # the descriptor is now the waiting thread's to close
            raise on_timeout(f"another holder kept {Path(path).name} for {wait:g} s") from None
    except BaseException:
        os.close(descriptor)
        raise
    try:
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _wait_for_lock(descriptor: int, wait: float) -> bool:
    """Whether a blocking ``flock`` on ``descriptor``, in another thread, got the lock within ``wait`` seconds.

    Caller and thread each append to ``outcome`` once they are done (the caller only if it gives up); the
    first entry decides, and both read it after appending (one list operation each, atomic). Granted: the
    caller holds the lock. Abandoned: the thread closes the descriptor when its ``flock`` returns, or
    without trying if it had not started."""
    outcome: list = []

    def take() -> None:
        if not outcome:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                outcome.append(_GRANTED)
            except OSError as error:
                outcome.append(error)
        if outcome[0] is _ABANDONED:
            os.close(descriptor)

    if not _run_in_a_thread(take)(wait):
        outcome.append(_ABANDONED)
    if isinstance(outcome[0], OSError):
        raise outcome[0]
    return outcome[0] is _GRANTED


def _run_in_a_thread(function: Callable[[], None]) -> Callable[[float], bool]:
    """Start ``function`` in an operating-system thread; returns ``ended(seconds)``, which waits up to that
    long for it to end and says whether it did. Under gevent's patching, threading's threads are greenlets,
    so the thread comes from gevent's pool and the wait lets the worker's other greenlets run."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        from gevent import get_hub  # noqa: PLC0415 - only where gevent runs the process

        result = get_hub().threadpool.spawn(function)

        def ended(seconds: float) -> bool:
            result.wait(seconds)
            return result.ready()

        return ended
    thread = threading.Thread(target=function, name="file-lock", daemon=True)
    thread.start()

    def joined(seconds: float) -> bool:
        thread.join(seconds)
        return not thread.is_alive()

    return joined
