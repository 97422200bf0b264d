"""A held-out month received through webhooks only: links and identities still hold.

One team (payments) of an organisation whose conventions were held out of training
(``simulator.conventions.HELD_OUT``, a seed no labelled set came from) is configured with
GitHub, Jira and Sentry as ``receive: webhooks`` sources — no URL, no token, no members in
``flowsync.yaml``. Its month of signed deliveries is replayed in the order it happened through a
real gateway process, the webhook sensor is ticked against a real Dagster instance and the run it
asks for (``webhook_ingestion`` over the month) is executed; then the context graph is built from
the warehouse with the shipped link models and compared with the world's ground truth
(``tools/link_labels.py``), and the identities the ``identities`` asset saved with
:func:`~flowsync_pipelines.identity.evaluate.evaluate_identities`.
"""

from __future__ import annotations

import time
from collections import Counter
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

from flowsync_pipelines.bands import HIGH, MEDIUM
from flowsync_pipelines.definitions import build_definitions
from flowsync_pipelines.graph.calibrate import fitted_models
from flowsync_pipelines.graph.linking import ContextGraph
from flowsync_pipelines.graph.spec import LINK_TYPES
from flowsync_pipelines.identity.evaluate import evaluate_identities
from flowsync_pipelines.identity.store import identity_links
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.partitions import range_tags
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.simulator import World, build_world
from flowsync_pipelines.simulator.conventions import HELD_OUT
from flowsync_pipelines.simulator.render_webhooks import Delivery, deliveries
from flowsync_pipelines.webhooks.harness import GatewayProcess
from flowsync_pipelines.webhooks.queue import DeliveryQueue
from flowsync_pipelines.webhooks.replay import ReplayReport, replay
from flowsync_pipelines.webhooks.sensor import WEBHOOK_JOB
from tests.conftest import PSEUDONYM_KEY
from tests.test_graph import link_labels_tool

# Not a seed of any labelled set (training 101-116, 11, 13; held out 201, 202; test_link_transfer
# 301). Chosen from the world alone (before any run) for its payments month having enough
# incidents both caused (4 since reviews wait on reviewer load) and not caused by a deployment;
# most seeds give one team 0-3.
SEED = 348
DAYS = 30
TEAM = "payments"
ROUTES = ("github", "jira", "sentry")
SECRETS = {route: f"month-{route}-hook-secret-0123456789" for route in ROUTES}
SECRET_ENVS = {route: f"FLOWSYNC_TEST_MONTH_{route.upper()}_SECRET" for route in ROUTES}
# How far before the month's last delivery the "past day" delivery is about.
PAST_BY = timedelta(days=7)

HIGH_BAND_PRECISION = 0.95
PR_TICKET_RECALL_HIGH = 0.85
PR_TICKET_RECALL_MEDIUM = 0.90
INCIDENT_RECALL_MEDIUM = 0.80
IDENTITY_PRECISION = 0.98
IDENTITY_RECALL = 0.95

pl.Config.set_tbl_rows(60)
pl.Config.set_tbl_width_chars(160)
pl.Config.set_fmt_str_lengths(80)


@dataclass
class Month:
    """The replayed month and everything read back from its FlowSync home."""

    world: World
    home: Path
    sent: list[Delivery]
    replayed: ReplayReport
    run_range: tuple[str, str]
    drained: dict[str, Any]
    queue_states: dict[str, int]
    pending_kinds: dict[str, int]  # delivery kind -> deliveries left pending
    materialized: set[str]
    graph: ContextGraph
    truth: Any  # tools/link_labels.py Truth
    identities: pl.DataFrame
    seconds: dict[str, float]


