"""A simulated team's fortnight as signed webhook deliveries, replayed through the real gateway.

The payments team of a small world (seed 3, 14 days) is rendered as the deliveries GitHub, Jira
and Sentry would have sent (``simulator.render_webhooks``), replayed in the order they happened
through ``flowsync webhooks serve`` in a child process (``webhooks.replay``), drained into
landing and normalised. The signals are compared with the world's own timeline, entity id by
entity id, in the ids the polling connectors give the same entities.

What today's normalisers make of ``push`` deliveries (one ``pushed`` event per ref and second)
is asserted through :func:`expected_ref_events` and :func:`commits_in_pushes`; when pushes'
commits become commit events, extend the assertions there.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from flowsync_pipelines.landing import FetchedRecord, LandingStore, landing_frame
from flowsync_pipelines.normalise import NormaliseResult, normalise
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.simulator import World, build_world
from flowsync_pipelines.simulator.model import TicketComment
from flowsync_pipelines.simulator.render_webhooks import Delivery, deliveries
from flowsync_pipelines.webhooks.drain import DrainReport, drain
from flowsync_pipelines.webhooks.harness import GatewayProcess, write_gateway_config
from flowsync_pipelines.webhooks.providers import event_kind
from flowsync_pipelines.webhooks.queue import DeliveryQueue, StoredDelivery
from flowsync_pipelines.webhooks.replay import ReplayError, ReplayReport, replay

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 14
TEAM = "payments"
SECRETS = {
    "github": "replay-github-0123456789abcdef",
    "jira": "replay-jira-0123456789abcdef",
    "sentry": "replay-sentry-0123456789abcdef",
}
PSEUDONYM_KEY = "replay-pseudonym-key"
CORPUS_ENV = "FLOWSYNC_CONFORMANCE_CORPUS"


def secret_env(route: str) -> str:
    return f"FLOWSYNC_TEST_REPLAY_SECRET_{route.upper()}"


@dataclass
class Replayed:
    """Everything one replay produced, read back from the stores."""

    world: World
    deliveries: list[Delivery]
    first: ReplayReport
    again: ReplayReport
    stored: list[StoredDelivery]
    drained: DrainReport
    queue_states: dict[str, int]
    result: NormaliseResult

    @property
    def signals(self) -> pl.DataFrame:
        return self.result.signals


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(3, START, DAYS)


@pytest.fixture(scope="module")
def team_deliveries(world: World) -> list[Delivery]:
    return deliveries(world, teams=[TEAM])


@pytest.fixture(scope="module")
def replayed(
    world: World, team_deliveries: list[Delivery], tmp_path_factory: pytest.TempPathFactory
) -> Replayed:
    home = tmp_path_factory.mktemp("replay")
    config = write_gateway_config(home / "flowsync.yaml", {r: secret_env(r) for r in SECRETS})
    queue_url = f"sqlite:///{home}/metadata.sqlite"
    env = {secret_env(r): secret for r, secret in SECRETS.items()}
    with GatewayProcess(home=home, config_file=config, metadata_url=queue_url, env=env) as gateway:
        first = replay(team_deliveries, gateway.url, SECRETS)
        again = replay(team_deliveries, gateway.url, SECRETS)  # a tool redelivering everything
    queue = DeliveryQueue(queue_url)
    try:
        landing = LandingStore(home / "landing")
        drained = drain(queue, landing)
        stored = [
            row
            for route in SECRETS
            for row in queue.find(route, [d.delivery_id for d in team_deliveries])
        ]
        states = queue.count_by_state()
    finally:
        queue.dispose()
    records = landing.scan().collect()
    result = normalise(records, pseudonym_key=PSEUDONYM_KEY)
    return Replayed(world, team_deliveries, first, again, stored, drained, states, result)


# -- what the world says happened ----------------------------------------------------------------
def team_repos(world: World) -> set[str]:
    return {r.full_name for r in world.organisation.repos if r.team == TEAM and r.host == "github"}


def team_services(world: World) -> set[str]:
    return {r.service for r in world.organisation.repos if r.team == TEAM}


def second(moment: datetime) -> datetime:
    """GitHub's ISO timestamps and push times have whole seconds."""
    return moment.replace(microsecond=0)


