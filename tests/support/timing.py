"""Time and threads: a clock moved by hand, threads released at once to race, and waiting for work done in
the background."""

from __future__ import annotations

import threading
import time


class ManualClock:
    """A clock (seconds) that moves only when told to, for time-based rules tested without waiting."""

    def __init__(self, now: float | None = None):
        self.now = int(time.time()) if now is None else now

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run_together(count: int, work, timeout: float = 60) -> list:
    """Run ``work(i)`` for i in range(count), each in a thread of its own, all released at once (to race
    them); each one's result, or the exception it raised (for the test to assert on)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results


def eventually(condition, seconds: float = 5) -> bool:
    """Whether ``condition()`` becomes true within ``seconds`` (for work done by background threads)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.025)
    return False
