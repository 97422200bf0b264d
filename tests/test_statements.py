"""Statements: the claims FlowSync makes, checked against the simulator's ground truth on the
demo organisation, against hand-built events for the rules, and for the words their bands allow.

Ground truth is read here and in ``bench/statements_runtime.py`` only, through
``tools/statement_truth.py``.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from types import ModuleType

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest

from assets.statements import (
    CALIBRATION_CHECK,
    EVIDENCE_CHECK,
    calibration_check,
    evidence_check,
    statements_asset,
)
from flowsync_pipelines import statements as st
from flowsync_pipelines import warehouse
from flowsync_pipelines.bands import HIGH, MEDIUM
from flowsync_pipelines.digest import Digest, em_sections, render_markdown
from flowsync_pipelines.partitions import daily_partitions
from flowsync_pipelines.settings import Paths
from flowsync_pipelines.statements.predict import refit_monday
from resources.stores import AuditResource, LandingResource, WarehouseResource
from tests.conftest import Deployment

REPO = Path(__file__).resolve().parent.parent
HIGH_BAND_PRECISION = 0.95


@cache
def truth_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "statement_truth", REPO / "tools" / "statement_truth.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _days(deployment: Deployment) -> tuple[date, date]:
    return deployment.world.start.date(), deployment.world.end.date()


@pytest.fixture(scope="module")
def stored(full_run: Deployment) -> pl.DataFrame:
    """Every statement the demo run stored."""
    start, end = _days(full_run)
    with warehouse.connect(Paths(home=full_run.home).duckdb, read_only=True) as con:
        return st.read(con, start, end)


def _materialise(
    duckdb_path: Path, first: str, last: str, *, landing: Path
) -> dg.ExecuteInProcessResult:
    """The statements asset alone, on ``duckdb_path``; its audit log beside that file."""
    result = dg.materialize(
        [statements_asset(daily_partitions(date(2026, 9, 1)))],
        resources={
            "warehouse": WarehouseResource(path=str(duckdb_path)),
            "landing": LandingResource(root=str(landing)),
            "audit": AuditResource(
                metadata_url=f"sqlite:///{duckdb_path.parent / 'metadata.sqlite'}",
                signing_key=dg.EnvVar("FLOWSYNC_SIGNING_KEY"),
            ),
        },
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )
    assert result.success
    return result


# --- the demo organisation against its ground truth -----------------------------------------


def test_statements_table_has_exactly_the_contract_columns(full_run):
    with warehouse.connect(Paths(home=full_run.home).duckdb, read_only=True) as con:
        columns = [r[0] for r in con.execute("DESCRIBE statements").fetchall()]
    assert columns == [
        "statement_id",
        "as_of_date",
        "team",
        "kind",
        "subject_type",
        "subject_id",
        "object_type",
        "object_id",
        "text",
        "params",
        "confidence",
        "band",
        "audience",
        "evidence",
        "citations",
        "model",
        "model_version",
        "first_stated_on",
    ]


def test_every_catalogue_kind_is_stated_on_the_demo(stored):
    # pr_merged_without_review: the demo world reviews every merge (its own test below);
    # incident_slow_to_restore: the demo polls Sentry's issue list, which dates no resolution,
    # so nothing is claimed (tests/test_statements_risk.py); epic_at_risk: one epic of the
    # demo's 60 days reaches its due date (and meets it), too little history to claim a risk
    # (tests/test_statements_risk.py states it on an organisation with history).
    unstated = {"pr_merged_without_review", "incident_slow_to_restore", "epic_at_risk"}
    expected = {k.name for k in st.KINDS} - unstated
    assert expected <= set(stored.get_column("kind").unique().to_list())


@pytest.mark.parametrize(
    "kind", ["ticket_shipped", "incident_caused_by_deployment", "work_without_ticket"]
)
def test_inferred_high_band_is_right_at_least_95_percent_of_the_time(stored, full_run, kind):
    claims = truth_tool().scored(stored, full_run.world).filter(pl.col("kind") == kind)
    high = claims.filter(pl.col("band") == "high")
    assert high.height >= 10, f"too few High {kind} claims to measure: {high.height}"
    assert high.get_column("real").mean() >= HIGH_BAND_PRECISION


def test_ticket_shipped_finds_nearly_every_ticket_a_production_deploy_carried(stored, full_run):
    truth = truth_tool().truth_pairs(full_run.world)["ticket_shipped"]
    claims = truth_tool().scored(stored, full_run.world)
    found = claims.filter((pl.col("kind") == "ticket_shipped") & pl.col("real")).height
    assert found >= 0.9 * len(truth)


def test_pr_merged_without_review_equals_the_worlds_unreviewed_merges(stored, full_run):
    truth = {s for s, _ in truth_tool().truth_pairs(full_run.world)["pr_merged_without_review"]}
    stated = set(
        stored.filter(pl.col("kind") == "pr_merged_without_review").get_column("subject_id")
    )
    assert stated == truth


def test_deployment_shipped_names_every_successful_production_deploy(stored, full_run):
    truth = {
        f"{d['repo']}/deployments/{d['deployment_id']}"
        for d in full_run.world.ground_truth()["deployments"]
        if d["environment"] == "production" and d["status"] == "success"
    }
    stated = stored.filter(pl.col("kind") == "deployment_shipped").get_column("subject_id")
    assert stated.n_unique() == stated.len()  # each deployment ships on one day
    assert set(stated) == truth


def _working_seconds(t: datetime) -> float:
    monday = datetime(1970, 1, 5, tzinfo=UTC)
    seconds = (t - monday).total_seconds()
    weeks, rest = divmod(seconds, 7 * 86400)
    return weeks * 5 * 86400 + min(rest, 5 * 86400)


def test_pr_waiting_for_review_matches_the_worlds_pull_requests_on_a_late_day(stored, full_run):
    day = (full_run.world.end - timedelta(days=3)).date()
    as_of = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)

    def ts(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    # Abandoned (no opening, push or commit for stale_days) is not waiting; a pull request last
    # active within a day of that boundary may fall either side (commit vs push times).
    stale = timedelta(days=st.StatementSettings().stale_days)
    last_active = {
        (p.repo, p.number): max(
            [p.created_at] + [c.committed_at for push in p.pushes for c in push.commits]
        )
        for p in full_run.world.timeline.pulls
    }
    truth, unsure = set(), set()
    for p in full_run.world.ground_truth()["pull_requests"]:
        opened, ended = ts(p["created_at"]), ts(p["merged_at"]) or ts(p["closed_at"])
        review = ts(p["first_review_at"])
        if opened >= as_of or (ended is not None and ended < as_of):
            continue
        if review is not None and review < as_of:
            continue
        subject = f"{p['repo']}{'!' if p['host'] == 'gitlab' else '#'}{p['number']}"
        idle = as_of - last_active[(p["repo"], p["number"])]
        if abs(idle - stale) <= timedelta(days=1):
            unsure.add(subject)
        elif idle < stale and _working_seconds(as_of) - _working_seconds(opened) >= 24 * 3600:
            truth.add(subject)
    stated = set(
        stored.filter(
            (pl.col("kind") == "pr_waiting_for_review") & (pl.col("as_of_date") == day)
        ).get_column("subject_id")
    )
    assert truth, "the demo should have pull requests waiting on its last days"
    assert stated - unsure == truth


def test_every_statement_cites_events_in_signals_and_a_url(full_run, stored):
    start, end = _days(full_run)
    with warehouse.connect(Paths(home=full_run.home).duckdb, read_only=True) as con:
        problems = st.evidence_problems(con, start, end)
    assert problems.is_empty(), problems.head(5)
    assert stored.height > 1000


def test_statement_evidence_check_fails_on_a_statement_citing_an_unknown_event(
    full_run, stored, tmp_path
):
    copy = tmp_path / "flowsync.duckdb"
    shutil.copy(Paths(home=full_run.home).duckdb, copy)
    start, end = _days(full_run)
    broken = stored.head(1).with_columns(
        pl.lit("0" * 32).alias("statement_id"),
        pl.lit(["github:pull_request:nowhere#1:opened:2026-09-01T00:00:00Z"]).alias("evidence"),
    )
    with warehouse.connect(copy) as con:
        warehouse.insert_rows(con, "statements", broken)
        result = evidence_check(st.evidence_problems(con, start, end))
    assert result.passed is False
    assert result.check_name == EVIDENCE_CHECK
    assert result.metadata["failing"].value == 1


def test_statements_never_name_a_person(full_run, stored):
    names = set()
    for person in full_run.world.people:
        names.add(person.name.lower())
        names.update(e.lower() for e in person.emails)
        names.update(
            h.lower() for h in person.accounts.values() if h and len(h) > 3 and "[bot]" not in h
        )
    text = "\n".join(
        stored.select(pl.concat_str("text", "params", separator="\n")).to_series()
    ).lower()
    assert not {n for n in names if n in text}


def test_medium_and_low_statements_carry_their_hedge(stored):
    hedged = {"medium": "likely", "low": "possibly"}
    for row in stored.filter(pl.col("band") != "high").iter_rows(named=True):
        assert hedged[row["band"]] in row["text"], row["text"]
    assert stored.filter(pl.col("band") == "low").height > 0
    high = stored.filter(pl.col("band") == "high").get_column("text")
    assert not high.str.contains(r"\b(likely|possibly)\b").any()


def test_bands_follow_the_thresholds_of_the_graph_spec(stored):
    wrong = stored.filter(
        ((pl.col("confidence") >= HIGH) & (pl.col("band") != "high"))
        | (
            pl.col("confidence").is_between(MEDIUM, HIGH, closed="left")
            & (pl.col("band") != "medium")
        )
        | ((pl.col("confidence") < MEDIUM) & (pl.col("band") != "low"))
    )
    assert wrong.is_empty()
    facts = {k.name for k in st.KINDS if k.category == "fact"}
    assert stored.filter(pl.col("kind").is_in(facts)).get_column("confidence").min() == 1.0


def test_rerunning_a_window_leaves_statements_identical(full_run, stored, tmp_path):
    copy = tmp_path / "flowsync.duckdb"
    shutil.copy(Paths(home=full_run.home).duckdb, copy)
    _materialise(copy, "2026-09-20", "2026-09-26", landing=Paths(home=full_run.home).landing)
    start, end = _days(full_run)
    with warehouse.connect(copy, read_only=True) as con:
        again = st.read(con, start, end)
    assert again.equals(stored)


def test_the_engineering_manager_digest_lists_new_statements_first(full_run, stored):
    world = full_run.world
    day = (world.end - timedelta(days=2)).date()
    team = world.teams[0]
    markdown = (
        Paths(home=full_run.home).outbox / day.isoformat() / f"{team.key}.engineering_manager.md"
    ).read_text()
    today = stored.filter((pl.col("team") == team.key) & (pl.col("as_of_date") == day))
    new = set(today.filter(pl.col("first_stated_on") == day).get_column("text"))
    assert new
    sections = markdown.split("\n## ")
    assert sections[1].startswith("New since the previous digest")
    listed = [
        line.strip()[2:].split(" · ")[0]
        for line in sections[1].splitlines()
        if line.startswith("  - ") and not line.startswith("  - … and")
    ]
    assert listed and set(listed) <= new
    everywhere = [
        line.strip()[2:].split(" · ")[0]
        for section in sections[1:4]
        for line in section.splitlines()
        if line.startswith("  - ") and not line.startswith("  - … and")
    ]
    assert len(everywhere) == len(set(everywhere))


def test_pr_will_stall_statements_do_not_move_when_later_days_change(full_run, stored, tmp_path):
    copy = tmp_path / "flowsync.duckdb"
    shutil.copy(Paths(home=full_run.home).duckdb, copy)
    start, cut = full_run.world.start.date(), date(2026, 10, 10)
    with warehouse.connect(copy) as con:
        # The future is rewritten: everything after the cut disappears, and every pull
        # request still open at the cut is merged a minute after it.
        con.execute("DELETE FROM signals WHERE occurred_at >= $cut", {"cut": cut})
        con.execute(
            "INSERT INTO signals SELECT * REPLACE ('merged' AS action, "
            "CAST($cut AS TIMESTAMPTZ) + INTERVAL 1 MINUTE AS occurred_at, "
            "event_id || ':rewritten' AS event_id) FROM signals "
            "WHERE entity_type = 'pull_request' AND action = 'opened' AND entity_id NOT IN "
            "(SELECT entity_id FROM signals WHERE entity_type = 'pull_request' "
            "AND action IN ('merged', 'closed'))",
            {"cut": cut},
        )
        again = st.derive(con, start, cut + timedelta(days=5))
    before = stored.filter((pl.col("kind") == "pr_will_stall") & (pl.col("as_of_date") < cut))
    after = again.filter((pl.col("kind") == "pr_will_stall") & (pl.col("as_of_date") < cut))
    assert before.height > 20
    same = [
        "statement_id",
        *(c for c in st.COLUMNS if c not in ("statement_id", "first_stated_on")),
    ]
    assert after.select(same).sort("statement_id").equals(before.select(same).sort("statement_id"))
    moved = again.filter((pl.col("kind") == "pr_will_stall") & (pl.col("as_of_date") > cut))
    assert (
        moved.height
        < stored.filter(
            (pl.col("kind") == "pr_will_stall")
            & pl.col("as_of_date").is_between(cut + timedelta(days=1), cut + timedelta(days=4))
        ).height
    )  # the rewritten future does change what is said after the cut


def test_pr_will_stall_says_which_model_and_version_it_used(stored):
    stall = stored.filter(pl.col("kind") == "pr_will_stall")
    assert set(stall.get_column("model")) == {"sklearn:gbt_calibrated"}
    versions = stall.group_by("model_version").agg(pl.col("as_of_date").min()).height
    assert 2 <= versions <= 10  # refitted weekly, not per run


# --- the model store: fitted once, loaded by version -----------------------------------------

REFIT_MONDAY = date(2026, 10, 26)  # a refit Monday of every kind in the middle of the demo


@pytest.fixture
def unstored(full_run: Deployment, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A copy of the demo warehouse with no stored model."""
    copy = tmp_path / "flowsync.duckdb"
    shutil.copy(Paths(home=full_run.home).duckdb, copy)
    with warehouse.connect(copy) as con:
        con.execute("DELETE FROM statement_models")
        yield con