def events(signals: pl.DataFrame, entity_type: str) -> set[tuple[str, str, datetime]]:
    rows = signals.filter(pl.col("entity_type") == entity_type)
    return set(rows.select("entity_id", "action", "occurred_at").rows())


def expected_ref_events(world: World) -> dict[tuple[str, datetime], set[str]]:
    """``(repo:ref, push second) → head shas`` of every push to the team's repositories.

    Today a ``push`` delivery becomes one ``pushed`` event of its ref at the repository's
    ``pushed_at`` (whole seconds), so pushes to one ref in one second are one event. Pushes to a
    pull request's branch up to its merge or close, and one push to ``main`` per instant at
    which commits reached it.
    """
    out: dict[tuple[str, datetime], set[str]] = {}
    repos = team_repos(world)
    for pr in world.timeline.pulls:
        if pr.repo not in repos:
            continue
        ends = [t for t in (pr.merged_at, pr.closed_at) if t is not None]
        for push in pr.pushes:
            if ends and push.at > min(ends):
                continue
            key = (f"{pr.repo}:refs/heads/{pr.head_ref}", second(push.at))
            out.setdefault(key, set()).add(push.head_sha)
    for repo in repos:
        landed = [c for c in world.timeline.main_commits.get(repo, []) if c.on_main_at]
        landed.sort(key=lambda c: c.on_main_at or START)
        for at, group in groupby(landed, key=lambda c: c.on_main_at):
            assert at is not None
            key = (f"{repo}:refs/heads/main", second(at))
            out.setdefault(key, set()).add(list(group)[-1].sha)
    return out


def commits_in_pushes(pushes: Iterable[Delivery]) -> dict[str, dict[str, Any]]:
    """Every commit carried by ``push`` deliveries, by sha: repo, author and committer.

    Today these appear only as ``commit_shas`` in the push's ref event; once push commits become
    commit events (with pseudonymous author and committer), assert those against this map.
    """
    out: dict[str, dict[str, Any]] = {}
    for delivery in pushes:
        if delivery.event != "push":
            continue
        repo = delivery.payload["repository"]["full_name"]
        for commit in delivery.payload["commits"]:
            out[commit["id"]] = {
                "repo": repo,
                "author": commit["author"],
                "committer": commit["committer"],
                "distinct": commit["distinct"],
            }
    return out


# -- rendering -----------------------------------------------------------------------------------
def test_deliveries_are_deterministic_in_time_order_with_unique_ids(world, team_deliveries):
    again = deliveries(build_world(3, START, DAYS), teams=[TEAM])
    assert [(d.delivery_id, d.payload) for d in again] == [
        (d.delivery_id, d.payload) for d in team_deliveries
    ]
    times = [d.delivered_at for d in team_deliveries]
    assert times == sorted(times)
    assert len({d.delivery_id for d in team_deliveries}) == len(team_deliveries)
    assert {d.route for d in team_deliveries} == {"github", "jira", "sentry"}
    repos = {d.payload["repository"]["full_name"] for d in team_deliveries if d.route == "github"}
    assert repos == team_repos(world)


def test_a_window_keeps_exactly_the_deliveries_inside_it(world, team_deliveries):
    start, end = datetime(2026, 9, 5, tzinfo=UTC), datetime(2026, 9, 8, tzinfo=UTC)
    windowed = deliveries(world, teams=[TEAM], start=start, end=end)
    assert windowed == [d for d in team_deliveries if start <= d.delivered_at < end]
    assert windowed and len(windowed) < len(team_deliveries)


def test_an_issue_is_created_before_its_first_update_and_a_push_precedes_its_synchronize(
    team_deliveries,
):
    seen_created: set[str] = set()
    pushed_heads: set[str] = set()
    for delivery in team_deliveries:
        if delivery.event == "jira:issue_created":
            seen_created.add(delivery.payload["issue"]["key"])
        if delivery.event == "jira:issue_updated":
            assert delivery.payload["issue"]["key"] in seen_created
        if delivery.event == "push":
            pushed_heads.add(delivery.payload["after"])
        if delivery.kind == "pull_request.synchronize":
            assert delivery.payload["after"] in pushed_heads


