"""Adding a stored resource, as docs/stored-resources.md says, in a scratch copy of the repository.

The copy gets a ``notes`` resource with its own scopes, and nothing else: the package below
(namespaces/notes/), one migration in storage/migrations/versions/, one registration line in
namespaces/__init__.py, then ``make spec``. No file of app/, security/, swagger/, storage's machinery or
tests/ changes (checked against this repository). Then, on the copy:
- the app, served on loopback (``python -m app``), does the notes' round trip over HTTP: create, list, get
  (and 304), edit with its ETag (428 without, 412 stale, 403 for someone else), delete;
- its scopes are in the documents' security schemes, which are what the Authorize dialog lists (a check on
  the served /swagger.json and /openapi.json, not in a browser);
- the suite's own checks, unchanged, pass with the notes in: every documented example is the live answer
  (tests/routes/test_examples.py), both documents valid and equal to the refreshed snapshots
  (tests/routes/test_openapi.py), and the local issuer grants every declared scope, each opening its routes
  (tests/local_issuer/test_local_issuer.py).
"""

from __future__ import annotations

import filecmp
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from alembic.script import ScriptDirectory

from storage.migrate import alembic_config
from tests.support import ROOT, free_port, server_process

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
MIGRATION = f"storage/migrations/versions/{int(HEAD) + 1:04d}_notes.py"

