"""storage.file_lock, which SQLite's writers take turns through (and migrations wait on): one holder at a
time across threads and processes, a waiter that gives up leaves nothing held or open behind it, and under
gevent the wait holds up nothing else of the process."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from storage.file_lock import file_lock
from tests.support import ROOT
from tests.support.timing import eventually, run_together

TURNS = 25

# Takes the lock TURNS times, writing "in <who>" and "out <who>" around a short stay, as the threads do.
TAKER = textwrap.dedent("""
    import os, sys, time
    from storage.file_lock import file_lock
    lock, journal, who, turns = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    for _ in range(turns):
        with file_lock(lock, wait=60):
            with open(journal, "a") as out:
                out.write(f"in {who}\\n")
            time.sleep(0.001)
            with open(journal, "a") as out:
                out.write(f"out {who}\\n")
""")


def test_one_holder_at_a_time_across_threads_and_processes(tmp_path):
    lock, journal = tmp_path / "turn.lock", tmp_path / "journal"

    def take_turns(who: str) -> None:
        for _ in range(TURNS):
            with file_lock(lock, wait=60):
                with open(journal, "a") as out:
                    out.write(f"in {who}\n")
                time.sleep(0.001)  # a stay in the lock, for others to queue behind
                with open(journal, "a") as out:
                    out.write(f"out {who}\n")

    processes = [subprocess.Popen([sys.executable, "-c", TAKER, str(lock), str(journal), f"process-{n}", str(TURNS)],
                                  cwd=ROOT) for n in range(2)]
    try:
        results = run_together(4, lambda n: take_turns(f"thread-{n}"))
    finally:
        codes = [process.wait(timeout=120) for process in processes]
    assert results == [None] * 4 and codes == [0, 0]
    lines = journal.read_text().splitlines()
    assert len(lines) == 2 * 6 * TURNS
    entries, exits = lines[::2], lines[1::2]
    assert all(entry.startswith("in ") for entry in entries)
    assert [exit_.removeprefix("out ") for exit_ in exits] == [entry.removeprefix("in ") for entry in entries]


def test_a_waiter_that_gives_up_leaves_the_lock_free_and_no_descriptor_open(tmp_path):
    lock = tmp_path / "turn.lock"
    open_before = len(os.listdir("/proc/self/fd"))
    holder = os.open(lock, os.O_WRONLY | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another holder, as another process would hold it
    try:
        with pytest.raises(LookupError, match="another holder kept turn.lock for 0.2 s"):
            with file_lock(lock, wait=0.2, on_timeout=LookupError):
                pass
    finally:
        os.close(holder)  # the waiter's thread gets the lock now, and lets go of it at once
    with file_lock(lock, wait=30):
        with pytest.raises(LookupError):  # held: by us, not by what the waiter left behind
            with file_lock(lock, wait=0.1, on_timeout=LookupError):
                pass
    assert eventually(lambda: len(os.listdir("/proc/self/fd")) == open_before)


# Under gevent's patching: one greenlet waits for a lock another descriptor holds while another greenlet
# counts; the count goes on during the wait, a second waiter gives up at its deadline meanwhile, and the
# first gets the lock once it is let go.
UNDER_GEVENT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import fcntl, os, sys
    import gevent
    from storage.file_lock import file_lock

    lock = sys.argv[1]
    holder = os.open(lock, os.O_WRONLY | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    ticks, got, gave_up = [], [], []

    def waiter():
        with file_lock(lock, wait=60):
            got.append(len(ticks))

    def impatient():
        try:
            with file_lock(lock, wait=0.1):
                pass
        except TimeoutError:
            gave_up.append(len(ticks))

    def counter():
        while not got:
            ticks.append(1)
            gevent.sleep(0.005)

    greenlets = [gevent.spawn(waiter), gevent.spawn(impatient), gevent.spawn(counter)]
    while len(ticks) < 50 or not gave_up:
        gevent.sleep(0.005)
    counted_while_waiting = len(ticks)
    os.close(holder)
    gevent.joinall(greenlets, raise_error=True)
    print(counted_while_waiting, got[0], gave_up[0])
""")


def test_under_gevent_the_wait_holds_up_no_other_greenlet(tmp_path):
    result = subprocess.run([sys.executable, "-c", UNDER_GEVENT, str(tmp_path / "turn.lock")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    counted_while_waiting, counted_when_granted, counted_when_given_up = map(int, result.stdout.split())
    assert counted_when_granted >= counted_while_waiting >= 50  # granted only once let go
    assert 0 < counted_when_given_up <= counted_while_waiting


def test_a_thread_left_waiting_does_not_keep_the_interpreter_from_exiting(tmp_path):
    """The waiting thread is a daemon: a process that gave up on a lock still held elsewhere can exit."""
    script = textwrap.dedent("""
        import sys
        from storage.file_lock import file_lock
        try:
            with file_lock(sys.argv[1], wait=0.1):
                pass
        except TimeoutError:
            print("gave up")
    """)
    holder = os.open(tmp_path / "turn.lock", os.O_WRONLY | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "turn.lock")], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
    finally:
        os.close(holder)
    assert (result.returncode, result.stdout) == (0, "gave up\n"), result.stderr


def test_threads_left_waiting_end_once_the_lock_comes_free(tmp_path):
    """Each waiter that gave up leaves a thread blocked until the lock comes free; then they all end."""
    lock = tmp_path / "turn.lock"
    holder = os.open(lock, os.O_WRONLY | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    before = threading.active_count()
    try:
        for _ in range(3):
            with pytest.raises(TimeoutError):
                with file_lock(lock, wait=0.05):
                    pass
        assert threading.active_count() == before + 3
    finally:
        os.close(holder)
    assert eventually(lambda: threading.active_count() == before)