def _day(con: duckdb.DuckDBPyConnection, day: date) -> tuple[pl.DataFrame, st.ModelStore]:
    store = st.ModelStore(con)
    return st.derive(con, day, day + timedelta(days=1), models=store), store


def _predicted(frame: pl.DataFrame) -> pl.DataFrame:
    kinds = [k.name for k in st.KINDS if k.category == "predicted"]
    return frame.filter(pl.col("kind").is_in(kinds))


def test_a_rerun_loads_every_model_and_states_what_the_fitted_ones_did(unstored):
    first, fitting = _day(unstored, REFIT_MONDAY)
    assert not fitting.loaded
    assert {s.split(":")[0] for s in fitting.fitted} == {
        "pr_will_stall", "sprint_at_risk", "epic_at_risk", "incident_slow_to_restore",
    }  # fmt: skip
    again, loading = _day(unstored, REFIT_MONDAY)
    assert loading.fitted == [] and loading.refitted == []
    assert sorted(loading.loaded) == sorted(fitting.fitted)
    assert _predicted(first).height > 0
    assert again.equals(first)  # loaded models say exactly what the freshly fitted ones said


def test_a_later_day_with_the_same_training_window_fits_nothing(unstored):
    _, fitting = _day(unstored, REFIT_MONDAY)
    later, loading = _day(unstored, REFIT_MONDAY + timedelta(days=2))
    assert loading.fitted == [] and sorted(loading.loaded) == sorted(fitting.fitted)
    assert set(_predicted(later).get_column("model_version")) <= {
        s.split(":")[1] for s in fitting.fitted
    }


