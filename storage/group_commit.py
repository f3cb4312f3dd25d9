"""Group commit: writes that arrive together in one process share one transaction, so one commit (one fsync
on SQLite) makes them all durable, and none returns before it has."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Generic, Sequence, TypeVar

Item = TypeVar("Item")


@dataclass(eq=False)
class _Waiting:
    item: Any
    done: threading.Event = field(default_factory=threading.Event)  # set when answered, or asked to lead
    leads_next: bool = False
    stored: Any = None
    error: Exception | None = None


class GroupCommit(Generic[Item]):
    """Writes that arrive together share one commit. One writer at a time leads: it waits for the writers'
    turn (on SQLite, other processes' writers may hold it), steps aside once more so that the other
    requests in hand (threads, or greenlets under gevent, whose threading and time.sleep are gevent's) can
    join, then writes everything that arrived meanwhile in one transaction and hands the lead to the first
    writer that arrived after that, if any. Each writer returns once the commit that holds its item is
    done, and raises what that commit raised."""

    def __init__(self, write_all: Callable[[Sequence[Item]], Sequence[Item]],
                 turn: Callable[[], ContextManager[None]]):
        self._write_all = write_all  # items -> the items as stored, in one transaction
        self._turn = turn  # held around each commit (see Store.writers_turn)
        self._lock = threading.Lock()
        self._waiting: list[_Waiting] = []
        self._leading = False

    def write(self, item: Item) -> Item:
        mine = _Waiting(item)
        with self._lock:
            self._waiting.append(mine)
            lead, self._leading = not self._leading, True
        if lead:
            self._commit_waiting()
        while True:
            mine.done.wait()
            if not mine.leads_next:
                break
            mine.leads_next = False
            mine.done.clear()
            self._commit_waiting()  # the batch holds this item too: it was waiting
        if mine.error is not None:
            raise mine.error
        assert mine.stored is not None  # each commit sets either stored or error
        return mine.stored

    def _commit_waiting(self) -> None:
        batch: list[_Waiting] = []
        stored: Sequence[Any]
        try:
            with self._turn():
                time.sleep(0)  # let the others in hand join
                with self._lock:
                    batch, self._waiting = self._waiting, []
                stored, failure = self._write_all([waiting.item for waiting in batch]), None
        except Exception as error:  # StorageError is answered; anything else is a bug, raised to every writer
            if not batch:  # the turn never came: every writer waiting gets the refusal
                with self._lock:
                    batch, self._waiting = self._waiting, []
            stored, failure = [None] * len(batch), error
        for waiting, item in zip(batch, stored, strict=True):
            waiting.stored, waiting.error = item, failure
            waiting.done.set()
        with self._lock:
            if self._waiting:
                self._waiting[0].leads_next = True
                self._waiting[0].done.set()
            else:
                self._leading = False
