"""GDPR: a person's export, an erasure that survives re-syncs, and the PII scan of every store.

One deployment (the last three days of an eight-day demo world: the same organisation and people,
and syncs fetch a whole world whatever the partition) goes through the whole story once — export,
scan, ``flowsync gdpr forget``, scan, forget again, the admin removes the person from
flowsync.yaml, a full re-sync and another partition — and each test checks one step of it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from assets.privacy import pii_scan_check
from flowsync_pipelines.cli import app
from flowsync_pipelines.gdpr import (
    AUDIT,
    CONFIG,
    ERASED,
    GHOST_LOGIN,
    OUTSIDE,
    RAW,
    VAULT,
    ErasureRegistry,
    IdentifierKind,
    IdentifierSet,
    ScanReport,
    Stores,
    find_person,
    forget_person,
    pii_scan,
    scrub_erased,
    scrub_payload,
)
from flowsync_pipelines.landing import FetchedRecord, LandingStore, landing_frame
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.settings import Paths
from flowsync_pipelines.simulator import World, build_world
from flowsync_pipelines.simulator.org import Person
from tests.conftest import PSEUDONYM_KEY, Deployment, deploy

PII_CHECK = dg.AssetCheckKey(dg.AssetKey("team_digests"), "pii_scan")


# -- the story ------------------------------------------------------------------------------------
@dataclass
class Story:
    deployment: Deployment
    person: Person
    identifiers: set[str]  # how the tools and flowsync.yaml identify the person
    export: dict[str, Any]
    scan_before: ScanReport
    remaining_before: dict[str, set[str]]
    forget_output: str
    scan_after: ScanReport
    remaining_after_forget: dict[str, set[str]]
    after_forget: dict[str, str]
    second_forget_changed: bool
    after_second_forget: dict[str, str]
    landing_rows_before_resync: int
    rerun: dg.ExecuteInProcessResult
    scan_after_rerun: ScanReport


def _stores(deployment: Deployment) -> Stores:
    # Explicit, not from the environment: a Neo4j server another test started is not ours.
    paths = Paths(home=deployment.home)
    return Stores(
        landing=paths.landing,
        duckdb=paths.duckdb,
        outbox=paths.outbox,
        metadata_url=f"sqlite:///{paths.metadata}",
        config_file=deployment.config_file,
        pseudonym_key=PSEUDONYM_KEY,
    )


def _cli(deployment: Deployment, *args: str) -> Any:
    env = {
        "FLOWSYNC_HOME": str(deployment.home),
        "FLOWSYNC_CONFIG": str(deployment.config_file),
        "FLOWSYNC_METADATA_URL": "",
        "NEO4J_URI": "",
    }
    return CliRunner().invoke(app, ["gdpr", *args], env=env)


def _authors(home: Path) -> set[str]:
    with duckdb.connect(str(Paths(home=home).duckdb), read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT actor FROM signals WHERE entity_type = 'pull_request' "
            "AND action = 'opened' AND actor IS NOT NULL"
        ).fetchall()
    return {actor for (actor,) in rows}


def _pick_person(world: World, home: Path) -> Person:
    """A human with a GitHub login and a Jira account who opened pull requests in the window;
    preferably one whose commits also show a second address (the hardest to find)."""
    authors = _authors(home)
    candidates = [
        p
        for p in world.people
        if not p.is_bot
        and "github" in p.accounts
        and "jira" in p.accounts
        and pseudonym(PSEUDONYM_KEY, "github", p.accounts["github"]) in authors
    ]
    assert candidates, "no demo person authored a pull request in the window"
    return sorted(candidates, key=lambda p: (len(p.emails) == 1, p.person_id))[0]


def _identifiers(person: Person) -> set[str]:
    """Addresses, display name, and the account of every tool (Figma and Sentry ids too)."""
    return {*person.emails, person.name, *person.accounts.values()}


def _store_digests(home: Path) -> dict[str, str]:
    """A digest of every file and table FlowSync writes, to prove that nothing changed."""
    paths = Paths(home=home)
    digests = {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in (paths.landing, paths.outbox)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    with duckdb.connect(str(paths.duckdb), read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            rows = con.execute(f'SELECT * FROM "{table}" ORDER BY ALL').fetchall()
            digests[f"duckdb:{table}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    engine = sa.create_engine(f"sqlite:///{paths.metadata}")
    try:
        reflected = sa.MetaData()
        reflected.reflect(engine)
        with engine.connect() as conn:
            for name, table in sorted(reflected.tables.items()):
                rows = sorted(map(repr, conn.execute(sa.select(table)).all()))
                digests[f"metadata:{name}"] = hashlib.sha256(repr(rows).encode()).hexdigest()
    finally:
        engine.dispose()
    return digests


def _remove_from_config(config_file: Path, person: Person) -> None:
    """What the admin is told to do after an erasure: drop the member entry."""
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    for team in config["teams"]:
        team["members"] = [m for m in team.get("members", []) if m["name"] != person.name]
    config_file.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def _run_with_pii_check(deployment: Deployment, day: date) -> dg.ExecuteInProcessResult:
    defs = deployment.definitions()
    if PII_CHECK not in defs.resolve_asset_graph().asset_check_keys:  # until definitions.py has it
        defs = dg.Definitions.merge(defs, dg.Definitions(asset_checks=[pii_scan_check]))
    return defs.resolve_job_def("daily_refresh").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": day.isoformat(),
            "dagster/asset_partition_range_end": day.isoformat(),
        },
    )


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    world = build_world(days=8)
    for deployment in deploy(world, tmp_path_factory.mktemp("gdpr") / "home"):
        last = (world.end - timedelta(days=1)).date()
        first = last - timedelta(days=2)
        assert deployment.run(first, last).success
        person = _pick_person(world, deployment.home)
        stores = _stores(deployment)
        export_file = deployment.home / "export.json"
        exported = _cli(
            deployment, "export", "--person", person.work_email, "--out", str(export_file)
        )
        assert exported.exit_code == 0, exported.output
        scan_before = pii_scan(stores)
        remaining_before = _where_identifiers_remain(deployment.home, _identifiers(person))
        forgotten = _cli(deployment, "forget", "--person", person.accounts["github"], "--yes")
        assert forgotten.exit_code == 0, forgotten.output
        scan_after = pii_scan(stores)
        remaining = _where_identifiers_remain(deployment.home, _identifiers(person))
        after_forget = _store_digests(deployment.home)
        second = forget_person(stores, find_person(stores, person.work_email))
        after_second_forget = _store_digests(deployment.home)
        _remove_from_config(deployment.config_file, person)
        # The tools still hold the person's data: re-sync everything from scratch.
        metadata = MetadataStore(stores.metadata_url)
        with metadata.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM sync_state"))
        metadata.dispose()
        landing_rows = LandingStore(stores.landing).scan().select(pl.len()).collect().item()
        rerun = _run_with_pii_check(deployment, first - timedelta(days=1))
        yield Story(
            deployment=deployment,
            person=person,
            identifiers=_identifiers(person),
            export=json.loads(export_file.read_text(encoding="utf-8")),
            scan_before=scan_before,
            remaining_before=remaining_before,
            forget_output=forgotten.output,
            scan_after=scan_after,
            remaining_after_forget=remaining,
            after_forget=after_forget,
            second_forget_changed=second.changed,
            after_second_forget=after_second_forget,
            landing_rows_before_resync=landing_rows,
            rerun=rerun,
            scan_after_rerun=pii_scan(stores),
        )


def _word(identifier: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![^\W_]){re.escape(identifier)}(?![^\W_])", re.IGNORECASE)


def _where_identifiers_remain(home: Path, identifiers: set[str]) -> dict[str, set[str]]:
    """Every store searched independently of the gdpr module: store -> identifiers found."""
    paths = Paths(home=home)
    texts: dict[str, str] = {}
    landing = LandingStore(paths.landing).scan().collect()
    texts["landing"] = "\n".join(
        "\n".join(v or "" for v in row)
        for row in landing.select("scope", "record_id", "request", "payload").iter_rows()
    )
    with duckdb.connect(str(paths.duckdb), read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        texts["duckdb"] = "\n".join(
            repr(row) for t in tables for row in con.execute(f'SELECT * FROM "{t}"').fetchall()
        )
    texts["outbox"] = "\n".join(
        p.read_text(encoding="utf-8") for p in paths.outbox.rglob("*") if p.is_file()
    )
    engine = sa.create_engine(f"sqlite:///{paths.metadata}")
    reflected = sa.MetaData()
    reflected.reflect(engine)
    with engine.connect() as conn:
        texts["metadata"] = "\n".join(
            repr(row)
            for table in reflected.tables.values()
            for row in conn.execute(sa.select(table))
        )
    engine.dispose()
    found: dict[str, set[str]] = {}
    for store, text in texts.items():
        lowered = text.lower()  # a cheap substring test first, the word-boundary regex after
        hits = {i for i in identifiers if i.lower() in lowered and _word(i).search(text)}
        if hits:
            found[store] = hits
    return found


# -- export ---------------------------------------------------------------------------------------
def test_export_holds_the_persons_vault_entries_and_the_signals_they_authored(story):
    export, person = story.export, story.person
    handles = {e["handle"] for e in export["vault_entries"]}
    assert {person.accounts["github"], person.accounts["jira"]} <= handles
    assert {e["display_name"] for e in export["vault_entries"]} == {person.name}
    mine = set(export["pseudonyms"])
    authored = [s for s in export["signals"] if s["actor"] in mine]
    about = [
        s for s in export["signals"] if any(p in f"{s['attributes']}{s['title']}" for p in mine)
    ]
    assert len(authored) >= 1
    assert len(authored) + len(about) >= len(export["signals"])  # nothing about anyone else
    assert export["counts"]["signals"] == len(export["signals"])
    assert export["counts"]["landing_records"] > 0


def test_export_finds_the_other_addresses_the_persons_commits_show(story):
    landed = story.remaining_before["landing"] & set(story.person.emails)
    other = landed - {story.person.work_email}
    assert other  # the vault knows one address per account; the commits show more
    assert other <= set(story.export["other_identifiers_seen_in_tools"])


# -- scan before and after forget -----------------------------------------------------------------
def test_before_forget_identifiers_are_only_in_the_raw_zone(story):
    assert story.scan_before.violations == []
    assert story.scan_before.total(zone=RAW) > 0
    # Independently: the raw zone holds the person, the derived stores do not.
    remaining = story.remaining_before
    assert set(remaining) == {"landing", "metadata", "outbox"}  # metadata: the vault
    assert remaining["outbox"] <= {story.person.name}  # digests name people, nothing more


def test_after_forget_the_scan_finds_nothing_anywhere_not_even_in_the_raw_zone(story):
    assert story.scan_after.violations == []
    # The signed audit log keeps the erased pseudonyms (the erasure entry names them; it is
    # append-only) — pseudonyms only: an identifier there would be a violation above.
    assert not [
        f for f in story.scan_after.findings if f.erased and f.store != "config" and f.zone != AUDIT
    ]
    assert "erased (erasure" in story.forget_output


def test_after_forget_no_store_holds_any_identifier_of_the_person(story):
    assert story.remaining_after_forget == {}


def test_after_forget_landing_holds_not_even_the_persons_github_account_number(story):
    account_id = re.compile(rf"(?<!\d){story.person.github_id}(?!\d)")
    payloads = LandingStore(Paths(home=story.deployment.home).landing).scan().collect()
    assert not [p for p in payloads.get_column("payload").to_list() if account_id.search(p)]


def test_forget_keeps_landing_provenance_consistent(story):
    landing = LandingStore(Paths(home=story.deployment.home).landing).scan().collect()
    for payload, sha in landing.select("payload", "payload_sha256").iter_rows():
        json.loads(payload)  # still JSON
        assert hashlib.sha256(payload.encode()).hexdigest() == sha
    refs = set(landing.get_column("landing_ref").to_list())
    with duckdb.connect(str(Paths(home=story.deployment.home).duckdb), read_only=True) as con:
        cited = {r for (r,) in con.execute("SELECT DISTINCT landing_ref FROM signals").fetchall()}
    assert cited <= refs


def test_forget_cuts_the_person_out_of_signals_but_keeps_the_events(story):
    event_ids = {s["event_id"] for s in story.export["signals"]}
    with duckdb.connect(str(Paths(home=story.deployment.home).duckdb), read_only=True) as con:
        rows = con.execute(
            "SELECT event_id, actor, actor_kind FROM signals WHERE list_contains($ids, event_id)",
            {"ids": sorted(event_ids)},
        ).fetchall()
        leftover = con.execute(
            "SELECT count(*) FROM signals WHERE list_contains($p, actor)",
            {"p": story.export["pseudonyms"]},
        ).fetchone()[0]
    assert {event_id for event_id, _, _ in rows} == event_ids
    assert leftover == 0
    authored = [kind for _, actor, kind in rows if actor is None]
    assert authored and set(authored) <= {"erased", "unknown", "deleted"}


def test_forget_records_the_erasure_without_the_identifiers(story):
    engine = sa.create_engine(f"sqlite:///{Paths(home=story.deployment.home).metadata}")
    registry = ErasureRegistry(engine)
    (erasure_id,) = {r for r in registry.registered([e[0] for e in registry.entries()]).values()}
    record = registry.record(erasure_id)
    engine.dispose()
    assert record is not None and record.completed_at is not None
    assert record.counts["vault_rows"] >= 2 and record.counts["landing_rows"] > 0
    assert set(story.export["pseudonyms"]) <= set(record.pseudonyms)


# -- idempotence and durability -------------------------------------------------------------------
def test_forgetting_the_same_person_again_changes_nothing(story):
    assert story.second_forget_changed is False
    assert story.after_second_forget == story.after_forget


def test_the_pipeline_runs_after_forget_and_a_full_resync_does_not_bring_the_person_back(story):
    assert story.rerun.success
    (check,) = [e for e in story.rerun.get_asset_check_evaluations() if e.check_name == "pii_scan"]
    assert check.passed, check.metadata
    assert story.scan_after_rerun.violations == []
    # Only the signed audit log's erasure entries still name the erased pseudonyms.
    assert not [f for f in story.scan_after_rerun.findings if f.erased and f.zone != AUDIT]
    assert _where_identifiers_remain(story.deployment.home, story.identifiers) == {}
    # Every record was fetched again and scrubbed at landing time into the bytes forget wrote.
    synced = story.rerun.asset_materializations_for_node("github_landing")[0].metadata
    assert synced["records_fetched"].value > 0
    landing = LandingStore(Paths(home=story.deployment.home).landing)
    assert landing.scan().select(pl.len()).collect().item() == story.landing_rows_before_resync


# -- the building blocks --------------------------------------------------------------------------
ERASED_PERSON = {
    "jdoe": IdentifierKind(erased=True),
    "jane.doe@acme.example": IdentifierKind(erased=True),
    "Jane Doe": IdentifierKind(erased=True, name=True),
}
PAYLOAD = {
    "title": "Fix login for Jane Doe (jdoe) and jdoelle",
    "user": {"login": "jdoe", "id": 42, "node_id": "MDQ6", "html_url": "https://github.com/jdoe"},
    "head": {"ref": "jdoe-patch-1"},
    "commit": {"author": {"name": "JANE DOE", "email": "Jane.Doe@acme.example"}},
    "reviewers": [{"login": "rsmith", "id": 7}],
}


def test_scrub_payload_erases_whole_words_and_keeps_valid_json():
    scrubbed = json.loads(scrub_payload(json.dumps(PAYLOAD), IdentifierSet(ERASED_PERSON)))
    assert scrubbed["title"] == f"Fix login for {ERASED} ({ERASED}) and jdoelle"
    assert scrubbed["user"] == {
        "login": GHOST_LOGIN,  # what GitHub shows for an account that no longer exists
        "id": None,
        "node_id": None,
        "html_url": f"https://github.com/{ERASED}",
    }
    assert scrubbed["head"]["ref"] == f"{ERASED}-patch-1"
    assert scrubbed["commit"]["author"] == {"name": ERASED, "email": None}
    assert scrubbed["reviewers"] == PAYLOAD["reviewers"]


def test_landing_time_scrubbing_with_digests_writes_the_bytes_forget_wrote(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.sqlite'}")
    registry = ErasureRegistry(store.engine)
    salt = registry.salt(create=True)
    entries = [(registry.digest(i, salt), len(i), True) for i in ERASED_PERSON]
    registry.start("e1", request_digest="x", pseudonyms=[], entries=entries, identifier_count=3)
    records = [
        FetchedRecord("pulls", "acme/app", n, "2026-01-01T00:00:00Z", payload, "GET /pulls")
        for n, payload in (("1", PAYLOAD), ("2", {"title": "untouched"}))
    ]
    frame = landing_frame("github", records, fetched_at=datetime(2026, 1, 2, tzinfo=UTC))
    landed = scrub_erased(frame, store)  # what run_sync lands
    store.dispose()
    by_forget = scrub_payload(frame.get_column("payload")[0], IdentifierSet(ERASED_PERSON))
    assert landed.get_column("payload").to_list() == [by_forget, frame.get_column("payload")[1]]
    assert by_forget != frame.get_column("payload")[0]
    sha = hashlib.sha256(by_forget.encode()).hexdigest()
    assert landed.row(0, named=True)["payload_sha256"] == sha
    assert landed.row(0, named=True)["landing_ref"] == f"github/pulls/1@{sha[:16]}"
    assert landed.row(1) == frame.row(1)


def _bare_home(tmp_path: Path, member: dict[str, str]) -> Stores:
    """A FlowSync home with nothing in it but a flowsync.yaml naming one team member."""
    home = tmp_path / "home"
    home.mkdir()
    config = home / "flowsync.yaml"
    config.write_text(
        yaml.safe_dump({"teams": [{"key": "core", "name": "Core", "members": [member]}]})
    )
    paths = Paths(home=home)
    return Stores(
        landing=paths.landing,
        duckdb=paths.duckdb,
        outbox=paths.outbox,
        metadata_url=f"sqlite:///{paths.metadata}",
        config_file=config,
    )


MEMBER = {"name": "Robin Quist", "email": "robin.quist@example.org", "github": "rquist-dev"}


def test_scan_command_exits_1_when_an_email_is_stored_outside_the_vault(tmp_path):
    stores = _bare_home(tmp_path, MEMBER)
    with duckdb.connect(str(stores.duckdb)) as con:
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR)")
        con.execute("INSERT INTO notes VALUES (1, 'ask robin.quist@example.org first')")
    env = {"FLOWSYNC_HOME": str(stores.duckdb.parent), "FLOWSYNC_CONFIG": "", "NEO4J_URI": ""}
    result = CliRunner().invoke(app, ["gdpr", "scan"], env=env)
    assert result.exit_code == 1
    assert "duckdb:notes.body" in result.output and "r***@example.org" in result.output
    assert "robin.quist" not in result.output  # identifiers are masked


def test_scan_reports_an_email_stored_in_neo4j(neo4j_uri, tmp_path):
    import neo4j

    stores = _bare_home(tmp_path, MEMBER)
    stores = Stores(**{**stores.__dict__, "neo4j_uri": neo4j_uri})
    with neo4j.GraphDatabase.driver(neo4j_uri) as driver:
        driver.execute_query(
            "CREATE (:GdprTestContact {email: $email})", {"email": MEMBER["email"]}
        )
        try:
            report = pii_scan(stores)
            forget_person(stores, find_person(stores, MEMBER["email"]))
            after = pii_scan(stores)
        finally:
            driver.execute_query("MATCH (n:GdprTestContact) DETACH DELETE n")
    (finding,) = [f for f in report.findings if f.store == "neo4j"]
    assert finding.zone == OUTSIDE and finding.violation
    assert finding.location == "node:GdprTestContact.email"
    assert finding.identifiers == ["r***@example.org"]
    assert not [f for f in after.findings if f.store == "neo4j"]


def test_an_erased_person_back_in_the_vault_is_a_violation_and_in_the_config_a_warning(tmp_path):
    stores = _bare_home(tmp_path, MEMBER)
    forget_person(stores, find_person(stores, MEMBER["github"]))
    # What the next run does while flowsync.yaml still lists the person.
    store = MetadataStore(stores.metadata_url)
    store.upsert_accounts(
        [
            {
                "pseudonym": "p_0123456789abcdef01234567",
                "source": "github",
                "handle": MEMBER["github"],
                "display_name": MEMBER["name"],
                "email": MEMBER["email"],
                "actor_kind": "human",
            }
        ]
    )
    store.dispose()
    report = pii_scan(stores)
    zones = {f.zone: f.violation for f in report.findings}
    assert zones == {VAULT: True, CONFIG: False}


def test_forget_and_scan_work_with_the_metadata_store_on_postgresql(postgres_url, tmp_path):
    stores = Stores(**{**_bare_home(tmp_path, MEMBER).__dict__, "metadata_url": postgres_url})
    store = MetadataStore(postgres_url)
    notes = sa.Table(
        "gdpr_test_notes",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", sa.Text),
    )
    notes.create(store.engine)
    try:
        with store.engine.begin() as conn:
            conn.execute(notes.insert().values(id=1, body=f"call {MEMBER['name']} back"))
        before = pii_scan(stores)
        report = forget_person(stores, find_person(stores, MEMBER["email"]))
        after = pii_scan(stores)
        with store.engine.connect() as conn:
            body = conn.execute(sa.select(notes.c.body)).scalar()
        erased = ErasureRegistry(store.engine).identifiers()
    finally:
        notes.drop(store.engine)
        _privacy_tables_dropped(store)
        store.dispose()
    mine = "gdpr_test_notes.body"
    assert [f.violation for f in before.findings if f.location == mine] == [True]
    assert report.counts["metadata_rows"] == 1 and body == f"call {ERASED} back"
    assert not [f for f in after.findings if f.location == mine]
    assert MEMBER["email"] in erased and "someone.else@example.org" not in erased


def _privacy_tables_dropped(store: MetadataStore) -> None:
    """Leave the shared PostgreSQL database as the other tests expect it: nobody erased (the
    tables are the migrations': emptied, not dropped)."""
    with store.engine.begin() as conn:
        for table in ("erased_identifiers", "erasures", "erasure_salt"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
