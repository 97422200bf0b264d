"""The signed audit log: append, idempotence, rotation, concurrency, and what verify catches.

Every tampering test changes the stored log the way someone with write access to the metadata
store could, then asserts that verification names the entry. SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from flowsync_pipelines.audit import (
    AuditError,
    AuditLog,
    Problem,
    VerifyContext,
    canonical_json,
    generate_signing_key,
    key_id,
    load_signing_key,
    register_rederiver,
    verify_digest_file,
    verify_log,
    verify_statement,
)
from flowsync_pipelines.audit.chain import entry_hash, envelope_json
from flowsync_pipelines.audit.keys import load_public_key, public_bytes
from flowsync_pipelines.audit.verify import _REDERIVERS
from flowsync_pipelines.metadata import AUDIT_TABLES, MetadataStore, audit_head, audit_log
from resources.stores import AuditResource, MetadataResource

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
ENTRIES = 12  # plus the log_opened entry: seq 1 … 13


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = MetadataStore(url)
    # An empty log on the shared server (the tables are the migrations': emptied, not dropped).
    with store.engine.begin() as conn:
        for table in reversed(AUDIT_TABLES):
            conn.execute(table.delete())
    yield store.engine
    store.dispose()


def filled(engine: sa.Engine, n: int = ENTRIES) -> AuditLog:
    log = AuditLog(engine, KEY)
    log.append_many(
        ("statement", f"stmt-{i}", {"text": f"Ünïcode claim {i}", "confidence": 0.5 + i / 100})
        for i in range(n)
    )
    return log


def execute(engine: sa.Engine, statement: sa.Executable) -> None:
    with engine.begin() as conn:
        conn.execute(statement)


def row(engine: sa.Engine, seq: int) -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(sa.select(audit_log).where(audit_log.c.seq == seq)).one()


def seqs_with_problems(problems: list[Problem]) -> set[int | None]:
    return {p.seq for p in problems}


def flip(text: str, index: int) -> str:
    """``text`` with one character changed (a hex digit stays a hex digit)."""
    old = text[index]
    new = "1" if old != "1" else "2"
    return text[:index] + new + text[index + 1 :]


# -- the canonical form ----------------------------------------------------------------------------
def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": [1, 2.5], "a": "é", "c": {"z": None, "y": True}}) == (
        '{"a":"é","b":[1,2.5],"c":{"y":true,"z":null}}'
    )


def test_hashed_envelope_is_the_canonical_json_of_the_entry_fields() -> None:
    content = canonical_json({"text": "naïve — “quoted”", "n": 3})
    built = envelope_json(7, "2026-09-01T05:00:00.000000Z", "statement", "s-1", "ab" * 8, content)
    assert built == canonical_json(
        {
            "seq": 7,
            "at": "2026-09-01T05:00:00.000000Z",
            "kind": "statement",
            "subject": "s-1",
            "key_id": "ab" * 8,
            "content": {"text": "naïve — “quoted”", "n": 3},
        }
    )
    expected = hashlib.sha256(bytes.fromhex("11" * 32) + built.encode("utf-8")).hexdigest()
    assert entry_hash("11" * 32, 7, "2026-09-01T05:00:00.000000Z", "statement", "s-1",
                      "ab" * 8, content) == expected  # fmt: skip


# -- appending -------------------------------------------------------------------------------------
def test_first_entry_opens_the_log_with_the_public_key(engine: sa.Engine, tmp_path: Path) -> None:
    published = tmp_path / "audit_public_key.pem"
    log = AuditLog(engine, KEY, public_key_file=published)
    entry = log.append("model_trained", "pr_will_stall", {"version": "abc"})
    assert entry.seq == 2
    opened = log.entries(kind="log_opened")
    assert [e.seq for e in opened] == [1]
    assert opened[0].data["key_id"] == key_id(public_bytes(KEY))
    assert load_signing_key(generate_signing_key())  # the generated form loads
    assert published.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert entry.prev_hash == opened[0].entry_hash


def test_untouched_log_verifies(engine: sa.Engine) -> None:
    filled(engine)
    report = verify_log(engine, published_key=public_bytes(KEY))
    assert report.ok, report.render()
    assert report.entries == ENTRIES + 1
    assert report.render().startswith("OK: 13 entries")


def test_untouched_log_verifies_in_worker_processes(engine: sa.Engine) -> None:
    filled(engine, 300)
    report = verify_log(engine, workers=2, batch=50)
    assert report.ok, report.render()
    assert report.entries == 301


def test_append_once_appends_nothing_when_nothing_changed(engine: sa.Engine) -> None:
    log = AuditLog(engine, KEY)
    assert log.append_once("statement", "s-1", {"confidence": 0.9}) is not None
    assert log.append_once("statement", "s-1", {"confidence": 0.9}) is None
    batch = [("statement", f"s-{i}", {"confidence": 0.9}) for i in range(1, 4)]
    assert [e.subject for e in log.append_many(batch, only_changed=True)] == ["s-2", "s-3"]
    assert log.append_many(batch, only_changed=True) == []
    assert log.append_once("statement", "s-1", {"confidence": 0.8}) is not None
    assert len(log.entries()) == 1 + 4
    assert verify_log(engine).ok


def test_unknown_kinds_and_reserved_kinds_are_refused(engine: sa.Engine) -> None:
    log = AuditLog(engine, KEY)
    with pytest.raises(AuditError, match="unknown audit entry kind 'statment'"):
        log.append("statment", "s", {})  # type: ignore[arg-type]
    with pytest.raises(AuditError, match="written by the log itself"):
        log.append("key_rotated", "s", {})


def test_a_second_entry_cannot_claim_the_same_predecessor(engine: sa.Engine) -> None:
    filled(engine, 3)
    fork = dict(row(engine, 3)._mapping) | {"seq": 99, "entry_hash": "f" * 64}
    with pytest.raises(sa.exc.IntegrityError):
        execute(engine, audit_log.insert().values(**fork))


def _append_in_process(url: str, worker: int, rounds: int) -> None:
    store = MetadataStore(url)
    log = AuditLog(store.engine, KEY)
    for i in range(rounds):
        log.append_many(
            ("statement", f"w{worker}-{i}-{j}", {"worker": worker, "i": i, "j": j})
            for j in range(1 + i % 3)
        )
    store.dispose()


def test_concurrent_appenders_make_one_unbroken_chain(engine: sa.Engine) -> None:
    AuditLog(engine, KEY)  # tables and head row exist; which appender opens the log is a race
    url = engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_in_process, args=(url, w, 60)) for w in range(3)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    report = verify_log(engine)
    assert report.ok, report.render()
    per_worker = sum(1 + i % 3 for i in range(60))
    assert report.entries == 1 + 3 * per_worker
    assert [e.kind for e in AuditLog(engine, KEY).entries(kind="log_opened")] == ["log_opened"]
    with engine.connect() as conn:
        seqs = [r.seq for r in conn.execute(sa.select(audit_log.c.seq).order_by("seq"))]
    assert seqs == list(range(1, report.entries + 1))


# -- what verify catches ---------------------------------------------------------------------------
FIELDS = [
    "at", "kind", "subject", "content", "content_sha256",
    "prev_hash", "entry_hash", "signature", "key_id",
]  # fmt: skip


@pytest.mark.parametrize("column", FIELDS)
def test_one_changed_byte_in_any_field_of_any_entry_is_reported_with_its_seq(
    engine: sa.Engine, column: str
) -> None:
    filled(engine)
    for seq in (1, 2, 7, ENTRIES + 1):
        original = getattr(row(engine, seq), column)
        for index in (0, len(original) // 2, len(original) - 1):
            tampered = flip(original, index)
            if tampered == original:
                continue
            where = audit_log.c.seq == seq
            execute(engine, audit_log.update().where(where).values({column: tampered}))
            report = verify_log(engine, workers=1)
            assert not report.ok
            assert seq in seqs_with_problems(report.problems), (column, seq, report.render())
            execute(engine, audit_log.update().where(where).values({column: original}))
    assert verify_log(engine).ok


def test_a_changed_byte_in_content_is_named_with_expected_and_found(engine: sa.Engine) -> None:
    filled(engine)
    content = row(engine, 5).content
    execute(
        engine,
        audit_log.update()
        .where(audit_log.c.seq == 5)
        .values(content=content.replace("claim 3", "claim 8")),
    )
    report = verify_log(engine)
    assert [(p.seq, p.field) for p in report.problems] == [(5, "content_sha256"), (5, "entry_hash")]
    assert report.problems[1].found == row(engine, 5).entry_hash
    assert "entry 5: entry_hash: expected " in report.render()


@pytest.mark.parametrize("seq", [1, 6, ENTRIES + 1])
def test_a_deleted_entry_is_reported(engine: sa.Engine, seq: int) -> None:
    filled(engine)
    execute(engine, audit_log.delete().where(audit_log.c.seq == seq))
    report = verify_log(engine, published_key=public_bytes(KEY))
    assert not report.ok
    if seq == ENTRIES + 1:  # the last one: only the head row still remembers it
        assert ("audit_head", None) in {(p.field, p.seq) for p in report.problems}
    else:
        assert {(seq + 1, "seq"), (seq + 1, "prev_hash")} <= {
            (p.seq, p.field) for p in report.problems
        }


def test_an_inserted_entry_is_reported(engine: sa.Engine) -> None:
    filled(engine)
    # Make room after entry 4 and insert a well-formed entry chained to it, signed by another
    # key: the attacker cannot sign with the log's key.
    with engine.begin() as conn:
        for seq in range(ENTRIES + 1, 4, -1):
            conn.execute(audit_log.update().where(audit_log.c.seq == seq).values(seq=seq + 1))
    before = row(engine, 4)
    forger = AuditLog.__new__(AuditLog)
    forger._key, forger.public_key = OTHER, public_bytes(OTHER)
    forger.key_id = key_id(forger.public_key)
    forged = forger._sign(5, before.at, "statement", "invented", canonical_json({"x": 1}),
                          before.entry_hash)  # fmt: skip
    with engine.begin() as conn:
        # The UNIQUE prev_hash of the row now at 6 blocks a second successor of entry 4.
        conn.execute(audit_log.update().where(audit_log.c.seq == 6).values(prev_hash="e" * 64))
        conn.execute(audit_log.insert().values(**forged.__dict__))
    report = verify_log(engine)
    found = {(p.seq, p.field) for p in report.problems}
    assert (5, "key_id") in found
    assert (6, "entry_hash") in found  # entries after it no longer hash with their seq


def test_two_reordered_entries_are_reported(engine: sa.Engine) -> None:
    filled(engine)
    with engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.seq == 4).values(seq=-4))
        conn.execute(audit_log.update().where(audit_log.c.seq == 8).values(seq=4))
        conn.execute(audit_log.update().where(audit_log.c.seq == -4).values(seq=8))
    report = verify_log(engine)
    assert {4, 8} <= seqs_with_problems(report.problems)


def test_a_forged_entry_signed_with_another_key_is_reported(engine: sa.Engine) -> None:
    filled(engine)
    last = row(engine, ENTRIES + 1)
    forger = AuditLog.__new__(AuditLog)
    forger._key, forger.public_key = OTHER, public_bytes(OTHER)
    forger.key_id = key_id(forger.public_key)
    forged = forger._sign(ENTRIES + 2, last.at, "statement", "forged",
                          canonical_json({"x": 1}), last.entry_hash)  # fmt: skip
    with engine.begin() as conn:
        conn.execute(audit_log.insert().values(**forged.__dict__))
        conn.execute(audit_head.update().values(seq=forged.seq, entry_hash=forged.entry_hash))
    report = verify_log(engine)
    assert [(p.seq, p.field) for p in report.problems] == [
        (ENTRIES + 2, "key_id"),
        (ENTRIES + 2, "signature"),
    ]
    # The same forgery claiming the log's key id fails on the signature alone.
    same_id = AuditLog.__new__(AuditLog)
    same_id._key, same_id.public_key, same_id.key_id = OTHER, public_bytes(OTHER), last.key_id
    forged = same_id._sign(ENTRIES + 2, last.at, "statement", "forged",
                           canonical_json({"x": 1}), last.entry_hash)  # fmt: skip
    with engine.begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq == ENTRIES + 2))
        conn.execute(audit_log.insert().values(**forged.__dict__))
        conn.execute(audit_head.update().values(seq=forged.seq, entry_hash=forged.entry_hash))
    report = verify_log(engine)
    assert [(p.seq, p.field) for p in report.problems] == [(ENTRIES + 2, "signature")]


def test_a_log_rewritten_with_another_key_fails_against_the_published_key(
    engine: sa.Engine,
) -> None:
    AuditLog(engine, OTHER).append("statement", "s", {"x": 1})
    assert verify_log(engine).ok  # consistent in itself …
    report = verify_log(engine, published_key=public_bytes(KEY))
    assert [p.field for p in report.problems] == ["published public key"]  # … but not ours


# -- key rotation ----------------------------------------------------------------------------------
def test_rotation_verifies_and_retires_the_old_key(engine: sa.Engine, tmp_path: Path) -> None:
    published = tmp_path / "key.pem"
    log = filled(engine, 3)
    log.public_key_file = published
    rotation = log.rotate(OTHER)
    assert rotation.key_id == key_id(public_bytes(KEY))  # signed by the old key
    assert rotation.data["new_key_id"] == key_id(public_bytes(OTHER))
    AuditLog(engine, OTHER).append("statement", "after", {"x": 2})
    report = verify_log(engine, published_key=public_bytes(OTHER))
    assert report.ok, report.render()
    assert report.keys == [key_id(public_bytes(KEY)), key_id(public_bytes(OTHER))]
    with pytest.raises(AuditError, match="signed by key"):
        AuditLog(engine, KEY).append("statement", "late", {"x": 3})
    # An entry signed by the retired key after the rotation is refused by verify.
    last = row(engine, rotation.seq + 1)
    old = AuditLog.__new__(AuditLog)
    old._key, old.public_key = KEY, public_bytes(KEY)
    old.key_id = key_id(old.public_key)
    forged = old._sign(last.seq + 1, last.at, "statement", "late", canonical_json({}),
                       last.entry_hash)  # fmt: skip
    with engine.begin() as conn:
        conn.execute(audit_log.insert().values(**forged.__dict__))
        conn.execute(audit_head.update().values(seq=forged.seq, entry_hash=forged.entry_hash))
    problems = verify_log(engine).problems
    assert (forged.seq, "key_id", "retired key") in {(p.seq, p.field, p.note) for p in problems}


# -- statements and digests ------------------------------------------------------------------------
def test_verify_statement_checks_its_entries_and_runs_the_registered_rederiver(
    engine: sa.Engine,
) -> None:
    log = filled(engine, 5)
    missing = verify_statement(engine, "no-such-statement")
    assert [p.field for p in missing.problems] == ["statement no-such-statement"]
    assert verify_statement(engine, "stmt-2").ok
    seen: list[str] = []

    def rederive(entry, context: VerifyContext):  # type: ignore[no-untyped-def]
        seen.append(entry.subject)
        return [Problem(entry.seq, "confidence", "0.52", "0.99")]

    register_rederiver("statement", rederive)
    try:
        report = verify_statement(engine, "stmt-2")
    finally:
        _REDERIVERS.pop("statement")
    assert seen == ["stmt-2"]
    assert [str(p) for p in report.problems] == ["entry 4: confidence: expected 0.52, found 0.99"]
    seq = log.entries(subject="stmt-2")[0].seq
    execute(engine, audit_log.update().where(audit_log.c.seq == seq).values(subject="stmt-2"))
    execute(
        engine,
        audit_log.update().where(audit_log.c.seq == seq).values(at="2020-01-01T00:00:00.000000Z"),
    )
    assert {(p.seq, p.field) for p in verify_statement(engine, "stmt-2").problems} == {
        (seq, "entry_hash")
    }


def test_verify_digest_file_checks_the_logged_hash(engine: sa.Engine, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    digest = outbox / "2026-09-03" / "payments.engineering_manager.md"
    digest.parent.mkdir(parents=True)
    digest.write_text("# Payments\n- 3 pull requests wait for review (High)\n")
    AuditLog(engine, KEY).append(
        "digest_rendered",
        "2026-09-03/payments.engineering_manager.md",
        {"sha256": hashlib.sha256(digest.read_bytes()).hexdigest(), "statements": ["s-1"]},
    )
    assert verify_digest_file(engine, digest, outbox=outbox).ok
    digest.write_text("# Payments\n- 2 pull requests wait for review (High)\n")
    report = verify_digest_file(engine, digest, outbox=outbox)
    assert [(p.seq, p.field) for p in report.problems] == [(2, "content.sha256")]


# -- the command line ------------------------------------------------------------------------------
def test_cli_verify_all_exits_0_then_1_naming_the_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowsync_pipelines.cli import app

    home = tmp_path / "home"
    monkeypatch.setenv("FLOWSYNC_HOME", str(home))
    monkeypatch.delenv("FLOWSYNC_METADATA_URL", raising=False)
    runner = CliRunner()
    generated = runner.invoke(app, ["keys", "generate"])
    assert generated.exit_code == 0
    key = generated.stdout.strip().splitlines()[-1]
    store = MetadataStore(f"sqlite:///{home / 'metadata.sqlite'}")
    log = AuditLog(store.engine, key, public_key_file=home / "audit_public_key.pem")
    log.append_many(("statement", f"s-{i}", {"i": i}) for i in range(5))
    ok = runner.invoke(app, ["verify", "--all"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("OK: 6 entries")
    execute(store.engine, audit_log.update().where(audit_log.c.seq == 3).values(subject="s-9"))
    failed = runner.invoke(app, ["verify", "--all"])
    assert failed.exit_code == 1
    assert "entry 3: entry_hash: expected " in failed.stdout
    assert runner.invoke(app, ["verify", "s-3"]).exit_code == 0
    assert runner.invoke(app, ["verify", "s-1"]).exit_code == 1
    monkeypatch.setenv("FLOWSYNC_SIGNING_KEY", key)
    monkeypatch.setenv("FLOWSYNC_NEW_SIGNING_KEY", generate_signing_key())
    execute(store.engine, audit_log.update().where(audit_log.c.seq == 3).values(subject="s-1"))
    rotated = runner.invoke(app, ["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert runner.invoke(app, ["verify", "--all"]).exit_code == 0
    store.dispose()


# -- GDPR exports and erasures are entries ---------------------------------------------------------
def test_gdpr_export_and_erasure_are_signed_entries_that_erasure_leaves_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowsync_pipelines.gdpr import Stores, export_person, find_person, forget_person, pii_scan
    from flowsync_pipelines.pseudonym import pseudonym
    from flowsync_pipelines.settings import Paths

    key = generate_signing_key()
    monkeypatch.setenv("FLOWSYNC_SIGNING_KEY", key)
    stores = Stores.for_paths(Paths(home=tmp_path))
    store = MetadataStore(stores.metadata_url)
    jane = pseudonym("k", "github", "jdoe-acme")
    store.upsert_accounts(
        [{"pseudonym": jane, "source": "github", "handle": "jdoe-acme",
          "display_name": "Jane Doe", "email": "jane@acme.example", "actor_kind": "human"}]
    )  # fmt: skip
    export_person(stores, find_person(stores, "jane@acme.example"))
    AuditLog(store.engine, key).append("statement", "s-1", {"text": f"{jane}'s PR waits"})
    report = forget_person(stores, find_person(stores, "jane@acme.example"))
    forget_person(stores, find_person(stores, "jane@acme.example"))  # nothing left: no entry
    entries = [(e.kind, e.subject) for e in AuditLog(store.engine, key).entries()]
    assert entries[1][0] == "gdpr_export"
    assert entries[2:] == [("statement", "s-1"), ("gdpr_erasure", f"erasure:{report.erasure_id}")]
    erasure = AuditLog(store.engine, key).entries(kind="gdpr_erasure")[0].data
    assert erasure["pseudonyms"] == [jane]
    assert "jane@acme.example" not in str(erasure) and "jdoe-acme" not in str(erasure)
    assert verify_log(engine=store.engine, published_key=public_bytes(load_signing_key(key))).ok
    assert (tmp_path / "audit_public_key.pem").exists()
    assert pii_scan(stores).clean  # erased pseudonyms in the signed log are expected there
    store.dispose()


def test_appending_after_the_last_entry_was_removed_is_refused(engine: sa.Engine) -> None:
    log = filled(engine, 3)
    execute(engine, audit_log.delete().where(audit_log.c.seq == 4))
    with pytest.raises(AuditError, match=r"head \(4:[0-9a-f]{64}\) disagrees with its last entry"):
        log.append("statement", "next", {"x": 1})


def test_a_bad_signing_key_is_refused_without_showing_it() -> None:
    from flowsync_pipelines.audit import SigningKeyError

    with pytest.raises(SigningKeyError, match="decodes to 6 bytes") as raised:
        load_signing_key("c2VjcmV0")
    assert "c2VjcmV0" not in str(raised.value)
    with pytest.raises(SigningKeyError, match="neither base64 nor PEM"):
        load_signing_key("not a key!")


def test_assets_log_through_the_resource_with_the_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_signing_key()
    monkeypatch.setenv("FLOWSYNC_SIGNING_KEY", key)
    url = f"sqlite:///{tmp_path / 'metadata.sqlite'}"

    @dg.asset
    def stated(audit: AuditResource, metadata: MetadataResource) -> None:
        store = metadata.store()
        try:
            audit.log(store).append_once("statement", "s-1", {"confidence": 0.9})
        finally:
            store.dispose()

    resources = {
        "audit": AuditResource(
            metadata_url=url,
            signing_key=dg.EnvVar("FLOWSYNC_SIGNING_KEY"),
            public_key_file=str(tmp_path / "audit_public_key.pem"),
        ),
        "metadata": MetadataResource(url=url),
    }
    for _ in range(2):  # the re-run states nothing new
        assert dg.materialize([stated], resources=resources).success
    store = MetadataStore(url)
    entries = AuditLog(store.engine, key).entries()
    assert [(e.seq, e.kind) for e in entries] == [(1, "log_opened"), (2, "statement")]
    published = (tmp_path / "audit_public_key.pem").read_text()
    assert verify_log(store.engine, published_key=load_public_key(published)).ok
    store.dispose()


def test_the_demo_generates_a_signing_key_once(tmp_path: Path) -> None:
    import os

    from flowsync_pipelines.demo import ensure_secrets

    saved = dict(os.environ)
    try:
        first = ensure_secrets(tmp_path)["FLOWSYNC_SIGNING_KEY"]
        assert ensure_secrets(tmp_path)["FLOWSYNC_SIGNING_KEY"] == first
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert load_signing_key(first)
    assert f"FLOWSYNC_SIGNING_KEY={first}\n" in (tmp_path / "secrets.env").read_text()


def test_landing_rewrites_say_which_erasure_changed_a_cited_record(engine: sa.Engine) -> None:
    from flowsync_pipelines.audit import landing_rewrites

    old, new = "github/pull_requests/42@1a2b3c4d", "github/pull_requests/42@9f8e7d6c"
    digest = hashlib.sha256(old.encode()).hexdigest()
    AuditLog(engine, KEY).append(
        "gdpr_erasure",
        "erasure:e1",
        {
            "erasure_id": "e1",
            "counts": {"landing_rows": 1},
            "rewritten_landing_refs": {digest: new},
        },
    )
    rewrite = landing_rewrites(engine)[digest]
    assert (rewrite.new_ref, rewrite.erasure_id, rewrite.seq) == (new, "e1", 2)


def test_rotating_back_to_a_retired_key_is_refused(engine: sa.Engine) -> None:
    log = filled(engine, 1)
    log.rotate(OTHER)
    with pytest.raises(AuditError, match="signed this log before"):
        log.rotate(KEY)
    assert verify_log(engine).ok
