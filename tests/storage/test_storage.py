"""MessageStore on a real SQLite file and a real PostgreSQL server: the same tests against both."""

from __future__ import annotations

import base64
import fcntl
import re
import sqlite3
import sys
import threading
import time
import unicodedata
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, insert, select, update

from namespaces.messages import (
    BIDI_CONTROLS,
    EXPIRED_KEYS_PER_CREATE,
    INVISIBLE,
    SPACE,
    SWEEP_EXPIRED_KEYS,
    TEXT_MAX_CHARS,
    MessageStore,
    Owner,
    clean_text,
    idempotency_keys,
    messages,
)
from storage import (
    CURSOR_LENGTH,
    CURSOR_PATTERN,
    ID_PATTERN,
    PAGE_MAX,
    IdempotencyKeyReused,
    InvalidInput,
    NotAuthor,
    NotFound,
    StorageUnavailable,
    VersionMismatch,
    decode_cursor,
    migrate,
)
from storage.paging import EPOCH
from tests.support.timing import run_together

ISSUER, OTHER_ISSUER = "https://login.example.com/", "https://other.example.com/"
ALICE, BOB, CAROL, MODERATOR = (Owner(ISSUER, sub) for sub in ("alice", "bob", "carol", "moderator"))


def count_rows(store) -> int:
    with store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(messages)).scalar_one()


# --- the text rule (pure: no database) ---

@pytest.mark.parametrize("sent, stored", [
    ("hello", "hello"),
    ("  padded \n", "padded"),
    ("two\nlines", "two\nlines"),
    ("x" * TEXT_MAX_CHARS, "x" * TEXT_MAX_CHARS),
    ("  " + "é" * TEXT_MAX_CHARS + "  ", "é" * TEXT_MAX_CHARS),  # characters, not bytes, after trimming
    ("emoji 🙂", "emoji 🙂"),
    ("\u200b\u200bzero width spaces first", "\u200b\u200bzero width spaces first"),  # not white space: kept
])
def test_valid_text_is_stored_trimmed(sent, stored):
    assert clean_text(sent) == stored


@pytest.mark.parametrize("sent, says", [
    ("", "must not be empty"),
    (" \n\t ", "must not be empty"),
    ("x" * (TEXT_MAX_CHARS + 1), f"at most {TEXT_MAX_CHARS} characters (it has {TEXT_MAX_CHARS + 1})"),
    ("tab\there", "control characters (found U+0009)"),
    ("carriage\rreturn", "control characters (found U+000D)"),
    ("nul\x00", "control characters (found U+0000)"),
    ("c1 \x85 control", "control characters (found U+0085)"),
    ("lone \ud800 surrogate", "lone surrogates (found U+D800)"),
    ("\u200b \ufeff", "at least one visible character: white space and invisible characters alone show "
                      "nothing (found U+200B)"),
    ("Invoice for \u202egpj.exe", "bidi embedding, override or isolate controls (found U+202E)"),
    ("isolated \u2068text\u2069", "bidi embedding, override or isolate controls (found U+2068)"),
    (42, "must be a string"),
    (None, "must be a string"),
])
def test_invalid_text_is_refused_with_the_rule_it_breaks(sent, says):
    with pytest.raises(InvalidInput, match="^text .*" + re.escape(says)) as caught:
        clean_text(sent)
    assert caught.value.field == "text"


def test_the_character_tables_say_what_unicode_says():
    """SPACE is what str.strip() removes; INVISIBLE holds every format character (Cf) but the prepended
    concatenation marks, which are drawn, and the fillers the rule names; BIDI_CONTROLS are the embedding,
    override and isolate controls (bidi classes LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI)."""
    def codes(ranges):
        return {code for first, last in ranges for code in range(first, last + 1)}

    every = range(sys.maxunicode + 1)
    assert codes(SPACE) == {code for code in every if chr(code).isspace()}
    drawn = {*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD}
    assert {code for code in every if unicodedata.category(chr(code)) == "Cf"} - codes(INVISIBLE) == drawn
    fillers_and_selectors = {0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)}
    assert fillers_and_selectors <= codes(INVISIBLE)
    assert codes(BIDI_CONTROLS) == {code for code in every if unicodedata.bidirectional(chr(code))
                                    in ("LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI")}


# --- create, get ---