#: The notes resource, as a reader of the walkthrough would write it: each file of namespaces/notes/.
NOTES = {
    "__init__.py": '''\
"""Notes: short texts, each its author's. Read with read:notes; write, edit and delete your own with write:notes."""

from .routes import ns

__all__ = ["ns"]
''',
    "rules.py": '''\
"""What a note may hold."""

from storage import InvalidInput

TEXT_MAX_CHARS = 200
TEXT_RULE = f"text must be 1 to {TEXT_MAX_CHARS} characters after trimming surrounding white space"


def clean_text(text: object) -> str:
    """The text as stored (trimmed), or InvalidInput."""
    if not isinstance(text, str) or not 1 <= len(text.strip()) <= TEXT_MAX_CHARS:
        raise InvalidInput("text", TEXT_RULE)
    return text.strip()
''',
    "table.py": '''\
"""The notes' table, on storage's one MetaData; the migration that creates it is in storage/migrations/versions/."""

from sqlalchemy import Column, Index, Integer, String, Table, Text

from storage import ID_LENGTH, UTCDateTime, metadata

notes = Table(
    "notes", metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("text", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("author_issuer", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Index(None, "created_at", "id"),  # newest first (storage.paging)
)
''',
    "store.py": '''\
"""NoteStore: the notes' SQL, on storage.Store. Each write is one statement whose WHERE holds its conditions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import and_, delete, insert, select, update

from security import Owner
from storage import NotAuthor, NotFound, Page, Store, VersionMismatch, is_id, new_id, newest_first, now, page_of

from .rules import clean_text
from .table import notes

WHAT = "note"


@dataclass(frozen=True)
class Note:
    id: str
    text: str
    author: str
    author_issuer: str
    created_at: datetime
    updated_at: datetime
    version: int


def _by(owner: Owner):
    return and_(notes.c.author == owner.subject, notes.c.author_issuer == owner.issuer)


class NoteStore(Store):
    def create(self, author: Owner, text: str) -> Note:
        at = now()
        note = Note(new_id(), clean_text(text), author.subject, author.issuer, at, at, 1)
        with self.writing() as connection:
            connection.execute(insert(notes).values(asdict(note)))
        return note

    def get(self, note_id: str) -> Note:
        if is_id(note_id):
            with self.reading() as connection:
                row = connection.execute(select(notes).where(notes.c.id == note_id)).first()
            if row is not None:
                return Note(**row._mapping)
        raise NotFound(str(note_id), WHAT)

    def list(self, limit: int, cursor: str | None) -> Page[Note]:
        with self.reading() as connection:
            rows = connection.execute(newest_first(notes, limit, cursor)).all()
        return page_of(rows, limit, lambda row: Note(**row._mapping))

    def update(self, note_id: str, text: str, expected_version: int, actor: Owner) -> Note:
        text = clean_text(text)
        if not is_id(note_id):
            raise NotFound(str(note_id), WHAT)
        with self.writing() as connection:
            row = connection.execute(
                update(notes).where(notes.c.id == note_id, notes.c.version == expected_version, _by(actor))
                .values(text=text, version=notes.c.version + 1, updated_at=now()).returning(*notes.c)).first()
            current = row or connection.execute(select(notes).where(notes.c.id == note_id)).first()
        if current is None:
            raise NotFound(note_id, WHAT)
        if row is not None:
            return Note(**row._mapping)
        if Owner(current.author_issuer, current.author) != actor:
            raise NotAuthor("only the note's author may edit it")
        raise VersionMismatch(current.version, WHAT)

    def delete(self, note_id: str, actor: Owner) -> None:
        if not is_id(note_id):
            raise NotFound(str(note_id), WHAT)
        with self.writing() as connection:
            if connection.execute(delete(notes).where(notes.c.id == note_id, _by(actor))).rowcount == 1:
                return
            exists = connection.execute(select(notes.c.id).where(notes.c.id == note_id)).first() is not None
        raise NotAuthor("only the note's author may delete it") if exists else NotFound(note_id, WHAT)
''',
    "models.py": '''\
"""The notes' documented shapes, how a note is shown, and the documented example note."""

from datetime import datetime, timezone

from flask_restx import SchemaModel

from namespaces.kit import page_model
from storage import ID_PATTERN

from .rules import TEXT_MAX_CHARS, TEXT_RULE
from .store import Note

note_model = SchemaModel("Note", {
    "type": "object",
    "required": ["author", "created_at", "id", "text", "updated_at", "version"],
    "properties": {
        "id": {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$", "readOnly": True},
        "text": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX_CHARS},
        "author": {"type": "string", "minLength": 1, "readOnly": True,
                   "description": "The `sub` of the token that wrote it."},
        "author_issuer": {"type": "string", "minLength": 1, "readOnly": True,
                          "description": "The `iss` of that token, when the API trusts several issuers."},
        "created_at": {"type": "string", "format": "date-time", "readOnly": True},
        "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
        "version": {"type": "integer", "minimum": 1, "readOnly": True,
                    "description": "The `ETag` is this number in quotes."},
    },
})
note_page_model = page_model(note_model)
EXAMPLE_TEXT = "Buy oat milk."
note_text_model = SchemaModel("NoteText", {
    "type": "object", "required": ["text"], "additionalProperties": False,
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX_CHARS,
                            "example": EXAMPLE_TEXT, "description": f"The note: {TEXT_RULE}."}},
})


def as_json(note: Note, with_issuer: bool = False) -> dict:
    shown = {"id": note.id, "text": note.text, "author": note.author, "created_at": note.created_at.isoformat(),
             "updated_at": note.updated_at.isoformat(), "version": note.version}
    if with_issuer:
        shown["author_issuer"] = note.author_issuer
    return shown


_AT = datetime(2025, 6, 1, 9, 30, tzinfo=timezone.utc)
EXAMPLE = Note("0123456789abcdef0123456789abcdef", EXAMPLE_TEXT, "alice", "https://login.example.com/", _AT, _AT, 1)
EDITED = Note(EXAMPLE.id, EXAMPLE_TEXT, "alice", EXAMPLE.author_issuer, _AT, _AT.replace(minute=35), 2)
''',
    "routes.py": '''\
"""The notes routes, with namespaces.kit: what each needs, reads, answers and documents."""

from flask import request, url_for
from flask_restx import Namespace, Resource

from namespaces.kit import (
    LIMIT_RULE, caller, cursor, etag, expected_version, if_match, if_none_match, json_answer, json_body,
    named_examples, no_content, not_found, not_modified, page_size, paging_parameters, precondition_required, refusal,
    refusing_store_errors, several_issuers, storage_down, uses_store,
)
from storage import CURSOR_RULE, InvalidInput, NotAuthor, VersionMismatch
from swagger import SUCCESS, Scope, answers, error_model, example, links, protected

from .models import EDITED, EXAMPLE, as_json, note_model, note_page_model, note_text_model
from .rules import TEXT_RULE
from .store import WHAT, NoteStore

ns = Namespace("notes", description="Notes: short texts, each its author's.")
READ_NOTES = Scope("read:notes", "Read the notes (GET /api/notes, GET /api/notes/{note_id}).")
WRITE_NOTES = Scope("write:notes", "Write notes, and edit or delete your own.")
store = uses_store(ns, NoteStore)

NOTE_ID = {"description": "A note's `id`."}
ITEM_LINKS = {
    "GetNote": {"operationId": "get_note", "parameters": {"note_id": "$response.body#/id"}},
    "EditNote": {"operationId": "edit_note",
                 "parameters": {"note_id": "$response.body#/id", "header.If-Match": "$response.header.ETag"}},
    "DeleteNote": {"operationId": "delete_note", "parameters": {"note_id": "$response.body#/id"}},
}
invalid_text = named_examples(("invalid_text", "An empty text", refusal(InvalidInput("text", TEXT_RULE))))
no_note = not_found(ns, WHAT)


@ns.route("/notes", endpoint="notes")
class Notes(Resource):
    @ns.doc("list_notes", params=paging_parameters("notes"))
    @answers(ns, 200, "A page of notes, newest first.", note_page_model,
             {SUCCESS: example("No notes yet", {"items": [], "next_cursor": None})})
    @answers(ns, 400, "A `limit` or `cursor` that breaks its rule.", error_model,
             named_examples(("invalid_limit", "A limit out of range", refusal(InvalidInput("limit", LIMIT_RULE))),
                            ("invalid_cursor", "Not a cursor", refusal(InvalidInput("cursor", CURSOR_RULE)))))
    @storage_down(ns)
    @protected(ns, READ_NOTES)
    @refusing_store_errors
    def get(self):
        """List notes, newest first. Needs `read:notes`."""
        page = store().list(page_size(), cursor())
        return {"items": [as_json(note, several_issuers()) for note in page.items], "next_cursor": page.next_cursor}

    @ns.doc("create_note")
    @links(ns, 201, ITEM_LINKS)
    @answers(ns, 201, "Written: the note, its URL in `Location` and its `ETag`.", note_model,
             {SUCCESS: example("The note as stored", as_json(EXAMPLE),
                               {"ETag": etag(1), "Location": f"/api/notes/{EXAMPLE.id}"})})
    @answers(ns, 400, "The text breaks its rule.", error_model, invalid_text)
    @storage_down(ns)
    @protected(ns, WRITE_NOTES)
    @json_body(ns, note_text_model, "The note to write.")
    @refusing_store_errors
    def post(self, body):
        """Write a note. Needs `write:notes`."""
        note = store().create(caller("notes"), body["text"])
        return json_answer(as_json(note, several_issuers()), 201,
                           {"ETag": etag(note.version), "Location": url_for("note", note_id=note.id)})


@ns.route("/notes/<note_id>", endpoint="note")
@ns.doc(params={"note_id": NOTE_ID})
class NoteItem(Resource):
    @ns.doc("get_note", params={"If-None-Match": if_none_match(WHAT)})
    @answers(ns, 200, "The note, with its `ETag`.", note_model,
             {SUCCESS: example("The note", as_json(EXAMPLE), {"ETag": etag(1)})})
    @answers(ns, 304, "Not changed. No body.", None, {"not_modified": example("Not changed", None, {"ETag": etag(1)})})
    @no_note
    @storage_down(ns)
    @protected(ns, READ_NOTES)
    @refusing_store_errors
    def get(self, note_id):
        """Read a note. Needs `read:notes`."""
        note = store().get(note_id)
        return not_modified(note.version) or json_answer(as_json(note, several_issuers()), 200,
                                                         {"ETag": etag(note.version)})

    @ns.doc("edit_note", params={"If-Match": if_match(WHAT)})
    @links(ns, 200, ITEM_LINKS)
    @answers(ns, 200, "Edited: the note with its new version and `ETag`.", note_model,
             {SUCCESS: example("The note, edited once", as_json(EDITED), {"ETag": etag(2)})})
    @answers(ns, 400, "The text breaks its rule.", error_model, invalid_text)
    @answers(ns, 403, "The note is someone else's (`not_author`).", error_model,
             named_examples(("not_author", "Another user's note",
                             refusal(NotAuthor("only the note's author may edit it")))))
    @no_note
    @answers(ns, 412, "`If-Match` is not the note's current `ETag`.", error_model,
             named_examples(("precondition_failed", "A stale ETag", refusal(VersionMismatch(2, WHAT)))))
    @answers(ns, 428, "No `If-Match`.", error_model,
             named_examples(("precondition_required", "No If-Match", precondition_required(WHAT))))
    @storage_down(ns)
    @protected(ns, WRITE_NOTES)
    @json_body(ns, note_text_model, "The note's new text.")
    @refusing_store_errors
    def patch(self, note_id, body):
        """Edit your note. Needs `write:notes`, being its author, and `If-Match` with its `ETag`."""
        version = expected_version(WHAT, lambda: store().get(note_id).version)
        note = store().update(note_id, body["text"], version, caller("notes"))
        return json_answer(as_json(note, several_issuers()), 200, {"ETag": etag(note.version)})

    @ns.doc("delete_note")
    @answers(ns, 204, "Deleted. No body.")
    @answers(ns, 403, "The note is someone else's (`not_author`).", error_model,
             named_examples(("not_author", "Another user's note",
                             refusal(NotAuthor("only the note's author may delete it")))))
    @no_note
    @storage_down(ns)
    @protected(ns, WRITE_NOTES)
    @refusing_store_errors
    def delete(self, note_id):
        """Delete your note. Needs `write:notes`."""
        store().delete(note_id, caller("notes"))
        return no_content()
''',
}