def webhook_only_config(path: Path, world: World) -> Path:
    """GitHub, Jira and Sentry as webhook-only sources; the payments team with no members."""
    team = next(t for t in world.teams if t.key == TEAM)
    config = {
        "organisation": "acme",
        "start_date": world.start.date().isoformat(),
        "sources": [
            {
                "name": route,
                "type": route,
                "receive": "webhooks",
                "webhook_secret_env": SECRET_ENVS[route],
            }
            for route in ROUTES
        ],
        "teams": [
            {
                "key": team.key,
                "name": team.name,
                "timezone": team.tz,
                "repos": list(team.repos),
                "jira_components": [team.jira_component],
            }
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def saved_identity_links(metadata_url: str) -> pl.DataFrame:
    """What the ``identities`` asset saved in the metadata store."""
    engine = sa.create_engine(metadata_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    identity_links.c.pseudonym,
                    identity_links.c.source,
                    identity_links.c.person,
                    identity_links.c.confidence,
                    identity_links.c.method,
                )
            ).all()
    finally:
        engine.dispose()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={
            "pseudonym": pl.String,
            "source": pl.String,
            "person": pl.String,
            "confidence": pl.Float64,
            "method": pl.String,
        },
        orient="row",
    )


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Month]:
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    world = build_world(SEED, days=DAYS, conventions=HELD_OUT)
    sent = deliveries(world, sources=ROUTES, teams=[TEAM])
    home = tmp_path_factory.mktemp("webhook-only-month") / "home"
    home.mkdir()
    config_file = webhook_only_config(home / "flowsync.yaml", world)
    metadata_url = f"sqlite:///{home}/metadata.sqlite"
    env = {SECRET_ENVS[route]: secret for route, secret in SECRETS.items()}
    with pytest.MonkeyPatch.context() as mp, dg.instance_for_test() as instance:
        for name, value in env.items():
            mp.setenv(name, value)
        mp.delenv("NEO4J_URI", raising=False)
        # The run's metadata store and pseudonym key are this test's (whatever another test,
        # e.g. one running the demo, left in the environment).
        mp.setenv("FLOWSYNC_METADATA_URL", metadata_url)
        mp.setenv("FLOWSYNC_PSEUDONYM_KEY", PSEUDONYM_KEY)
        with GatewayProcess(
            home=home, config_file=config_file, metadata_url=metadata_url, env=env
        ) as gateway:
            replayed = replay(sent, gateway.url, SECRETS)
        seconds["replay"] = time.perf_counter() - clock

        clock = time.perf_counter()
        # The whole month as one run of the job the webhook sensor requests (its webhook_landing
        # drains every queued delivery about the month's days).
        first = world.start.date().isoformat()
        last = (world.end - timedelta(days=1)).date().isoformat()
        job = build_definitions(home=home, config_file=config_file).resolve_job_def(WEBHOOK_JOB)
        result = job.execute_in_process(instance=instance, tags=range_tags(first, last))
        assert result.success
        drained = result.asset_materializations_for_node("webhook_landing")[0].metadata
        materialized = set(instance.get_materialized_partitions(dg.AssetKey("signals")))
        seconds["pipeline"] = time.perf_counter() - clock
    queue = DeliveryQueue(metadata_url)
    try:
        queue_states = queue.count_by_state()
        pending = {d.delivery_id for d in queue.pending(after_id=0, limit=len(sent))}
    finally:
        queue.dispose()
    pending_kinds = dict(Counter(d.kind for d in sent if d.delivery_id in pending))

    clock = time.perf_counter()
    tool = link_labels_tool()
    graph, truth = tool.graph_and_truth(home, PSEUDONYM_KEY, world, fitted_models(LINK_TYPES))
    seconds["graph_and_truth"] = time.perf_counter() - clock
    print(f"\n[webhook-only month] {len(sent)} deliveries; seconds {seconds}")
    yield Month(
        world=world,
        home=home,
        sent=sent,
        replayed=replayed,
        run_range=(first, last),
        drained={k: v.value for k, v in drained.items()},
        queue_states=queue_states,
        pending_kinds=pending_kinds,
        materialized=materialized,
        graph=graph,
        truth=truth,
        identities=saved_identity_links(metadata_url),
        seconds=seconds,
    )


