"""The audit log in the pipeline: statements, fitted models and rendered digests are signed
entries; a re-run appends nothing; ``flowsync verify`` re-derives statements from landing,
names a changed byte in a cited payload, and says why an erasure changed payload hashes.

One small demo world (8 days, the last 3 run) on loopback sandboxes; tests that change data
work on a copy of its FlowSync home.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from flowsync_pipelines import statements as st
from flowsync_pipelines import warehouse
from flowsync_pipelines.audit import AuditEntry, read_entries
from flowsync_pipelines.cli import app
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.settings import Paths
from flowsync_pipelines.simulator import World, build_world
from resources.stores import AuditResource
from tests.conftest import PSEUDONYM_KEY, SIGNING_KEY, Deployment, deploy

WORLD_DAYS, RUN_DAYS = 8, 3


def _window(world: World) -> tuple[date, date]:
    last = (world.end - timedelta(days=1)).date()
    return last - timedelta(days=RUN_DAYS - 1), last


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    world = build_world(days=WORLD_DAYS)
    for deployment in deploy(world, tmp_path_factory.mktemp("audit") / "home"):
        assert deployment.run(*_window(world)).success
        yield deployment


def _entries(home: Path, kind: str | None = None) -> list[AuditEntry]:
    engine = sa.create_engine(f"sqlite:///{Paths(home=home).metadata}")
    try:
        return read_entries(engine, kind=kind)
    finally:
        engine.dispose()


def _statements(home: Path, world: World) -> pl.DataFrame:
    first, last = _window(world)
    with warehouse.connect(Paths(home=home).duckdb, read_only=True) as con:
        return st.read(con, first, last + timedelta(days=1))


def _verify(home: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("FLOWSYNC_HOME", str(home))
    monkeypatch.delenv("FLOWSYNC_METADATA_URL", raising=False)
    return CliRunner().invoke(app, ["verify", *args])


@pytest.fixture
def copy(audited: Deployment, tmp_path: Path) -> Path:
    """A copy of the audited home, to change."""
    home = tmp_path / "home"
    shutil.copytree(audited.home, home)
    return home


def _cited(home: Path, kind: str) -> tuple[AuditEntry, dict[str, Any]]:
    """The first statement entry of ``kind`` and its first cited landing record."""
    entry = next(e for e in _entries(home, "statement") if e.data["kind"] == kind)
    return entry, entry.data["landing"][0]


def _cited_human(world: World, home: Path) -> tuple[AuditEntry, dict[str, Any], str]:
    """A statement entry, a landing record it cites and the GitHub login of a person (not a
    bot) that record names."""
    logins = {p.accounts["github"] for p in world.people if not p.is_bot and "github" in p.accounts}
    landing = LandingStore(Paths(home=home).landing).scan().collect()
    payloads = dict(
        zip(landing.get_column("landing_ref"), landing.get_column("payload"), strict=True)
    )
    for entry in _entries(home, "statement"):
        for item in entry.data["landing"]:
            user = json.loads(payloads[item["landing_ref"]]).get("user") or {}
            if user.get("login") in logins:
                return entry, item, user["login"]
    raise AssertionError("no statement cites a record naming a person")


def _rewrite_payload(home: Path, ref: str, change: Any) -> tuple[str, str]:
    """Replace the payload of landing record ``ref`` by ``change(payload)`` in its Parquet file;
    returns (old, new) payload."""
    for path in sorted(Paths(home=home).landing.glob("source=*/kind=*/*.parquet")):
        frame = pl.read_parquet(path, hive_partitioning=False)
        rows = frame.get_column("landing_ref").to_list()
        if ref in rows:
            payloads = frame.get_column("payload").to_list()
            old = payloads[rows.index(ref)]
            payloads[rows.index(ref)] = change(old)
            frame.with_columns(pl.Series("payload", payloads, dtype=pl.String)).write_parquet(path)
            return old, payloads[rows.index(ref)]
    raise AssertionError(f"{ref} is not in landing")


# -- the pipeline appends --------------------------------------------------------------------------
def test_every_statement_is_one_signed_entry_citing_its_landing_records(audited: Deployment):
    stated = _statements(audited.home, audited.world)
    entries = {e.subject: e.data for e in _entries(audited.home, "statement")}
    assert stated.height >= 10
    assert set(entries) == set(stated.get_column("statement_id"))
    landing = LandingStore(Paths(home=audited.home).landing).scan().collect()
    hashes = dict(
        zip(landing.get_column("landing_ref"), landing.get_column("payload"), strict=True)
    )
    for row in stated.iter_rows(named=True):
        logged = entries[row["statement_id"]]
        assert (logged["kind"], logged["text"], logged["confidence"]) == (
            row["kind"], row["text"], row["confidence"],
        )  # fmt: skip
        assert [i["event_id"] for i in logged["landing"]] == sorted(row["evidence"])
        for item in logged["landing"]:
            payload = hashes[item["landing_ref"]]
            assert item["payload_sha256"] == hashlib.sha256(payload.encode()).hexdigest()


def test_fitted_models_and_rendered_digests_are_signed_entries(audited: Deployment):
    models = _entries(audited.home, "model_trained")
    assert models and len({m.subject for m in models}) == len(models)
    predicted = {k.name for k in st.KINDS if k.category == "predicted"}
    assert "pr_will_stall" in {m.data["statement_kind"] for m in models}
    assert {m.data["statement_kind"] for m in models} <= predicted
    assert all(m.subject == f"{m.data['statement_kind']}:{m.data['version']}" for m in models)
    outbox = Paths(home=audited.home).outbox
    files = sorted(p for p in outbox.rglob("*") if p.is_file())
    digests = {e.subject: e.data for e in _entries(audited.home, "digest_rendered")}
    assert files and set(digests) == {p.relative_to(outbox).as_posix() for p in files}
    for path in files:
        logged = digests[path.relative_to(outbox).as_posix()]
        assert logged["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_rerunning_a_partition_leaves_statements_identical_and_appends_nothing(
    audited: Deployment,
):
    before = _statements(audited.home, audited.world)
    log = [(e.seq, e.entry_hash) for e in _entries(audited.home)]
    last = _window(audited.world)[1]
    assert audited.run(last, last).success
    assert _statements(audited.home, audited.world).equals(before)
    assert [(e.seq, e.entry_hash) for e in _entries(audited.home)] == log


# -- verify ----------------------------------------------------------------------------------------
def test_untouched_log_verifies_and_every_statement_is_rederived_from_landing(
    audited: Deployment, monkeypatch: pytest.MonkeyPatch
):
    stated = _statements(audited.home, audited.world)
    digests = _entries(audited.home, "digest_rendered")
    result = _verify(audited.home, monkeypatch, "--all")
    assert result.exit_code == 0, result.output
    assert f"; {stated.height + len(digests)} re-derived" in result.stdout
    one = _verify(audited.home, monkeypatch, stated.get_column("statement_id")[0])
    assert one.exit_code == 0, one.output
    assert one.stdout.startswith("OK: 1 entries, chain and signatures verified; 1 re-derived")
    digest = Paths(home=audited.home).outbox / digests[0].subject
    assert _verify(audited.home, monkeypatch, str(digest)).exit_code == 0


def test_verify_names_one_changed_byte_in_a_cited_landing_payload(
    copy: Path, monkeypatch: pytest.MonkeyPatch
):
    entry, cited = _cited(copy, "pr_waiting_for_review")

    def one_byte(payload: str) -> str:
        i = payload.index('"title":"') + len('"title":"')  # a character of the title
        return payload[:i] + ("X" if payload[i] != "X" else "Y") + payload[i + 1 :]

    _, new = _rewrite_payload(copy, cited["landing_ref"], one_byte)
    expected = (
        f"entry {entry.seq}: landing[{cited['landing_ref']}].payload_sha256: expected "
        f"{cited['payload_sha256']}, found {hashlib.sha256(new.encode()).hexdigest()}"
    )
    one = _verify(copy, monkeypatch, entry.subject)
    assert one.exit_code == 1
    assert expected in one.stdout
    every = _verify(copy, monkeypatch, "--all")
    assert every.exit_code == 1
    assert expected in every.stdout
    assert every.stdout.count("payload_sha256") == sum(
        1
        for e in _entries(copy, "statement")
        for i in e.data["landing"]
        if i["landing_ref"] == cited["landing_ref"]
    )


def test_verify_recomputes_the_statement_and_names_each_field_that_differs(
    copy: Path, monkeypatch: pytest.MonkeyPatch
):
    entry, _ = _cited(copy, "pr_waiting_for_review")
    # Signed with the log's own key, chain intact, evidence untouched: only re-deriving the
    # statement from its evidence shows that it is not what the evidence says.
    claimed = {**entry.data, "text": entry.data["text"].replace("has waited", "waited only")}
    with AuditResource(
        metadata_url=f"sqlite:///{Paths(home=copy).metadata}", signing_key=SIGNING_KEY
    ).open() as log:
        forged = log.append("statement", entry.subject, claimed)
    result = _verify(copy, monkeypatch, entry.subject)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1:] == [
        f"  entry {forged.seq}: text: expected {claimed['text']}, found {entry.data['text']}"
    ]


def test_verify_after_a_gdpr_erasure_succeeds_and_says_why(
    audited: Deployment, copy: Path, monkeypatch: pytest.MonkeyPatch
):
    from flowsync_pipelines.gdpr import Stores, find_person, forget_person

    entry, cited, author = _cited_human(audited.world, copy)
    paths = Paths(home=copy)
    stores = Stores(
        landing=paths.landing,
        duckdb=paths.duckdb,
        outbox=paths.outbox,
        metadata_url=f"sqlite:///{paths.metadata}",
        config_file=copy / "flowsync.yaml",
        pseudonym_key=PSEUDONYM_KEY,
        signing_key=SIGNING_KEY,
        audit_public_key=copy / "audit_public_key.pem",
    )
    report = forget_person(stores, find_person(stores, author))
    assert report.erasure_id and report.counts.get("landing_rows")
    # Models fitted on data that held the person are dropped (verify refits them).
    assert report.counts.get("duckdb:statement_models")
    with warehouse.connect(paths.duckdb, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM statement_models").fetchone() == (0,)
    rewritten = LandingStore(paths.landing).scan().collect()
    assert cited["landing_ref"] not in set(rewritten.get_column("landing_ref"))  # hash changed
    result = _verify(copy, monkeypatch, "--all")
    assert result.exit_code == 0, result.output
    why = f"rewritten by GDPR erasure {report.erasure_id} (entry "
    note = f"note: entry {entry.seq} (statement {entry.subject}): cited landing records were "
    assert note + why in result.stdout
    one = _verify(copy, monkeypatch, entry.subject)
    assert one.exit_code == 0, one.output
    assert why in one.stdout