def test_create_then_get(store):
    message, created = store.create(ALICE, "  hello  ")
    assert created is True
    assert ID_PATTERN.fullmatch(message.id)
    assert (message.text, message.author, message.version) == ("hello", "alice", 1)
    assert message.created_at.tzinfo is timezone.utc and message.created_at == message.updated_at
    assert store.get(message.id) == message


def test_ids_are_opaque_and_unrelated(store):
    ids = [store.create(ALICE, f"m{i}")[0].id for i in range(5)]
    assert len(set(ids)) == 5
    assert len({i[:8] for i in ids}) == 5  # no shared prefix like a counter or a clock would give


@pytest.mark.parametrize("message_id", ["0" * 32, "nope", "", "A" * 32, "\x00", 7])
def test_unknown_or_malformed_id_is_not_found(store, message_id):
    with pytest.raises(NotFound):
        store.get(message_id)


def test_bad_input_is_refused_before_the_database(store):
    with pytest.raises(InvalidInput) as caught:
        store.create(ALICE, "\x07")
    assert caught.value.field == "text"
    for author in ["", "nul\x00", "lone \udc80", None]:
        with pytest.raises(InvalidInput) as caught:
            store.create(Owner(ISSUER, author), "hello")
        assert caught.value.field == "author"
    assert count_rows(store) == 0


# --- list ---

def test_list_is_newest_first_in_pages_with_an_author_filter(store):
    made = [store.create(ALICE if i % 3 else BOB, f"m{i}")[0] for i in range(10)]
    newest_first = list(reversed(made))

    first = store.list(limit=4)
    assert first.items == newest_first[:4] and first.next_cursor
    second = store.list(limit=4, cursor=first.next_cursor)
    assert second.items == newest_first[4:8]
    last = store.list(limit=4, cursor=second.next_cursor)
    assert last.items == newest_first[8:] and last.next_cursor is None

    bobs = store.list(limit=2, author="bob")
    assert [m.author for m in bobs.items] == ["bob", "bob"]
    rest = store.list(limit=2, author="bob", cursor=bobs.next_cursor)
    assert bobs.items + rest.items == [m for m in newest_first if m.author == "bob"]
    assert rest.next_cursor is None
    assert store.list(author="nobody") == ([], None)


def test_a_full_page_at_the_end_has_no_next_cursor(store):
    for i in range(3):
        store.create(ALICE, f"m{i}")
    assert store.list(limit=3).next_cursor is None
    assert store.list(limit=PAGE_MAX).next_cursor is None


def test_the_cursor_is_opaque_text_naming_the_last_item(store):
    for i in range(3):
        store.create(ALICE, f"m{i}")
    page = store.list(limit=2)
    assert re.fullmatch(CURSOR_PATTERN, page.next_cursor) and len(page.next_cursor) == CURSOR_LENGTH
    assert decode_cursor(page.next_cursor) == (page.items[-1].created_at, page.items[-1].id)