def test_a_new_outcome_settled_before_the_refit_day_is_a_new_version_and_a_fit(unstored):
    assert refit_monday(REFIT_MONDAY, st.StallSettings().refit_weeks) == REFIT_MONDAY
    first, fitting = _day(unstored, REFIT_MONDAY)
    # A pull request opened two weeks before the refit day and merged the next day.
    opened = datetime.combine(REFIT_MONDAY - timedelta(days=14), datetime.min.time(), UTC)
    for action, at in (("opened", opened), ("merged", opened + timedelta(days=1))):
        unstored.execute(
            "INSERT INTO signals SELECT * REPLACE ($action AS action, "
            "CAST($at AS TIMESTAMPTZ) AS occurred_at, pr_number + 100000 AS pr_number, "
            "entity_id || '00000' AS entity_id, event_id || ':late-' || $action AS event_id) "
            "FROM signals WHERE event_id = (SELECT min(event_id) FROM signals "
            "WHERE entity_type = 'pull_request' AND action = 'opened')",
            {"action": action, "at": at},
        )
    again, refitting = _day(unstored, REFIT_MONDAY)
    stall = [s for s in refitting.fitted if s.startswith("pr_will_stall:")]
    assert stall and not set(stall) & set(fitting.fitted)
    before = set(first.filter(pl.col("kind") == "pr_will_stall").get_column("model_version"))
    after = set(again.filter(pl.col("kind") == "pr_will_stall").get_column("model_version"))
    assert after and after.isdisjoint(before)