def test_a_merge_pushes_the_pull_requests_commits_and_the_merge_commit_to_main(
    world, team_deliveries
):
    merged = [p for p in world.timeline.pulls if p.repo in team_repos(world) and p.merged_at]
    pushes = {
        d.payload["after"]: d.payload
        for d in team_deliveries
        if d.event == "push" and d.payload["ref"] == "refs/heads/main"
    }
    assert merged and len(pushes) == len(merged)
    for pr in merged:
        assert pr.merge_commit is not None
        push = pushes[pr.merge_commit.sha]
        branch_shas = [c.sha for p in pr.pushes for c in p.commits]
        assert [c["id"] for c in push["commits"]] == [*branch_shas, pr.merge_commit.sha]
        assert [c["distinct"] for c in push["commits"]] == [False] * len(branch_shas) + [True]
        assert push["head_commit"]["committer"]["username"] == "web-flow"
        assert push["before"] == pr.merge_commit.parents[0]
        assert push["repository"]["pushed_at"] == int(pr.merged_at.timestamp())


def corpus_example(event: str, action: str | None) -> dict[str, Any]:
    """The published example of ``event``/``action`` (a missing corpus fails, never skips)."""
    value = os.environ.get(CORPUS_ENV)
    if not value:
        pytest.fail(f"{CORPUS_ENV} is not set: point it at the shared payload corpus")
    folder = Path(value) / "github_webhooks"
    # The push example with commits; deployments' examples have no action in their names.
    names = {"push": "push.with-new-branch.json", "deployment": "deployment.json"}
    names["deployment_status"] = "deployment_status.json"
    name = names.get(event, f"{event}.{action}.json")
    return json.loads((folder / name).read_text())