def _recall_at_or_above(report: pl.DataFrame, band: str) -> float:
    return float(report.filter(pl.col("band") == band)["recall_at_or_above"][0] or 0.0)


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


# -- the month arrives through the gateway and lands in one run over its days ------------------
def test_every_delivery_of_the_month_lands_in_the_one_run_over_its_days(month: Month) -> None:
    assert month.replayed.sent == len(month.sent)
    assert dict(month.replayed.outcomes) == {"stored": len(month.sent)}, month.replayed.as_dict()
    # Sentry's issue resolved/ignored deliveries carry no time of their own: they are dated
    # when received (today), as documented, and wait for today's run; everything else lands.
    undated = {"issue.resolved", "issue.ignored"}
    pending = sum(month.pending_kinds.values())
    assert set(month.pending_kinds) <= undated, (
        f"still pending after the month's run, by kind: {month.pending_kinds}"
    )
    assert month.queue_states.get("landed", 0) + pending == len(month.sent)
    assert month.drained["deliveries_drained"] + pending == len(month.sent)
    assert month.drained["deliveries_quarantined"] == 0
    first, last = (date.fromisoformat(day) for day in month.run_range)
    every_day = {(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)}
    assert len(every_day) == DAYS
    assert every_day <= month.materialized


def test_a_delivery_about_a_past_day_lands_in_that_days_partition(month: Month) -> None:
    last = month.sent[-1].delivered_at
    delivery = next(
        d
        for d in month.sent
        if d.kind == "pull_request.opened" and d.delivered_at <= last - PAST_BY
    )
    day = _day(delivery.delivered_at)
    pull = delivery.payload["pull_request"]
    landed = (
        LandingStore(month.home / "landing")
        .scan()
        .filter(pl.col("request") == f"delivery:{delivery.delivery_id}")
        .collect()
    )
    assert landed.height >= 1, f"nothing landed for delivery {delivery.delivery_id}"
    assert {_day(at) for at in landed["updated_at"]} == {day}
    # Received after the month had ended, weeks after the day it is about.
    assert all(at >= month.world.end for at in landed["fetched_at"])
    assert day in month.materialized

    # Its event counts on its own day (the signal comes from the pull request's newest version).
    repo = delivery.payload["repository"]["full_name"]
    with duckdb.connect(str(month.home / "flowsync.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT strftime(occurred_at AT TIME ZONE 'UTC', '%Y-%m-%d') FROM signals "
            "WHERE entity_id = $entity AND action = 'opened'",
            {"entity": f"{repo}#{pull['number']}"},
        ).fetchall()
    assert rows == [(day,)]


# -- links -------------------------------------------------------------------------------------
def test_pull_requests_find_their_tickets_from_webhooks_alone(month: Month) -> None:
    truth, graph = month.truth, month.graph
    report = truth.report(graph, "pr_ticket")
    predicted = truth.predicted(graph, "pr_ticket")
    high = predicted.filter(pl.col("confidence") >= HIGH)
    precision = float(high["real"].mean() or 0.0) if high.height else 0.0
    found = predicted.filter(pl.col("real")).select("src", "dst", "confidence", "method")
    missed = truth.links["pr_ticket"].join(found, on=["src", "dst"], how="anti")
    print(
        f"\n[pr_ticket] truth links {truth.links['pr_ticket'].height}; High precision "
        f"{precision:.3f} over {high.height}\n{report}\nfound:\n{found.sort('confidence')}\n"
        f"missed:\n{missed}\nwrong:\n{predicted.filter(~pl.col('real'))}"
    )
    assert truth.links["pr_ticket"].height >= 20, "the month needs ticketed pull requests"
    assert high.height and precision >= HIGH_BAND_PRECISION
    assert _recall_at_or_above(report, "high") >= PR_TICKET_RECALL_HIGH
    assert _recall_at_or_above(report, "medium") >= PR_TICKET_RECALL_MEDIUM


def test_incidents_are_traced_to_the_deployment_that_caused_them(month: Month) -> None:
    truth, graph = month.truth, month.graph
    report = truth.report(graph, "incident_deployment")
    predicted = truth.predicted(graph, "incident_deployment")
    print(
        f"\n[incident_deployment] truth\n{truth.links['incident_deployment']}\n{report}\n"
        f"predicted:\n{predicted.sort('dst', 'confidence')}"
    )
    assert truth.links["incident_deployment"].height >= 4, "the month needs caused incidents"
    assert _recall_at_or_above(report, "medium") >= INCIDENT_RECALL_MEDIUM


def test_an_incident_no_deployment_caused_has_no_confident_cause(month: Month) -> None:
    truth, graph = month.truth, month.graph
    incidents = graph.nodes.filter(pl.col("kind") == "incident")["node_id"].to_list()
    caused = set(truth.links["incident_deployment"]["dst"].to_list())
    uncaused = [node for node in incidents if node not in caused]
    confident = graph.links("incident_deployment").filter(pl.col("confidence") >= MEDIUM)
    wrongly = confident.filter(pl.col("dst").is_in(uncaused))
    print(f"\n[incident_deployment] incidents {len(incidents)}, uncaused {sorted(uncaused)}")
    assert uncaused, "the month needs incidents no deployment caused"
    assert wrongly.is_empty(), wrongly.select("src", "dst", "confidence", "method")


def test_the_high_band_is_95_percent_precise_for_every_other_link_type(month: Month) -> None:
    rows = []
    for link in LINK_TYPES:
        if link.name == "pr_ticket":
            continue
        predicted = month.truth.predicted(month.graph, link.name)
        high = predicted.filter(pl.col("confidence") >= HIGH)
        rows.append(
            {
                "link_type": link.name,
                "truth_links": month.truth.links[link.name].height,
                "predicted": predicted.height,
                "high": high.height,
                "high_precision": float(high["real"].mean()) if high.height else None,
            }
        )
    table = pl.DataFrame(rows)
    print(f"\n[High band by link type]\n{table}")
    with_links = table.filter(pl.col("high") > 0)
    assert with_links.height >= 3, table
    imprecise = with_links.filter(pl.col("high_precision") < HIGH_BAND_PRECISION)
    for name in imprecise["link_type"]:
        wrong = month.truth.predicted(month.graph, name).filter(
            (pl.col("confidence") >= HIGH) & ~pl.col("real")
        )
        print(f"\n[{name}] wrong High links\n{wrong}")
    assert imprecise.is_empty(), imprecise


# -- identities -----------------------------------------------------------------------------------
def test_identities_resolve_with_no_members_configured(month: Month) -> None:
    result = evaluate_identities(month.world, month.identities, key=PSEUDONYM_KEY)
    handles = {
        pseudonym(PSEUDONYM_KEY, tool, handle): f"{person.person_id}:{tool}:{handle}"
        for person in month.world.organisation.people
        for tool, handle in [
            *((t, h) for t, h in person.accounts.items() if h),
            *(("email", e) for e in person.emails),
        ]
    }
    print(
        f"\n[identities] precision={result['precision']:.4f} recall={result['recall']:.4f} "
        f"pairs predicted={result['predicted_pairs']} true={result['true_pairs']} "
        f"correct={result['correct_pairs']} accounts={result['accounts']} "
        f"methods={result['accounts_by_method']}\nfalse pairs: "
        f"{[(handles.get(a), handles.get(b)) for a, b in result['false_pairs']]}\nmissed pairs: "
        f"{[(handles.get(a), handles.get(b)) for a, b in result['missed_pairs']]}"
    )
    assert result["true_pairs"] >= 5, "the month needs people with accounts on several tools"
    assert result["precision"] >= IDENTITY_PRECISION
    assert result["recall"] >= IDENTITY_RECALL