def test_a_corrupted_stored_model_is_refitted_and_said(unstored):
    first, _ = _day(unstored, REFIT_MONDAY)
    unstored.execute(
        "UPDATE statement_models SET model = model || CAST('x' AS BLOB) "
        "WHERE kind = 'pr_will_stall'"
    )
    again, store = _day(unstored, REFIT_MONDAY)
    assert store.refitted and all("SHA-256" in why for why in store.refitted)
    assert {why.split(":")[0] for why in store.refitted} == {"pr_will_stall"}
    assert again.equals(first)
    _, after = _day(unstored, REFIT_MONDAY)  # the refit replaced the corrupted blob
    assert after.refitted == [] and after.fitted == []


def test_statement_calibration_fails_on_a_deliberately_miscalibrated_model(full_run, tmp_path):
    # A logistic regression with stalls weighted 20 times and no calibration: every
    # probability is pushed up, the textbook way to ship a model whose 0.7 means 0.3.
    copy = tmp_path / "flowsync.duckdb"
    shutil.copy(Paths(home=full_run.home).duckdb, copy)
    start, end = _days(full_run)
    with warehouse.connect(copy) as con:
        _, good = st.derive_with_calibration(con, start, end)
        _, bad = st.derive_with_calibration(
            con,
            start,
            end,
            stall=st.StallSettings(learner="logistic", calibration="none", stall_weight=20.0),
        )
    good_report = next(r for r in good if r.kind == "pr_will_stall")
    bad_report = next(r for r in bad if r.kind == "pr_will_stall")
    assert good_report.kind == bad_report.kind == "pr_will_stall"
    assert good_report.rows == bad_report.rows > 200  # the same out-of-time window
    assert bad_report.ece > 2 * good_report.ece
    result = calibration_check([bad_report])
    assert result.check_name == CALIBRATION_CHECK
    assert result.passed is False
    assert result.severity == dg.AssetCheckSeverity.ERROR
    assert "pr_will_stall" in result.description
    assert calibration_check([good_report]).passed is True