def keys_missing(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Field paths of ``theirs`` (a published example) that ``ours`` lacks, objects only."""
    if not isinstance(theirs, dict) or not isinstance(ours, dict):
        return []
    missing = []
    for key, value in theirs.items():
        if key in ("installation", "enterprise"):  # app installations and GHES only
            continue
        if key == "username":  # absent when the email maps to no account (see the corpus's
            continue  # push.with-no-username-committer.json)
        if key not in ours:
            missing.append(f"{path}{key}")
        elif isinstance(value, dict) and isinstance(ours[key], dict):
            missing += keys_missing(ours[key], value, f"{path}{key}.")
        elif isinstance(value, list) and value and isinstance(ours[key], list) and ours[key]:
            missing += keys_missing(ours[key][0], value[0], f"{path}{key}[].")
    return missing


def test_github_deliveries_carry_every_field_of_the_published_examples(team_deliveries):
    checked = set()
    for delivery in team_deliveries:
        if delivery.route != "github" or delivery.kind in checked:
            continue
        checked.add(delivery.kind)
        example = corpus_example(delivery.event, delivery.action)
        missing = keys_missing(delivery.payload, example)
        assert not missing, f"{delivery.kind} lacks {missing}"
    assert checked >= {
        "push",
        "pull_request.opened",
        "pull_request.synchronize",
        "pull_request.review_requested",
        "pull_request.closed",
        "pull_request_review.submitted",
        "deployment.created",
        "deployment_status.created",
    }


# -- through the gateway -------------------------------------------------------------------------
def test_every_delivery_is_stored_exactly_once_and_a_redelivery_is_a_duplicate(replayed):
    n = len(replayed.deliveries)
    assert replayed.first.outcomes == {"stored": n}
    assert replayed.again.outcomes == {"duplicate": n}
    assert sum(replayed.queue_states.values()) == n
    stored = Counter((row.source, row.delivery_id) for row in replayed.stored)
    assert stored == Counter((d.route, d.delivery_id) for d in replayed.deliveries)
    by_id = {row.delivery_id: row for row in replayed.stored}
    for delivery in replayed.deliveries:
        assert by_id[delivery.delivery_id].event_type == delivery.event
        assert json.loads(by_id[delivery.delivery_id].body) == delivery.payload


def test_a_route_without_a_secret_is_refused_before_anything_is_sent(team_deliveries):
    with pytest.raises(KeyError, match="no secret for route 'github'"):
        github = [d for d in team_deliveries if d.route == "github"]
        replay(github[:1], "http://127.0.0.1:9", {"jira": "x", "sentry": "x"})


def test_a_gateway_refusal_stops_the_replay_naming_the_delivery(team_deliveries, tmp_path):
    home = tmp_path / "refusing"
    config = write_gateway_config(home / "flowsync.yaml", {r: secret_env(r) for r in SECRETS})
    env = {secret_env(r): secret for r, secret in SECRETS.items()}
    url = f"sqlite:///{home}/metadata.sqlite"
    first = team_deliveries[0]
    wrong = {route: "not-the-secret" for route in SECRETS}
    refused = f"401 to {first.route} .*{first.delivery_id}"
    with (
        GatewayProcess(home=home, config_file=config, metadata_url=url, env=env) as gateway,
        pytest.raises(ReplayError, match=refused),
    ):
        replay(team_deliveries[:3], gateway.url, wrong)


def test_every_delivery_lands_and_nothing_is_quarantined(replayed):
    n = len(replayed.deliveries)
    assert replayed.drained.deliveries == n
    assert replayed.drained.quarantined == 0
    assert replayed.queue_states == {"landed": n}
    assert all(row.landing_refs for row in replayed.stored)
    assert replayed.drained.unknown_events == {}
    quarantine = replayed.result.quarantine
    assert quarantine.height == 0, quarantine.select("kind", "reason").rows()[:5]


def test_signals_have_the_worlds_pull_requests_reviews_and_deployments(replayed):
    world, signals = replayed.world, replayed.signals
    repos = team_repos(world)
    pulls = [p for p in world.timeline.pulls if p.repo in repos]
    expected = {(f"{p.repo}#{p.number}", "opened", second(p.created_at)) for p in pulls}
    expected |= {
        (f"{p.repo}#{p.number}", "merged", second(p.merged_at)) for p in pulls if p.merged_at
    }
    expected |= {
        (f"{p.repo}#{p.number}", "closed", second(p.closed_at))
        for p in pulls
        if p.closed_at and not p.merged_at
    }
    assert pulls and events(signals, "pull_request") == expected
    opened = signals.filter(
        (pl.col("entity_type") == "pull_request") & (pl.col("action") == "opened")
    )
    authors = {f"{p.repo}#{p.number}": world.organisation.person(p.author) for p in pulls}
    for entity_id, actor, kind in opened.select("entity_id", "actor", "actor_kind").rows():
        author = authors[entity_id]
        handle = pseudonym(PSEUDONYM_KEY, "github", author.accounts["github"])
        attributed = (handle, "bot" if author.is_bot else "human")
        if author.left_at is None:
            assert (actor, kind) == attributed
        else:  # a later delivery shows GitHub's ghost in their place, and the last version wins
            assert (actor, kind) in {attributed, (None, "deleted")}

    reviews = {
        (f"{p.repo}#{p.number}/reviews/{r.id}", "reviewed", second(r.at))
        for p in pulls
        for r in p.reviews
    }
    assert events(signals, "review") == reviews

    deployments = [d for d in world.timeline.deployments if d.repo in repos]
    expected_deployments = {
        (f"{d.repo}/deployments/{d.id}", "created", second(d.created_at)) for d in deployments
    }
    expected_deployments |= {
        (f"{d.repo}/deployments/{d.id}", f"status_{state}", second(at))
        for d in deployments
        for at, state in d.statuses
    }
    assert deployments and events(signals, "deployment") == expected_deployments


def test_signals_have_every_ticket_creation_and_transition(replayed):
    world, signals = replayed.world, replayed.signals
    tickets = [t for t in world.timeline.tickets if t.tracker == "jira" and t.team == TEAM]
    tickets_signals = signals.filter(pl.col("entity_type") == "ticket")
    created = tickets_signals.filter(pl.col("action") == "created")
    assert set(created.select("entity_id", "occurred_at").rows()) == {
        (t.key, t.created_at) for t in tickets
    }
    moves = tickets_signals.filter(pl.col("action") == "transitioned").with_columns(
        pl.col("attributes").str.json_path_match("$.from_status").alias("from_status")
    )
    expected = Counter(
        (t.key, c.at, c.old, c.new) for t in tickets for c in t.changes if c.field == "status"
    )
    observed = Counter(moves.select("entity_id", "occurred_at", "from_status", "state").rows())
    assert observed == expected
    assert expected  # the fortnight moves tickets


def test_signals_have_the_teams_sentry_incidents(replayed):
    world, signals = replayed.world, replayed.signals
    issues = [i for i in world.timeline.sentry_issues if i.project in team_services(world)]
    incidents = signals.filter(pl.col("entity_type") == "incident")
    first_seen = incidents.filter(pl.col("action") == "first_seen")
    assert set(first_seen.select("entity_id", "occurred_at").rows()) == {
        (f"sentry:{i.project}/{i.id}", i.first_seen) for i in issues
    }
    # Status changes carry no time of their own: today they are dated when FlowSync received them.
    later = incidents.filter(pl.col("action") != "first_seen")
    assert set(later.select("entity_id", "action").rows()) == {
        (f"sentry:{i.project}/{i.id}", action)
        for i in issues
        for action, at in (("resolved", i.resolved_at), ("ignored", i.ignored_at))
        if at is not None
    }
    assert issues


def test_pushes_are_ref_events_today_naming_every_pushed_commit(replayed):
    world, signals = replayed.world, replayed.signals
    refs = signals.filter(pl.col("entity_type") == "branch")
    assert set(refs.get_column("action")) == {"pushed"}
    expected = expected_ref_events(world)
    observed = {
        (e, t): sha for e, t, sha in refs.select("entity_id", "occurred_at", "commit_sha").rows()
    }
    assert expected and set(observed) == set(expected)
    for key, sha in observed.items():
        assert sha in expected[key]
    named = {
        sha
        for attributes in refs.get_column("attributes")
        for sha in json.loads(attributes)["commit_shas"]
    }
    carried = commits_in_pushes(replayed.deliveries)
    assert named == set(carried)


def test_a_comment_on_a_jira_ticket_is_delivered_and_becomes_a_commented_event():
    """The demo's Jira tickets get no comments, so this world is given one."""
    world = build_world(3, START, 3)
    ticket = next(t for t in world.timeline.tickets if t.tracker == "jira" and t.team == TEAM)
    at = ticket.created_at + timedelta(hours=2)
    body = f"Blocked on the ledger migration, see {ticket.key}"
    world.timeline.ticket_comments.append(
        TicketComment("c0ffee00-0000-4000-8000-000000000001", ticket.key, ticket.reporter, at, body)
    )
    [delivery] = [
        d
        for d in deliveries(world, sources=("jira",), teams=[TEAM])
        if d.event == "comment_created"
    ]
    assert delivery.delivered_at == at
    assert delivery.payload["issue"]["key"] == ticket.key
    record = FetchedRecord(
        kind=event_kind("jira", delivery.event),
        scope="PLAT",
        record_id=delivery.delivery_id,
        updated_at=at.isoformat(),
        payload=delivery.payload,
        request=f"delivery:{delivery.delivery_id}",
    )
    result = normalise(landing_frame("jira", [record], fetched_at=at), pseudonym_key=PSEUDONYM_KEY)
    [event] = result.signals.to_dicts()
    comment_id = delivery.payload["comment"]["id"]
    assert (event["entity_id"], event["action"]) == (
        f"{ticket.key}/comments/{comment_id}",
        "commented",
    )
    assert event["occurred_at"] == at.replace(microsecond=at.microsecond // 1000 * 1000)
    reporter = world.organisation.person(ticket.reporter)
    assert event["actor"] == pseudonym(PSEUDONYM_KEY, "jira", reporter.accounts["jira"])