def test_every_cursor_of_the_documented_form_names_a_place(store):
    """Any 32 base64url characters are a cursor: the messages older than the time and id they hold."""
    made = [store.create(ALICE, f"m{i}")[0] for i in range(3)]
    assert store.list(cursor="A" * CURSOR_LENGTH).items == []  # 1970, id 0: nothing is older
    assert store.list(cursor="_" * CURSOR_LENGTH).items == made[::-1]  # past year 9999: everything is
    assert store.list(cursor="-" * CURSOR_LENGTH).items == made[::-1]
    middle = made[1]
    after_middle = base64.urlsafe_b64encode(
        ((middle.created_at - EPOCH) // timedelta(microseconds=1)).to_bytes(8, "big") + bytes.fromhex(middle.id))
    assert store.list(cursor=after_middle.decode()).items == [made[0]]


@pytest.mark.parametrize("cursor", [
    "", "garbage!", "é", 12, "A" * (CURSOR_LENGTH - 1), "A" * (CURSOR_LENGTH + 1), "+" * CURSOR_LENGTH,
    "A" * (CURSOR_LENGTH - 1) + "=", "A" * (CURSOR_LENGTH - 1) + "\n", " " + "A" * (CURSOR_LENGTH - 1),
    "A" * (CURSOR_LENGTH - 1) + "é",
])
def test_a_bad_cursor_is_invalid_input(store, cursor):
    with pytest.raises(InvalidInput) as caught:
        store.list(cursor=cursor)
    assert caught.value.field == "cursor"


@pytest.mark.parametrize("limit", [0, PAGE_MAX + 1, -1, "5", 2.0, True])
def test_a_bad_limit_is_invalid_input(store, limit):
    with pytest.raises(InvalidInput) as caught:
        store.list(limit=limit)
    assert caught.value.field == "limit"


def test_paging_is_stable_under_concurrent_inserts(store):
    existing = {store.create(Owner(ISSUER, "seed"), f"seed {i}")[0].id for i in range(60)}
    stop = threading.Event()
    inserted: list[str] = []
    errors: list[Exception] = []

    def insert_until_stopped(n):
        while not stop.is_set():
            try:
                inserted.append(store.create(Owner(ISSUER, f"writer{n}"), "meanwhile")[0].id)
            except Exception as exc:  # asserted on below
                errors.append(exc)
                return

    writers = [threading.Thread(target=insert_until_stopped, args=(n,)) for n in range(4)]
    for writer in writers:
        writer.start()
    try:
        deadline = time.monotonic() + 30
        while len(inserted) < 5 and not errors:  # paging starts while the writers are at work
            assert time.monotonic() < deadline, "the writers inserted nothing in 30 s"
            time.sleep(0.005)
        seen, cursor = [], None
        while True:
            page = store.list(limit=7, cursor=cursor)
            seen.extend(page.items)
            inserted_before = len(inserted)
            while len(inserted) == inserted_before and not errors:
                assert time.monotonic() < deadline + 60, "the writers stopped inserting"
                time.sleep(0.001)  # at least one insert between two pages
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=30)

    assert errors == []
    ids = [m.id for m in seen]
    assert len(ids) == len(set(ids)), "an item was repeated"
    assert existing <= set(ids), "an item that existed when paging began was skipped"
    keys = [(m.created_at, m.id) for m in seen]
    assert keys == sorted(keys, reverse=True)
    assert count_rows(store) == len(existing) + len(inserted)


# --- idempotency ---

def test_a_retry_with_the_same_key_and_body_returns_the_first_answer(store):
    first, created = store.create(ALICE, "hello", idempotency_key="key-1")
    again, created_again = store.create(ALICE, "hello", idempotency_key="key-1")
    assert (created, created_again) == (True, False)
    assert again == first
    assert count_rows(store) == 1


def test_the_same_key_with_another_body_is_refused(store):
    store.create(ALICE, "hello", idempotency_key="key-1")
    for other_body in ["goodbye", " hello"]:  # the body as sent: even one more space is another request
        with pytest.raises(IdempotencyKeyReused):
            store.create(ALICE, other_body, idempotency_key="key-1")
    assert count_rows(store) == 1


def test_keys_belong_to_their_author(store):
    alices, _ = store.create(ALICE, "hello", idempotency_key="shared")
    bobs, created = store.create(BOB, "hello", idempotency_key="shared")
    assert created is True and bobs.id != alices.id and bobs.author == "bob"
    carols, created = store.create(CAROL, "other text", idempotency_key="shared")
    assert created is True and carols.author == "carol"
    assert count_rows(store) == 3


def test_the_first_answer_survives_edits_and_deletion(store):
    first, _ = store.create(ALICE, "hello", idempotency_key="k")
    store.update(first.id, "edited", 1, ALICE)
    assert store.create(ALICE, "hello", idempotency_key="k") == (first, False)
    store.delete(first.id, ALICE)
    assert store.create(ALICE, "hello", idempotency_key="k") == (first, False)
    assert count_rows(store) == 0


@pytest.mark.parametrize("key", ["", "with space", "é", "x" * 256, "tab\t", 5])
def test_a_malformed_key_is_invalid_input(store, key):
    with pytest.raises(InvalidInput) as caught:
        store.create(ALICE, "hello", idempotency_key=key)
    assert caught.value.field == "Idempotency-Key"


def test_concurrent_creates_with_one_key_make_one_message(store):
    results = run_together(8, lambda i: store.create(ALICE, "once", idempotency_key="race"))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({message.id for message, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert count_rows(store) == 1


# --- idempotency keys expire ---

def keys_by_age(store) -> list[str]:
    """The stored Idempotency-Keys, oldest first."""
    with store.engine.connect() as connection:
        keys = select(idempotency_keys.c.key).order_by(idempotency_keys.c.created_at)
        return list(connection.execute(keys).scalars())


def age_key(store, key: str, days: float) -> None:
    with store.engine.begin() as connection:
        connection.execute(update(idempotency_keys).where(idempotency_keys.c.key == key)
                           .values(created_at=datetime.now(timezone.utc) - timedelta(days=days)))


def test_an_expired_key_makes_a_new_message_which_the_key_then_stands_for(store):
    first, _ = store.create(ALICE, "hello", idempotency_key="k")
    age_key(store, "k", days=0.99)  # a day is the default time to live: still remembered
    assert store.create(ALICE, "hello", idempotency_key="k") == (first, False)
    age_key(store, "k", days=1.01)
    second, created = store.create(ALICE, "hello", idempotency_key="k")
    assert created is True and second.id != first.id
    assert store.create(ALICE, "hello", idempotency_key="k") == (second, False)
    age_key(store, "k", days=2)
    third, created = store.create(ALICE, "another text", idempotency_key="k")  # expired: no longer a reuse
    assert created is True and third.text == "another text"
    assert count_rows(store) == 3 and keys_by_age(store) == ["k"]


def test_each_keyed_create_deletes_a_bounded_number_of_expired_keys_the_oldest_first(store):
    assert EXPIRED_KEYS_PER_CREATE == 10
    posted_at = datetime.now(timezone.utc)
    with store.engine.begin() as connection:
        connection.execute(insert(idempotency_keys), [
            {"author": "someone", "author_issuer": ISSUER, "key": f"{'old' if n < 25 else 'new'}-{n:02}",
             "fingerprint": "0" * 64, "answer": {},
             "created_at": posted_at - (timedelta(days=30 - n) if n < 25 else timedelta(hours=30 - n))}
            for n in range(30)])  # 25 expired, from 30 to 6 days old; 5 remembered, from 5 to 1 hours old
    expired = [f"old-{n:02}" for n in range(25)]
    remembered = [f"new-{n:02}" for n in range(25, 30)]
    store.create(ALICE, "one", idempotency_key="mine-1")
    assert keys_by_age(store) == expired[10:] + remembered + ["mine-1"]  # exactly ten deleted, the oldest
    store.create(BOB, "two", idempotency_key="mine-2")
    assert keys_by_age(store) == expired[20:] + remembered + ["mine-1", "mine-2"]
    store.create(ALICE, "three")  # without a key: nothing to sweep for
    assert store.create(ALICE, "one", idempotency_key="mine-1")[1] is False  # a retry sweeps too
    assert keys_by_age(store) == remembered + ["mine-1", "mine-2"]


def test_the_sweep_finds_expired_keys_through_the_created_at_index(store):
    """The database's own plan for the sweep, with sequential scans made as costly as PostgreSQL allows: the
    created_at index is what it reads, so a sweep never costs a read of the whole table."""
    compiled = SWEEP_EXPIRED_KEYS.compile(dialect=store.engine.dialect)
    sqlite = store.engine.dialect.name == "sqlite"
    expired_before = datetime.now(timezone.utc) - timedelta(days=1)
    params = {**compiled.params,
              "expired_before": str(expired_before.replace(tzinfo=None)) if sqlite else expired_before}
    with store.engine.connect() as connection:
        if not sqlite:
            connection.exec_driver_sql("SET enable_seqscan = off")
        plan = connection.exec_driver_sql(f"EXPLAIN {'QUERY PLAN ' if sqlite else ''}{compiled}", params).all()
    assert "ix_idempotency_keys_created_at" in " ".join(str(row[-1]) for row in plan), plan


# --- update ---

def test_update_is_a_compare_and_set_on_the_version(store):
    message, _ = store.create(ALICE, "v1")
    updated = store.update(message.id, "  v2 ", 1, ALICE)
    assert (updated.text, updated.version, updated.created_at) == ("v2", 2, message.created_at)
    assert updated.updated_at > message.updated_at
    assert store.get(message.id) == updated
    with pytest.raises(VersionMismatch) as caught:
        store.update(message.id, "stale", 1, ALICE)
    assert caught.value.current == 2
    assert store.get(message.id).text == "v2"


def test_update_checks_existence_then_authorship(store):
    message, _ = store.create(ALICE, "mine")
    with pytest.raises(NotFound):
        store.update("f" * 32, "x", 1, ALICE)
    with pytest.raises(NotAuthor, match="only the message's author may edit it"):
        store.update(message.id, "x", 1, BOB)
    with pytest.raises(NotAuthor):
        store.update(message.id, "x", 7, BOB)  # not the author: that comes before a stale version
    with pytest.raises(InvalidInput):
        store.update(message.id, "", 1, ALICE)
    with pytest.raises(InvalidInput):
        store.update(message.id, "x", "1", ALICE)
    assert store.get(message.id) == message


def test_concurrent_updates_with_the_same_version_exactly_one_wins(store):
    message, _ = store.create(ALICE, "v1")
    results = run_together(8, lambda i: store.update(message.id, f"writer {i}", 1, ALICE))
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1, results
    assert all(isinstance(r, VersionMismatch) and r.current == 2 for r in losers), losers
    assert store.get(message.id) == winners[0] and winners[0].version == 2


# --- delete ---

def test_the_author_deletes_and_others_may_not(store):
    message, _ = store.create(ALICE, "mine")
    with pytest.raises(NotAuthor, match="only the message's author, or a moderator, may delete it"):
        store.delete(message.id, BOB)
    assert store.get(message.id) == message
    store.delete(message.id, ALICE)
    with pytest.raises(NotFound):
        store.get(message.id)
    with pytest.raises(NotFound):
        store.delete(message.id, ALICE)


def test_the_same_subject_from_another_issuer_is_another_author(store):
    alice_elsewhere = Owner(OTHER_ISSUER, "alice")
    message, _ = store.create(ALICE, "mine", idempotency_key="k")
    assert (message.author, message.author_issuer) == ("alice", ISSUER)
    with pytest.raises(NotAuthor):
        store.update(message.id, "not hers", 1, alice_elsewhere)
    with pytest.raises(NotAuthor):
        store.delete(message.id, alice_elsewhere)
    theirs, created = store.create(alice_elsewhere, "mine", idempotency_key="k")
    assert created is True and (theirs.author, theirs.author_issuer) == ("alice", OTHER_ISSUER)
    assert store.create(ALICE, "mine", idempotency_key="k") == (message, False)
    assert [m.author_issuer for m in store.list(author="alice").items] == [OTHER_ISSUER, ISSUER]
    assert store.list(author="alice", author_issuer=ISSUER).items == [message]
    assert store.list(author_issuer=OTHER_ISSUER).items == [theirs]  # every user of one issuer
    store.delete(message.id, Owner(OTHER_ISSUER, "moderator"), may_delete_any=True)
    assert store.list().items == [theirs]


def test_a_moderator_deletes_anyones_message(store):
    message, _ = store.create(ALICE, "hers")
    store.delete(message.id, MODERATOR, may_delete_any=True)
    with pytest.raises(NotFound):
        store.get(message.id)
    with pytest.raises(NotFound):
        store.delete(message.id, MODERATOR, may_delete_any=True)


# --- group commit ---

def test_creates_that_arrive_together_share_commits_and_all_last(store):
    """16 writers at once: every message stored and readable, in fewer commits than messages."""
    commits = []
    sqlalchemy_event.listen(store.engine, "commit", lambda connection: commits.append(1))
    created = run_together(16, lambda i: store.create(Owner(ISSUER, f"writer-{i}"), f"message {i}")[0])
    assert all(not isinstance(message, Exception) for message in created), created
    assert len({message.id for message in created}) == 16
    for message in created:
        assert store.get(message.id) == message  # what each writer got back is what is stored
    assert count_rows(store) == 16
    assert len(commits) < 16


def test_a_failed_group_commit_fails_each_of_its_writers_and_the_next_one_works(tmp_path):
    path = tmp_path / "messages.db"
    migrate(f"sqlite:///{path}")
    store = MessageStore.open(f"sqlite:///{path}", busy_timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer keeps the lock past the busy timeout
    try:
        results = run_together(8, lambda i: store.create(ALICE, f"message {i}"))
        assert all(isinstance(result, StorageUnavailable) for result in results), results
    finally:
        holder.rollback()
        holder.close()
    assert store.create(ALICE, "after")[1] is True
    assert count_rows(store) == 1
    store.close()


def test_sqlite_writers_wait_their_turn_up_to_the_busy_timeout(tmp_path):
    """Writers of every process take turns through a lock file beside the database (waited for without
    blocking the rest of the process); one held too long makes the write unavailable, not lost."""
    path = tmp_path / "messages.db"
    migrate(f"sqlite:///{path}")
    store = MessageStore.open(f"sqlite:///{path}", busy_timeout=0.3)
    with open(f"{path}-write.lock", "a") as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)  # as another process's writer would
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            store.create(ALICE, "while it is someone else's turn")
        assert 0.25 <= time.monotonic() - started < 5
    assert store.create(ALICE, "my turn")[1] is True
    store.close()