def test_statement_calibration_report_uses_only_outcomes_settled_after_its_model(full_run):
    start, end = _days(full_run)
    with warehouse.connect(Paths(home=full_run.home).duckdb) as con:
        _, reports = st.derive_with_calibration(con, start, end)
    report = next(r for r in reports if r.kind == "pr_will_stall")
    assert report.window[1] == end and report.window[0].weekday() == 0  # a refit Monday
    assert report.model.startswith("gradient_boosting+") and len(report.model_version) == 12
    assert sum(b["rows"] for b in report.reliability) == report.rows
    assert len(report.reliability) == 10
    assert report.outcomes < report.rows  # a pull request's daily snapshots share its outcome
    assert 0.7 <= report.auc <= 1.0
    assert 0.0 < report.positive_rate < 1.0


def test_the_statements_materialisation_carries_calibration_and_its_check(full_run, tmp_path):
    copy = tmp_path / "flowsync.duckdb"
    shutil.copy(Paths(home=full_run.home).duckdb, copy)
    landing = Paths(home=full_run.home).landing
    result = _materialise(copy, "2026-10-20", "2026-10-26", landing=landing)
    mats = result.get_asset_materialization_events()
    assert len(mats) == 7  # one per partition of the single run, all with its figures
    metadata = mats[-1].materialization.metadata
    figures = metadata["calibration/pr_will_stall"].value
    assert {"rows", "positive_rate", "auc", "brier", "ece", "window"} <= set(figures)
    assert figures["window"][1] == "2026-10-27"
    assert metadata["reliability/pr_will_stall"].value.count("\n| 0.") == 10
    # The full run fitted and stored every model this window uses: all loaded, none fitted.
    assert metadata["models_fitted"].value == 0
    assert metadata["models_loaded"].value >= 3
    (evaluation,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == CALIBRATION_CHECK
    ]
    assert evaluation.metadata["status"].value in ("pass", "warn")