MIGRATION_TEXT = f'''\
"""notes

Revision ID: {int(HEAD) + 1:04d}
Revises: {HEAD}
"""

import sqlalchemy as sa
from alembic import op

revision = "{int(HEAD) + 1:04d}"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("author_issuer", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notes"),
    )
    op.create_index("ix_notes_created_at_id", "notes", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_notes_created_at_id", table_name="notes")
    op.drop_table("notes")
'''

#: What the copy leaves out, besides hidden files: local state, caches and outputs (the virtualenv is linked).
NOT_COPIED = ("__pycache__", "instance", "build", "test-artifacts", "node_modules")
#: The environment the copy's commands run with: none of the caller's own auth or database settings.
CLEAN_ENVIRONMENT = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "GUNICORN", "DATABASE"))}
#: The suite's own checks run again in the copy, unchanged, with the notes in.
SUITE_CHECKS = ["tests/routes/test_examples.py", "tests/routes/test_openapi.py",
                "tests/local_issuer/test_local_issuer.py::test_every_declared_scope_is_granted_and_opens_its_routes"]


def register(text: str) -> str:
    """namespaces/__init__.py with the notes registered: the import, and its place in NAMESPACES."""
    imports = "from . import messages, private, public\n"
    assert imports in text and "(messages.ns, \"/api\")]" in text
    return (text.replace(imports, "from . import messages, notes, private, public\n")
            .replace("(messages.ns, \"/api\")]", "(messages.ns, \"/api\"), (notes.ns, \"/api\")]"))


