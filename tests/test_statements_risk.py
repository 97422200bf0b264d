"""Predicted risks of sprints, epics and incidents (``sprint_at_risk``, ``epic_at_risk``,
``incident_slow_to_restore``) on a small hand-built organisation in a real DuckDB warehouse.

The organisation's outcomes arise from causes, not from fields the models read: a sprint's
(an epic's) tickets take longer the more scope was added after it started, so sprints and
epics with scope added after the start miss; an incident is restored faster when a deployment
of its project follows it and slower at level ``error``.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from assets.statements import CALIBRATION_CHECK, calibration_check
from flowsync_pipelines import statements as st
from flowsync_pipelines import warehouse
from flowsync_pipelines.statements import risk
from flowsync_pipelines.statements.calibration import verdict
from flowsync_pipelines.statements.catalogue import HEDGES, KINDS_BY_NAME
from flowsync_pipelines.statements.core import prepare, risk_inputs
from flowsync_pipelines.statements.models import recording_models
from flowsync_pipelines.statements.risk import EpicSettings, IncidentSettings

START = date(2026, 6, 1)  # a Monday
WEEKS = 20
END = START + timedelta(weeks=WEEKS)
CUT = date(2026, 9, 21)  # a day whose later events a test rewrites
RISK = ("sprint_at_risk", "epic_at_risk", "incident_slow_to_restore")


def _t(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


class _Org:
    """Signals and graph links of the organisation, inserted in bulk."""

    def __init__(self) -> None:
        self.signals: list[dict] = []
        self.edges: list[dict] = []

    def event(
        self,
        source: str,
        entity_type: str,
        entity_id: str,
        action: str,
        at: datetime,
        attributes: dict,
        url: str | None,
        repository: str | None = None,
        environment: str = "production",
    ) -> str:
        event_id = f"{source}:{entity_type}:{entity_id}:{action}:{_t(at)}"
        self.signals.append(
            {
                "event_id": event_id,
                "source": source,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "action": action,
                "occurred_at": at,
                "observed_at": at,
                "hlc": 0,
                "actor_kind": "unknown",
                "repository": repository,
                "environment": environment if entity_type == "deployment" else None,
                "url": url,
                "attributes": json.dumps(attributes),
                "landing_ref": "ref",
            }
        )
        return event_id

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        warehouse.run_sql(con, "graph_schema")
        frame = pl.DataFrame(self.signals, infer_schema_length=None).unique(
            "event_id", keep="first"
        )
        con.register("_org_signals", frame.to_arrow())
        columns = ", ".join(frame.columns)
        con.execute(f"INSERT INTO signals ({columns}) SELECT {columns} FROM _org_signals")
        con.unregister("_org_signals")
        edges = pl.DataFrame(self.edges)
        con.register("_org_edges", edges.to_arrow())
        con.execute(
            "INSERT INTO graph_edges SELECT edge_id, edge_type, link_type, src, dst, confidence, "
            "band, method, evidence, partition_day FROM _org_edges"
        )
        con.unregister("_org_edges")
        con.execute("INSERT INTO team_ticket_scopes VALUES ('core', 'jira', 'CORE')")
        con.execute(
            "INSERT INTO graph_edges VALUES ('OWNS:team:core->repo:acme/api', 'OWNS', 'fact', "
            "'team:core', 'repo:acme/api', 1.0, 'high', 'config', [], DATE '2026-06-01')"
        )


def _sprints(org: _Org, rng: np.random.Generator) -> None:
    """Three boards with consecutive one-week sprints; each ticket's work takes longer the more
    scope was added after the sprint started."""
    for board in ("7", "8", "9"):
        for week in range(WEEKS):
            start = datetime.combine(START, datetime.min.time(), UTC) + timedelta(
                weeks=week, hours=8
            )
            end = start + timedelta(days=7)
            sprint_id = f"sprint/{board}{week:02d}"
            url = f"https://acme.atlassian.net/rest/agile/1.0/sprint/{board}{week:02d}"
            started = org.event(
                "jira",
                "sprint",
                sprint_id,
                "started",
                start,
                {"endDate": _t(end), "originBoardId": board},
                url,
            )
            if end < datetime.combine(END, datetime.min.time(), UTC):
                org.event("jira", "sprint", sprint_id, "completed", end, {}, url)
            planned = int(rng.integers(6, 10))
            added = int(rng.poisson(2.0))
            load = 1.0 + 0.5 * added
            for i in range(planned + added):
                key = f"B{board}-{week * 100 + i}"
                created = (
                    start - timedelta(days=1)
                    if i < planned
                    else start + timedelta(days=float(rng.uniform(0.5, 5.0)))
                )
                ticket_url = f"https://acme.atlassian.net/browse/{key}"
                attrs = {"components": ["CORE"]}
                first = org.event(
                    "jira",
                    "ticket",
                    key,
                    "created",
                    created,
                    {**attrs, "status_category": "new"},
                    ticket_url,
                )
                org.event(
                    "jira",
                    "ticket",
                    key,
                    "transitioned",
                    created + timedelta(hours=2),
                    {**attrs, "status_category": "indeterminate"},
                    ticket_url,
                )
                work = timedelta(days=float(rng.gamma(2.0, 0.8 * load)))
                # Some trackers log two events at the instant a ticket is done (Linear's
                # "transitioned" and "completed"): the evidence must not depend on row order.
                for action in ("transitioned", "completed") if i % 3 == 0 else ("transitioned",):
                    org.event(
                        "jira",
                        "ticket",
                        key,
                        action,
                        max(created, start) + work,
                        {**attrs, "status_category": "done"},
                        ticket_url,
                    )
                org.edges.append(
                    {
                        "edge_id": f"IN_SPRINT:ticket:{key}->sprint:{sprint_id}",
                        "edge_type": "IN_SPRINT",
                        "link_type": "ticket_sprint",
                        "src": f"ticket:{key}",
                        "dst": f"sprint:{sprint_id}",
                        "confidence": 0.9999,
                        "band": "high",
                        "method": "sprint_field",
                        "evidence": [first, started],
                        "partition_day": created.date(),
                    }
                )


def _ticket(org: _Org, key: str, created: datetime, done: datetime | None) -> str:
    """A Jira ticket of team core: created, started two hours later, done at ``done``."""
    url = f"https://acme.atlassian.net/browse/{key}"
    attrs = {"components": ["CORE"]}
    first = org.event(
        "jira", "ticket", key, "created", created, {**attrs, "status_category": "new"}, url
    )
    org.event(
        "jira",
        "ticket",
        key,
        "transitioned",
        created + timedelta(hours=2),
        {**attrs, "status_category": "indeterminate"},
        url,
    )
    if done is not None:
        org.event(
            "jira", "ticket", key, "transitioned", done, {**attrs, "status_category": "done"}, url
        )
    return first


def _epics(org: _Org, rng: np.random.Generator) -> None:
    """Epics due two to four weeks after they are created; children filed after the creation
    slow every child down (the team's attention is split), so grown epics miss their date."""
    t0 = datetime.combine(START, datetime.min.time(), UTC)
    for n in range(80):
        created = t0 + timedelta(days=float(rng.uniform(0, WEEKS * 7 - 28)))
        span = float(rng.uniform(14, 28))
        due = (created + timedelta(days=span)).date()
        key = f"EPIC-{n}"
        epic_attrs = {"components": ["CORE"], "issue_type": "Epic", "due_date": due.isoformat()}
        url = f"https://acme.atlassian.net/browse/{key}"
        for action, at, category in (
            ("created", created, "new"),
            ("transitioned", created + timedelta(hours=1), "indeterminate"),
        ):
            org.event(
                "jira", "ticket", key, action, at, {**epic_attrs, "status_category": category}, url
            )
        planned = int(rng.integers(3, 7))
        added = int(rng.poisson(1.2))
        load = 1.0 + 1.2 * added
        for i in range(planned + added):
            filed = 0.0 if i < planned else float(rng.uniform(7, span * 0.5))
            child_created = created + timedelta(days=filed, hours=1)
            start = filed + float(rng.uniform(0, span * 0.4))
            done = created + timedelta(days=start + float(rng.gamma(2.0, 1.5 * load)))
            child = f"E{n}-{i}"
            first = _ticket(org, child, child_created, done)
            org.edges.append(
                {
                    "edge_id": f"PART_OF:ticket:{child}->ticket:{key}",
                    "edge_type": "PART_OF",
                    "link_type": "ticket_epic",
                    "src": f"ticket:{child}",
                    "dst": f"ticket:{key}",
                    "confidence": 0.9999,
                    "band": "high",
                    "method": "parent_field",
                    "evidence": [first],
                    "partition_day": child_created.date(),
                }
            )


def _incidents(org: _Org, rng: np.random.Generator) -> None:
    """Incidents of one project, restored faster after a deployment and slower at ``error``."""
    t0 = datetime.combine(START, datetime.min.time(), UTC)
    for n in range(260):
        first = t0 + timedelta(hours=float(rng.uniform(0, WEEKS * 7 * 24)))
        level = "error" if rng.random() < 0.5 else "warning"
        issue = f"sentry:api/{1000 + n}"
        url = f"https://acme.sentry.io/issues/{1000 + n}/"
        attrs = {"project": "api", "level": level, "status": "unresolved"}
        org.event("sentry", "incident", issue, "first_seen", first, attrs, url)
        deployed = rng.random() < 0.5
        if deployed:
            at = first + timedelta(hours=float(rng.uniform(0.5, 3)))
            org.event(
                "github",
                "deployment",
                f"acme/api/deployments/{n}",
                "status_success",
                at,
                {},
                f"https://github.com/acme/api/deployments/{n}",
                repository="acme/api",
            )
        hours = rng.gamma(2.0, (14 if level == "error" else 7) * (0.4 if deployed else 1.3))
        restored = first + timedelta(hours=float(hours))
        for _ in range(int(rng.integers(1, 6))):
            seen = first + timedelta(hours=float(rng.uniform(0, hours)))
            org.event("sentry", "incident", issue, "error_seen", seen, attrs, url)
        org.event("sentry", "incident", issue, "resolved", restored, attrs, url)


@pytest.fixture(scope="module")
def org_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(12)
    org = _Org()
    _sprints(org, rng)
    _incidents(org, rng)
    _epics(org, np.random.default_rng(13))
    path = tmp_path_factory.mktemp("risk") / "w.duckdb"
    with warehouse.connect(path) as con:
        org.write(con)
    return path


@pytest.fixture(scope="module")
def derived(org_db: Path) -> tuple[pl.DataFrame, list, list]:
    with warehouse.connect(org_db) as con, recording_models() as fitted:
        frame, reports = st.derive_with_calibration(con, START, END)
    return frame, reports, fitted


def _risk(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    return frame.filter(pl.col("kind") == kind)


def test_every_risk_kind_is_stated_with_its_words_evidence_and_citations(org_db, derived):
    frame, _, _ = derived
    with warehouse.connect(org_db, read_only=True) as con:
        events = {r[0] for r in con.execute("SELECT event_id FROM signals").fetchall()}
    for kind in RISK:
        rows = _risk(frame, kind)
        assert rows.height > 10, kind
        assert set(rows["model"]) == {KINDS_BY_NAME[kind].model}
        for r in rows.iter_rows(named=True):
            assert r["evidence"] and set(r["evidence"]) <= events
            assert r["citations"] and all(c.startswith("https://") for c in r["citations"])
            if r["band"] != "high":
                assert f" {HEDGES[r['band']]} " in r["text"]
            assert r["confidence"] >= 0.5  # the default threshold
            params = json.loads(r["params"])
            assert 0.0 <= params["shrinkage"] <= 1.0 and "base_rate" in params
    sprint = _risk(frame, "sprint_at_risk").row(0, named=True)
    params = json.loads(sprint["params"])
    assert sprint["subject_type"] == "sprint" and sprint["subject_id"].startswith("sprint/")
    assert f"{params['not_done']} of {params['scope']} tickets not done" in sprint["text"]
    assert sprint["team"] == "core"
    epic = _risk(frame, "epic_at_risk").row(0, named=True)
    params = json.loads(epic["params"])
    assert epic["subject_type"] == "epic" and epic["subject_id"].startswith("EPIC-")
    assert f"miss its due date ({params['ends_on']}): {params['not_done']} of" in epic["text"]
    assert epic["as_of_date"].isoformat() < params["ends_on"] and epic["team"] == "core"
    incident = _risk(frame, "incident_slow_to_restore").row(0, named=True)
    assert incident["subject_type"] == "incident"
    assert "within 24 hours of first seen" in incident["text"]


def test_sprint_risk_evidence_is_the_start_and_each_tickets_latest_status_event(org_db, derived):
    frame, _, _ = derived
    row = _risk(frame, "sprint_at_risk").sort("as_of_date").row(-1, named=True)
    params = json.loads(row["params"])
    start, *statuses = row["evidence"]
    assert ":sprint:" in start and ":started:" in start
    assert len(statuses) == params["scope"]  # one latest status event per ticket in scope
    as_of = datetime.combine(row["as_of_date"] + timedelta(days=1), datetime.min.time(), UTC)
    with warehouse.connect(org_db, read_only=True) as con:
        latest = con.execute(
            "SELECT arg_max(s.event_id, (s.occurred_at, s.event_id)), "
            "arg_max(s.attributes->>'status_category', (s.occurred_at, s.event_id)) "
            "FROM signals AS s JOIN graph_edges AS e ON e.src = 'ticket:' || s.entity_id "
            "WHERE e.dst = 'sprint:' || $sprint AND s.occurred_at < $as_of "
            "GROUP BY s.entity_id",
            {"sprint": row["subject_id"], "as_of": as_of},
        ).fetchall()
    assert sorted(statuses) == sorted(r[0] for r in latest)
    assert params["not_done"] == sum(1 for r in latest if r[1] != "done") > 0


def test_predictions_rank_and_are_calibrated_out_of_time(derived):
    _, reports, _ = derived
    by_kind = {r.kind: r for r in reports}
    assert set(RISK) <= set(by_kind)
    sprint, incident = by_kind["sprint_at_risk"], by_kind["incident_slow_to_restore"]
    epic = by_kind["epic_at_risk"]
    for r in (sprint, epic, incident):
        assert r.model != "prior" and r.rows > 0 and r.auc is not None
        assert len(r.reliability) == 10
    assert incident.auc > 0.75 and sprint.auc > 0.75 and epic.auc > 0.75
    assert verdict([sprint, epic, incident]).status in ("pass", "warn")


def test_stated_risks_come_true_more_often_than_the_base_rate(org_db, derived):
    frame, _, _ = derived
    with warehouse.connect(org_db, read_only=True) as con:
        late = con.execute(
            "SELECT entity_id FROM signals WHERE entity_type = 'incident' "
            "GROUP BY entity_id HAVING min(occurred_at) FILTER (WHERE action = 'resolved') "
            "> min(occurred_at) FILTER (WHERE action = 'first_seen') + INTERVAL 24 HOUR"
        ).fetchall()
        total = con.execute(
            "SELECT count(DISTINCT entity_id) FROM signals WHERE entity_type = 'incident'"
        ).fetchone()[0]
    slow = {r[0] for r in late}
    stated = set(_risk(frame, "incident_slow_to_restore")["subject_id"])
    assert len(stated & slow) / len(stated) > len(slow) / total + 0.15


def test_every_fitted_version_is_announced_and_named_by_its_rows(derived):
    frame, _, fitted = derived
    for kind in RISK:
        announced = {m.version for m in fitted if m.statement_kind == kind}
        used = set(_risk(frame, kind)["model_version"])
        assert used and used <= announced
        assert all(len(v) == 12 for v in announced)


def test_little_history_means_the_prior_or_a_model_shrunk_towards_it(org_db):
    with warehouse.connect(org_db) as con:
        early = st.derive(con, START, START + timedelta(days=21))
        later = st.derive(con, END - timedelta(days=7), END)
    sprint_early = _risk(early, "sprint_at_risk")
    # Three weeks in, the first sprints' outcomes are too few to fit: the prior speaks.
    assert {json.loads(p)["model"] for p in sprint_early["params"]} <= {"prior"}
    shrink = [json.loads(p)["shrinkage"] for p in _risk(later, "sprint_at_risk")["params"]]
    # Dozens of settled sprints against a prior of a few: a little of the prior remains.
    assert shrink and all(0.01 < s < 0.5 for s in shrink)


def test_an_open_tickets_chance_is_how_its_boards_tickets_in_that_state_fared():
    """A plan misses when any one ticket is late, so each open ticket's chance of being done by
    the end counts: how often the board's tickets in the same state were, over plans settled
    before the snapshot. Here work put back to the backlog after it started never finishes."""
    monday = datetime(2026, 1, 5, 8, tzinfo=UTC)
    sprints, events = [], []
    for k in range(12):
        start = monday + timedelta(weeks=k)
        sprint = f"sprint/{k}"
        sprints.append(
            {
                "entity_id": sprint,
                "board": "jira:1",
                "started_at": start,
                "scoped_at": start,
                "ends_at": start + timedelta(days=7),
            }
        )
        # Both start with the sprint; one is put back a day later, the other done in two.
        for ticket, hours, category in (("SLOW", 23, "new"), ("FAST", 47, "done")):
            created = start - timedelta(hours=1)
            for at, cat in (
                (created, "new"),
                (start, "indeterminate"),
                (start + timedelta(hours=hours), category),
            ):
                events.append(
                    {
                        "plan_id": sprint,
                        "ticket_id": f"{ticket}-{k}",
                        "created_at": created,
                        "occurred_at": at,
                        "category": cat,
                        "event_id": f"{ticket}-{k}:{at.isoformat()}",
                        "url": None,
                    }
                )
    snaps = risk.plan_snapshots(
        pl.DataFrame(sprints), pl.DataFrame(events), (monday + timedelta(weeks=12)).date()
    )

    def feature(name: str, sprint: int, day: int) -> float:
        return snaps.x[snaps.subject == sprint][day, risk.SPRINT_FEATURES.index(name)]

    # Day 3 (noon): only the put-back ticket is open, begun 3.5 days ago.
    assert feature("oldest_started_days", 11, 3) == pytest.approx(3.5)
    # No plan had settled before the first: one half, whatever later sprints show.
    assert feature("log_chance_all_done", 0, 3) == pytest.approx(np.log(0.5))
    # Eleven settled sprints later that state has never finished in time.
    assert feature("log_chance_all_done", 11, 3) < np.log(0.05)
    # On day 1 the put-back ticket is the least likely; the moving one is likely done.
    assert feature("log_chance_least_likely", 11, 1) < np.log(0.05)
    assert feature("log_chance_all_done", 11, 1) - feature(
        "log_chance_least_likely", 11, 1
    ) > np.log(0.9)


def test_earlier_statements_do_not_move_when_later_days_change(org_db, derived, tmp_path):
    frame, _, _ = derived
    copy = tmp_path / "w.duckdb"
    shutil.copy(org_db, copy)
    with warehouse.connect(copy) as con:
        # The future is rewritten: every event after the cut disappears, every ticket not done
        # is done and every incident still open is resolved a minute after it.
        con.execute("DELETE FROM signals WHERE occurred_at >= $cut", {"cut": CUT})
        con.execute(
            "INSERT INTO signals SELECT * REPLACE (CASE WHEN entity_type = 'ticket' "
            "THEN 'transitioned' ELSE 'resolved' END AS action, "
            "CAST($cut AS TIMESTAMPTZ) + INTERVAL 1 MINUTE AS occurred_at, "
            "CASE WHEN entity_type = 'ticket' THEN json_merge_patch(attributes, "
            '\'{"status_category": "done"}\') ELSE attributes END AS attributes, '
            "event_id || ':rewritten' AS event_id) FROM signals "
            "WHERE (entity_type = 'ticket' AND action = 'created') "
            "OR (entity_type = 'incident' AND action = 'first_seen')",
            {"cut": CUT},
        )
        again = st.derive(con, START, CUT + timedelta(days=7))
    same = [c for c in st.COLUMNS if c != "first_stated_on"]
    for kind in RISK:
        before = _risk(frame, kind).filter(pl.col("as_of_date") < CUT)
        after = _risk(again, kind).filter(pl.col("as_of_date") < CUT)
        assert before.height > 5, kind
        assert (
            after.select(same).sort("statement_id").equals(before.select(same).sort("statement_id"))
        ), kind
    moved = _risk(again, "sprint_at_risk").filter(pl.col("as_of_date") > CUT)
    kept = _risk(frame, "sprint_at_risk").filter(
        pl.col("as_of_date").is_between(CUT + timedelta(days=1), CUT + timedelta(days=6))
    )
    assert moved.height < kept.height  # the rewritten future does change what is said after it


def test_no_incident_claim_while_restorations_are_undated(org_db, tmp_path):
    """Sentry's issue list gives no resolution time: with only undated resolutions every
    incident would look slow, so nothing is claimed."""
    copy = tmp_path / "w.duckdb"
    shutil.copy(org_db, copy)
    with warehouse.connect(copy) as con:
        con.execute(
            "UPDATE signals SET attributes = json_merge_patch(attributes, "
            "'{\"status\": \"resolved\"}') WHERE entity_type = 'incident'"
        )
        con.execute("DELETE FROM signals WHERE entity_type = 'incident' AND action = 'resolved'")
        frame, reports = st.derive_with_calibration(con, END - timedelta(days=14), END)
    assert _risk(frame, "incident_slow_to_restore").is_empty()
    report = next(r for r in reports if r.kind == "incident_slow_to_restore")
    assert report.rows == 0  # undated outcomes are unknown, not "slow"


def test_a_lower_threshold_claims_more_and_the_version_follows_the_settings(org_db):
    window = (END - timedelta(days=14), END)
    with warehouse.connect(org_db) as con:
        default = _risk(st.derive(con, *window), "incident_slow_to_restore")
        eager = _risk(
            st.derive(con, *window, incident=IncidentSettings(min_probability=0.2)),
            "incident_slow_to_restore",
        )
    assert eager.height > default.height
    assert set(eager["model_version"]).isdisjoint(set(default["model_version"]))


def test_rederiving_gives_identical_statements(org_db, derived):
    frame, _, _ = derived
    window = (END - timedelta(days=10), END)
    with warehouse.connect(org_db) as con:
        again = st.derive(con, *window)
    part = frame.filter(pl.col("as_of_date") >= window[0])
    for kind in RISK:
        a = _risk(again, kind).drop("first_stated_on")
        b = _risk(part, kind).drop("first_stated_on")
        assert a.height and a.equals(b)


def test_statement_calibration_reads_every_kind_and_fails_miscalibrated_ones(org_db, derived):
    _, reports, _ = derived
    result = calibration_check(reports)
    assert result.check_name == CALIBRATION_CHECK
    assert all(kind in result.description for kind in RISK)
    # Positive outcomes weighted 20 times, no calibration and no shrinkage: every probability
    # is pushed up.
    bad = {"calibration": "none", "positive_weight": 20.0, "prior_strength": 0.0}
    with warehouse.connect(org_db) as con:
        _, bad_reports = st.derive_with_calibration(
            con, START, END, incident=IncidentSettings(**bad), epic=EpicSettings(**bad)
        )
    for kind in ("incident_slow_to_restore", "epic_at_risk"):
        good = next(r for r in reports if r.kind == kind)
        worse = next(r for r in bad_reports if r.kind == kind)
        assert worse.rows == good.rows and worse.ece > 2 * good.ece, kind
        failed = calibration_check([worse])
        assert failed.passed is False and kind in failed.description


def test_a_sentry_project_named_unlike_its_repository_finds_its_deployments_and_team(tmp_path):
    """Projects are mapped to repositories by name first, then by the graph's incident ->
    deployment links, then by shared name tokens; the incident's team and the deployments its
    restore time reads go by that mapping."""
    org = _Org()
    t0 = datetime(2026, 6, 2, 9, tzinfo=UTC)
    for n, project in enumerate(("api", "payments-backend", "edge")):
        url = f"https://acme.sentry.io/issues/{n}/"
        attrs = {"project": project, "level": "error", "status": "unresolved"}
        org.event("sentry", "incident", f"sentry:{project}/{n}", "first_seen", t0, attrs, url)
    for n, repo in enumerate(("acme/api", "acme/payments-api", "acme/gateway", "acme/mobile-app")):
        for env in ("production", "staging"):
            org.event(
                "github",
                "deployment",
                f"{repo}/deployments/{env}{n}",
                "status_success",
                t0 - timedelta(hours=2),
                {},
                f"https://github.com/{repo}/deployments",
                repository=repo,
                environment=env,
            )
    # The graph attributed edge's incident to a gateway deployment (files, release), and nothing
    # in the names says so.
    org.edges.append(
        {
            "edge_id": "e1",
            "edge_type": "CAUSED",
            "link_type": "incident_deployment",
            "src": "deployment:acme/gateway/deployments/production2",
            "dst": "incident:sentry:edge/2",
            "confidence": 0.9,
            "band": "high",
            "method": "model",
            "evidence": [],
            "partition_day": t0.date(),
        }
    )
    path = tmp_path / "w.duckdb"
    with warehouse.connect(path) as con:
        org.write(con)
        for team, repo in (("pay", "acme/payments-api"), ("edge", "acme/gateway")):
            con.execute(
                "INSERT INTO graph_edges VALUES (?, 'OWNS', 'fact', ?, ?, 1.0, 'high', 'config', "
                "[], DATE '2026-06-01')",
                [f"OWNS:{team}", f"team:{team}", f"repo:{repo}"],
            )
        params = prepare(con, START, END, st.StatementSettings())
        mapping = dict(con.execute("SELECT * FROM st_project_repository").fetchall())
        incidents, events = risk_inputs(con, "incident_slow_to_restore", params)
    assert mapping == {
        "api": "acme/api",
        "payments-backend": "acme/payments-api",
        "edge": "acme/gateway",
    }
    teams = dict(incidents.select("entity_id", "team").iter_rows())
    assert teams == {
        "sentry:api/0": "core",
        "sentry:payments-backend/1": "pay",
        "sentry:edge/2": "edge",
    }
    deployments = events.filter(pl.col("kind") == "deployment")
    assert sorted(deployments["key"]) == ["api", "edge", "payments-backend"]  # production only