def _draws(n: int, shift: float, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes drawn from true probabilities; the model states them shifted by ``shift``."""
    rng = np.random.default_rng(seed)
    true = rng.beta(1.2, 3.0, n)
    outcomes = (rng.random(n) < true).astype(float)
    return np.clip(true + shift, 0.0, 1.0), outcomes


@pytest.mark.parametrize(
    ("n", "shift", "status"),
    [(20_000, 0.0, "pass"), (20_000, 0.08, "fail"), (120, 0.0, "warn"), (120, 0.35, "fail")],
)
def test_calibration_verdict_passes_fails_or_warns_by_ece_and_window_size(n, shift, status):
    p, y = _draws(n, shift)
    report = st.calibration_report("k", p, y, (date(2026, 9, 1), date(2026, 9, 29)), "v", "m")
    assert st.verdict([report]).status == status
    check = calibration_check([report])
    assert check.passed is (status != "fail")
    expected = dg.AssetCheckSeverity.ERROR if status == "fail" else dg.AssetCheckSeverity.WARN
    assert check.severity == expected


def test_calibration_report_figures_match_their_definitions():
    p = np.array([0.05, 0.15, 0.15, 0.95, 0.95, 0.95, 0.55, 0.55])
    y = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    report = st.calibration_report("k", p, y, (date(2026, 9, 1), date(2026, 9, 2)), "v", "m")
    assert report.rows == 8 and report.positive_rate == 0.5
    assert report.brier == round(float(((p - y) ** 2).mean()), 4)
    # positives ranked against negatives: (0.15 vs 0.05, 0.15; 0.95 x3; 0.55) ties count half
    pairs = [(a, b) for a in p[y == 1] for b in p[y == 0]]
    auc = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)
    assert report.auc == round(auc, 4)
    by_bin = {b["lower"]: b for b in report.reliability}
    assert by_bin[0.9]["rows"] == 3 and by_bin[0.9]["share_true"] == round(2 / 3, 4)
    gap = (1 * 0.05 + 2 * 0.35 + 3 * abs(0.95 - 2 / 3) + 2 * 0.05) / 8
    assert report.ece == round(gap, 4)


# --- rules on hand-built events --------------------------------------------------------------


@contextmanager
def _warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        warehouse.run_sql(con, "graph_schema")
        yield con


def _event(
    con: duckdb.DuckDBPyConnection,
    entity_type: str,
    entity_id: str,
    action: str,
    at: str,
    *,
    actor: str | None = "p_author",
    actor_kind: str = "human",
    pr_number: int | None = None,
) -> None:
    con.execute(
        "INSERT INTO signals (event_id, source, entity_type, entity_id, action, occurred_at, "
        "observed_at, hlc, actor, actor_kind, repository, pr_number, url, landing_ref) "
        "VALUES ($id, 'github', $type, $entity, $action, $at, $at, 0, $actor, $kind, "
        "'acme/api', $pr, 'https://github.com/acme/api/pull/' || $pr, 'ref')",
        {
            "id": f"github:{entity_type}:{entity_id}:{action}:{at}",
            "type": entity_type,
            "entity": entity_id,
            "action": action,
            "at": at,
            "actor": actor,
            "kind": actor_kind,
            "pr": pr_number,
        },
    )


def _kind(con: duckdb.DuckDBPyConnection, kind: str, first: date, last: date) -> pl.DataFrame:
    frame = st.derive(con, first, last + timedelta(days=1))
    return frame.filter(pl.col("kind") == kind).sort("as_of_date")


def test_a_pull_request_waits_for_review_after_24_working_hours_weekends_excluded(tmp_path):
    with _warehouse(tmp_path) as con:
        # Friday 2026-09-04 09:00 UTC: 15 working hours by Friday's end, 39 by Monday's.
        _event(con, "pull_request", "acme/api#1", "opened", "2026-09-04T09:00:00Z", pr_number=1)
        stated = _kind(con, "pr_waiting_for_review", date(2026, 9, 4), date(2026, 9, 7))
    assert stated.get_column("as_of_date").to_list() == [date(2026, 9, 7)]
    assert "39.0 working hours" in stated.get_column("text")[0]
    assert stated.get_column("first_stated_on").to_list() == [date(2026, 9, 7)]


def test_a_review_by_someone_else_ends_the_wait_and_a_self_review_does_not(tmp_path):
    with _warehouse(tmp_path) as con:
        for n in (1, 2):
            _event(
                con, "pull_request", f"acme/api#{n}", "opened", "2026-09-01T09:00:00Z", pr_number=n
            )
            _event(
                con, "pull_request", f"acme/api#{n}", "merged", "2026-09-03T12:00:00Z", pr_number=n
            )
        _event(con, "review", "acme/api#1/reviews/1", "reviewed", "2026-09-02T10:00:00Z",
               actor="p_reviewer", pr_number=1)  # fmt: skip
        _event(con, "review", "acme/api#2/reviews/2", "reviewed", "2026-09-02T10:00:00Z",
               actor="p_author", pr_number=2)  # fmt: skip
        merged = _kind(con, "pr_merged_without_review", date(2026, 9, 1), date(2026, 9, 3))
        waiting = _kind(con, "pr_waiting_for_review", date(2026, 9, 1), date(2026, 9, 3))
    assert merged.get_column("subject_id").to_list() == ["acme/api#2"]
    assert waiting.get_column("subject_id").to_list() == ["acme/api#2"]  # 2 Sept, 24 h, no review


def test_statements_after_the_window_keep_the_day_they_were_first_stated(tmp_path):
    with _warehouse(tmp_path) as con:
        _event(con, "pull_request", "acme/api#1", "opened", "2026-09-01T09:00:00Z", pr_number=1)
        late = st.derive(con, date(2026, 9, 3), date(2026, 9, 5))
        st.write(con, late, date(2026, 9, 3), date(2026, 9, 5))
        early = st.derive(con, date(2026, 9, 1), date(2026, 9, 3))
        st.write(con, early, date(2026, 9, 1), date(2026, 9, 3))
        rows = st.read(con, date(2026, 9, 1), date(2026, 9, 5))
    assert rows.get_column("as_of_date").to_list() == [
        date(2026, 9, 2),
        date(2026, 9, 3),
        date(2026, 9, 4),
    ]
    assert set(rows.get_column("first_stated_on")) == {date(2026, 9, 2)}
    assert rows.get_column("statement_id").n_unique() == 3


@pytest.mark.parametrize(
    "kind", [k for k in st.KINDS if k.category != "fact"], ids=lambda k: k.name
)
@pytest.mark.parametrize(("band", "hedge"), [("medium", "likely"), ("low", "possibly")])
def test_an_inferred_sentence_below_high_says_its_hedge(kind, band, hedge):
    params = {
        "idle_days": 4,
        "reason": "idle",
        "horizon_days": 5,
        "ends_on": "2026-09-30",
        "not_done": 3,
        "scope": 9,
        "restore_hours": 24.0,
        "first_seen_at": "2026-09-02T10:00:00Z",
    }
    text = st.render(kind, band, "PAY-1", "acme/api/deployments/7", params)
    assert f" {hedge} " in text
    assert hedge not in st.render(kind, "high", "PAY-1", "acme/api/deployments/7", params)


def test_statement_ids_are_deterministic_and_differ_by_day_and_object():
    a = st.statement_id("ticket_shipped", "PAY-1", "d/1", date(2026, 9, 1))
    assert a == st.statement_id("ticket_shipped", "PAY-1", "d/1", date(2026, 9, 1))
    assert a != st.statement_id("ticket_shipped", "PAY-1", "d/2", date(2026, 9, 1))
    assert a != st.statement_id("ticket_shipped", "PAY-1", "d/1", date(2026, 9, 2))


# --- the engineering manager's digest --------------------------------------------------------


def _claims(rows: list[tuple[str, str, float, str]]) -> pl.DataFrame:
    """(kind, subject, confidence, first stated on) rows as the statements table holds them."""
    day = date(2026, 9, 10)
    out = []
    for kind_name, subject, confidence, first in rows:
        kind = st.KINDS_BY_NAME[kind_name]
        band = "high" if confidence >= HIGH else "medium" if confidence >= MEDIUM else "low"
        out.append(
            {
                "statement_id": st.statement_id(kind_name, subject, None, day),
                "as_of_date": day,
                "kind": kind_name,
                "subject_id": subject,
                "object_id": None,
                "text": st.render(kind, band, subject, None, {"working_hours": 30, "idle_days": 4}),
                "confidence": confidence,
                "band": band,
                "audience": list(kind.audience),
                "evidence": [f"e:{subject}"],
                "citations": [f"https://example.test/{subject}"],
                "first_stated_on": date.fromisoformat(first),
            }
        )
    return pl.DataFrame(out)


def test_digest_sections_are_new_then_risks_then_facts_each_statement_once():
    claims = _claims(
        [
            ("pr_waiting_for_review", "acme/api#1", 1.0, "2026-09-10"),
            ("pr_waiting_for_review", "acme/api#2", 1.0, "2026-09-08"),
            ("work_without_ticket", "acme/api#3", 0.7, "2026-09-09"),
            ("work_without_ticket", "acme/api#4", 0.3, "2026-09-09"),
        ]
    )
    sections = em_sections(claims)
    assert [s.title for s in sections] == ["New since the previous digest", "Risks", "Facts"]
    listed = [line.text for s in sections for g in s.groups for line in g.lines]
    assert len(listed) == len(set(listed)) == 3  # the Low one is not shown by default
    assert sections[1].groups[0].lines[0].text == "acme/api#3 was likely merged without a ticket."
    with_low = em_sections(claims, min_band="low")
    assert any("possibly" in line.text for s in with_low for g in s.groups for line in g.lines)


def test_a_long_list_is_cut_with_and_n_more():
    claims = _claims(
        [("pr_waiting_for_review", f"acme/api#{n}", 1.0, "2026-09-01") for n in range(1, 13)]
    )
    digest = Digest("api", "API", "engineering_manager", date(2026, 9, 10), [], em_sections(claims))
    markdown = render_markdown(digest)
    assert "… and 7 more" in markdown
    assert markdown.count("has waited 30 working hours") == 5


def test_a_rendered_digest_never_shows_a_medium_or_low_line_without_its_hedge():
    claims = _claims(
        [
            ("ticket_shipped", "PAY-1", 0.7, "2026-09-10"),
            ("incident_caused_by_deployment", "sentry:api/1", 0.4, "2026-09-10"),
            ("ticket_blocked", "PAY-2", 0.65, "2026-09-01"),
        ]
    )
    markdown = render_markdown(
        Digest(
            "api",
            "API",
            "engineering_manager",
            date(2026, 9, 10),
            [],
            em_sections(claims, min_band="low"),
        )
    )
    lines = [line for line in markdown.splitlines() if "· Medium" in line or "· Low" in line]
    assert len(lines) == 3
    for line in lines:
        assert ("likely" in line) if "· Medium" in line else ("possibly" in line)