@pytest.fixture(scope="module")
def copy_with_notes(tmp_path_factory, seeded_instance) -> Path:
    """A scratch copy of the repository, with the walkthrough followed in it."""
    root = tmp_path_factory.mktemp("adding-a-resource") / "repo"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns(".*", *NOT_COPIED))
    (root / ".venv").symlink_to(Path(sys.prefix))
    shutil.copytree(seeded_instance, root / "instance")
    package = root / "namespaces" / "notes"
    package.mkdir()
    for name, text in NOTES.items():
        (package / name).write_text(text)
    (root / MIGRATION).write_text(MIGRATION_TEXT)
    registry = root / "namespaces" / "__init__.py"
    registry.write_text(register(registry.read_text()))
    spec = subprocess.run(["make", "-o", ".venv/.installed", "-o", ".venv/.runtime", "spec"], cwd=root,
                          capture_output=True, text=True, timeout=180, env={**os.environ, "LOG_LEVEL": "ERROR"})
    assert spec.returncode == 0, spec.stderr
    return root


def changed_files(copy: Path, folder: str) -> list[str]:
    """The files of ``folder`` that differ between this repository and the copy, or exist in one only (what
    the copy leaves out aside)."""
    def differences(compared: filecmp.dircmp, where: str) -> list[str]:
        found = [f"{where}{name}" for name in compared.left_only + compared.right_only + compared.diff_files
                 if not name.startswith(".")]
        for name, sub in compared.subdirs.items():
            found += differences(sub, f"{where}{name}/")
        return found

    return differences(filecmp.dircmp(ROOT / folder, copy / folder, ignore=list(NOT_COPIED)), f"{folder}/")


def test_the_walkthrough_touches_only_its_own_files(copy_with_notes):
    for folder in ("app", "security", "swagger", "storage", "refusals", "config", "tests"):
        expected = [MIGRATION] if folder == "storage" else []
        assert changed_files(copy_with_notes, folder) == expected, folder
    assert sorted(changed_files(copy_with_notes, "namespaces")) == sorted(
        ["namespaces/__init__.py", "namespaces/notes"])
    assert sorted(changed_files(copy_with_notes, "openapi")) == ["openapi/openapi.json", "openapi/swagger.json"]


def token(root: Path, port: int, sub: str, scope: str) -> str:
    """A token from the local issuer of the copy served on ``port``, as `make token` prints it."""
    printed = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "token", "--sub", sub, "--scope", scope],
                             cwd=root, capture_output=True, text=True, timeout=60,
                             env={**CLEAN_ENVIRONMENT, "LOG_LEVEL": "ERROR", "PORT": str(port)})
    assert printed.returncode == 0 and printed.stderr == "", printed.stderr
    return printed.stdout.strip()


def test_the_new_resource_round_trip_over_http(copy_with_notes, tmp_path):
    root, port = copy_with_notes, free_port()
    alice, bob = ({"Authorization": f"Bearer {token(root, port, sub, 'read:notes write:notes')}"}
                  for sub in ("alice", "bob"))
    no_scope = {"Authorization": f"Bearer {token(root, port, 'carol', 'read:messages')}"}
    logs = tmp_path / "logs"
    logs.mkdir()
    with server_process([sys.executable, "-m", "app"], port=port, env={}, cwd=root, logs=logs,
                        stop=signal.SIGINT) as url, requests.Session() as http:
        notes = f"{url}/api/notes"
        assert http.get(notes, headers=alice).json() == {"items": [], "next_cursor": None}

        created = http.post(notes, json={"text": "  first  "}, headers=alice)
        assert created.status_code == 201, created.text
        note = created.json()
        assert (note["text"], note["author"], note["version"]) == ("first", "alice", 1)
        assert created.headers["ETag"] == '"1"' and created.headers["Location"].endswith(f"/api/notes/{note['id']}")
        item = f"{notes}/{note['id']}"
        second = http.post(notes, json={"text": "second"}, headers=bob).json()

        page = http.get(notes, params={"limit": 1}, headers=alice).json()
        assert [n["id"] for n in page["items"]] == [second["id"]] and page["next_cursor"]
        rest = http.get(notes, params={"limit": 1, "cursor": page["next_cursor"]}, headers=alice).json()
        assert rest == {"items": [note], "next_cursor": None}

        read = http.get(item, headers=alice)
        assert (read.status_code, read.json(), read.headers["ETag"]) == (200, note, '"1"')
        assert http.get(item, headers={**alice, "If-None-Match": '"1"'}).status_code == 304

        assert http.patch(item, json={"text": "edited"}, headers=alice).status_code == 428
        assert http.patch(item, json={"text": "edited"}, headers={**bob, "If-Match": '"1"'}).json()["error"] == \
            "not_author"
        edited = http.patch(item, json={"text": "edited"}, headers={**alice, "If-Match": '"1"'})
        assert (edited.status_code, edited.json()["text"], edited.headers["ETag"]) == (200, "edited", '"2"')
        stale = http.patch(item, json={"text": "again"}, headers={**alice, "If-Match": '"1"'})
        assert (stale.status_code, stale.json()["error"]) == (412, "precondition_failed")

        refused = http.post(notes, json={"text": "no scope"}, headers=no_scope)
        assert (refused.status_code, refused.json()["error"]) == (403, "insufficient_scope")
        assert http.delete(item, headers=bob).status_code == 403
        deleted = http.delete(item, headers=alice)
        assert (deleted.status_code, deleted.content) == (204, b"")
        assert http.get(item, headers=alice).json()["error"] == "not_found"

        # The Authorize dialog lists the scopes of the document's OAuth2 schemes: the notes' are there.
        swagger = http.get(f"{url}/swagger.json").json()
        openapi = http.get(f"{url}/openapi.json").json()
    schemes = [scheme for scheme in swagger["securityDefinitions"].values() if scheme["type"] == "oauth2"]
    assert schemes
    for scheme in schemes:
        assert {"read:notes", "write:notes"} <= set(scheme["scopes"])
    for scheme in openapi["components"]["securitySchemes"].values():
        for flow in scheme.get("flows", {}).values():
            assert {"read:notes", "write:notes"} <= set(flow["scopes"])
    assert {"authorization_code": ["write:notes"]} in swagger["paths"]["/api/notes"]["post"]["security"]


def test_the_suites_own_checks_pass_with_the_new_resource(copy_with_notes):
    """Every documented example of the notes is the live answer, the documents are valid and their snapshots
    refreshed, and every declared scope is granted and opens its routes: the suite's tests, not edited."""
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:logging",
                          f"--basetemp={copy_with_notes.parent / 'pytest'}", *SUITE_CHECKS],
                         cwd=copy_with_notes, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-6000:]
    assert " passed" in run.stdout.splitlines()[-1] and "skipped" not in run.stdout.splitlines()[-1]
