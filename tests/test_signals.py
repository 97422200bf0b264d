"""Signals: normalisers survive real-world quirks; ordering is stamped and checked;
current-state tables do not depend on arrival order."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from flowsync_pipelines import schema
from flowsync_pipelines.landing import FetchedRecord, LandingStore, landing_frame
from flowsync_pipelines.normalise import normalise
from flowsync_pipelines.ordering import stamp_hlc, violations
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.warehouse import insert_rows, run_sql

KEY = "signals-test-key"
AT = datetime(2026, 9, 20, tzinfo=UTC)


def _pull(number: int, **fields) -> dict:
    pull = {
        "number": number,
        "html_url": f"https://github.com/acme/api/pull/{number}",
        "title": "PLAT-7 Fix the thing 🚀",
        "body": None,
        "state": "open",
        "created_at": "2026-09-01T10:00:00Z",
        "updated_at": "2026-09-02T10:00:00Z",
        "merged_at": None,
        "closed_at": None,
        "user": {"login": "jdoe-acme", "id": 1, "type": "User"},
        "head": {"ref": "feature/PLAT-8-thing", "sha": "abc"},
        "base": {"ref": "main", "repo": {"full_name": "acme/api"}},
    }
    return {**pull, **fields}


def _normalise(kind: str, payloads: list[dict], source: str = "github", scope: str = "acme/api"):
    records = [
        FetchedRecord(kind, scope, f"{scope}#{i}", None, p, "test") for i, p in enumerate(payloads)
    ]
    return normalise(landing_frame(source, records, fetched_at=AT), pseudonym_key=KEY)


def test_pull_request_events_carry_pseudonyms_ticket_keys_and_utc_times():
    result = _normalise("pulls", [_pull(1, merged_at="2026-09-03T12:00:00+02:00")])
    opened = result.signals.filter(pl.col("action") == "opened").row(0, named=True)
    merged = result.signals.filter(pl.col("action") == "merged").row(0, named=True)
    assert opened["actor"] == pseudonym(KEY, "github", "jdoe-acme")
    assert opened["ticket_keys"] == ["PLAT-7", "PLAT-8"]
    assert merged["occurred_at"] == datetime(2026, 9, 3, 10, tzinfo=UTC)
    assert opened["event_id"] == "github:pull_request:acme/api#1:opened:2026-09-01T10:00:00.000000Z"
    assert "jdoe" not in str(result.signals.to_dicts())


def test_ghost_users_are_deleted_and_bots_are_bots():
    ghost = _pull(1, user={"login": "ghost", "id": 10137, "type": "User"})
    bot = _pull(2, user={"login": "dependabot[bot]", "id": 49699333, "type": "Bot"})
    nobody = _pull(3, user=None)
    result = _normalise("pulls", [ghost, bot, nobody]).signals.filter(pl.col("action") == "opened")
    kinds = dict(zip(result.get_column("entity_id"), result.get_column("actor_kind"), strict=True))
    assert kinds == {"acme/api#1": "deleted", "acme/api#2": "bot", "acme/api#3": "deleted"}
    assert result.filter(pl.col("actor_kind") == "deleted").get_column("actor").is_null().all()


def test_jira_offsets_without_colon_and_null_changelog_values():
    issue = {
        "id": "1",
        "key": "PLAT-1",
        "self": "https://acme.atlassian.net/rest/api/3/issue/1",
        "fields": {
            "summary": "Line one\r\nline two",
            "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
            "created": "2026-09-01T10:00:00.000+0200",
            "updated": "2026-09-02T10:00:00.000-0500",
            "assignee": None,
            "reporter": {
                "accountId": "712020:aa",
                "displayName": "Zoë",
                "accountType": "app",
            },
            "components": [{"name": "Payments"}],
        },
        "changelog": {
            "histories": [
                {
                    "id": "10",
                    "created": "2026-09-02T10:00:00.000-0500",
                    "author": {"accountId": "712020:aa", "accountType": "app"},
                    "items": [
                        {"field": "status", "fromString": "To Do", "toString": "In Progress"},
                        {"field": "assignee", "fromString": None, "toString": None},
                    ],
                }
            ]
        },
    }
    result = _normalise("issues", [issue], source="jira", scope="PLAT")
    times = dict(zip(result.signals["action"], result.signals["occurred_at"], strict=True))
    assert times == {
        "created": datetime(2026, 9, 1, 8, tzinfo=UTC),
        "transitioned": datetime(2026, 9, 2, 15, tzinfo=UTC),
    }
    created = result.signals.filter(pl.col("action") == "created").row(0, named=True)
    assert created["state"] == "To Do"
    assert result.quarantine.is_empty()
    assert result.accounts.get_column("display_name").to_list() == ["Zoë"]
    assert result.accounts.get_column("actor_kind").to_list() == ["bot"]  # an app account


def test_merged_before_opened_is_recorded_as_an_ordering_violation():
    result = _normalise("pulls", [_pull(1, merged_at="2026-08-31T09:00:00Z")])
    rules = result.violations.select("entity_id", "rule").rows()
    assert rules == [("acme/api#1", "before_creation")]
    assert result.violations.item(0, "detail").startswith(
        "merged at 2026-08-31T09:00:00Z precedes the entity's creation at "
    )


def test_hlc_stamps_never_go_backwards_when_a_tool_clock_does():
    first = _pull(1, updated_at="2026-09-05T10:00:00Z", merged_at="2026-09-05T10:00:00Z")
    records = [FetchedRecord("pulls", "acme/api", "acme/api#1", None, first, "t")]
    late_review = {
        "id": 5,
        "user": {"login": "x", "type": "User"},
        "state": "APPROVED",
        "submitted_at": "2026-09-04T10:00:00Z",
        "pull_request_url": "https://api.github.com/repos/acme/api/pulls/1",
    }
    frame = pl.concat(
        [
            landing_frame("github", records, fetched_at=AT),
            landing_frame(
                "github",
                [FetchedRecord("reviews", "acme/api", "r5", None, late_review, "t")],
                fetched_at=AT + timedelta(hours=1),
            ),
        ]
    )
    result = normalise(frame, pseudonym_key=KEY)
    pr = result.signals.filter(pl.col("entity_type") == "pull_request").sort("occurred_at")
    assert pr.get_column("hlc").is_sorted()
    assert pr.get_column("hlc").n_unique() == pr.height


def test_an_event_observed_after_a_later_one_goes_back_in_time_but_its_hlc_does_not():
    def event(action: str, occurred: str, observed: str) -> dict:
        return {
            "event_id": f"jira:ticket:PLAT-1:{action}",
            "source": "jira",
            "entity_type": "ticket",
            "entity_id": "PLAT-1",
            "action": action,
            "occurred_at": datetime.fromisoformat(occurred),
            "observed_at": datetime.fromisoformat(observed),
        }

    signals = schema.conform(
        pl.DataFrame(
            [
                event("created", "2026-09-01T09:00:00+00:00", "2026-09-01T10:00:00+00:00"),
                event("transitioned", "2026-09-03T09:00:00+00:00", "2026-09-03T10:00:00+00:00"),
                # A delayed delivery: it happened before the transition but arrived after it.
                event("commented", "2026-09-02T09:00:00+00:00", "2026-09-04T10:00:00+00:00"),
            ]
        ),
        schema.SIGNALS,
    )
    stamped = stamp_hlc(signals)
    hlc = dict(zip(stamped["action"], stamped["hlc"], strict=True))
    assert hlc["created"] < hlc["transitioned"] < hlc["commented"]
    # The late event keeps the transition's physical time and takes the next counter value.
    assert hlc["commented"] == hlc["transitioned"] + 1
    found = violations(stamped)
    assert found.select("event_id", "rule").rows() == [
        ("jira:ticket:PLAT-1:commented", "time_went_backwards")
    ]
    assert found.item(0, "detail") == (
        "commented at 2026-09-02T09:00:00Z was observed after an event of the same entity "
        "at a later time"
    )


def _current_state(landing: LandingStore) -> dict[str, list[tuple]]:
    signals = normalise(landing.latest(), pseudonym_key=KEY).signals
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    run_sql(con, "schema")
    insert_rows(con, "signals", signals)
    run_sql(con, "current_state")
    return {
        t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
        for t in ("pull_requests", "tickets", "ci_runs", "deployments")
    }


def _versions(world) -> list[FetchedRecord]:
    """Several versions of a few records, as successive syncs would have seen them."""
    records = []
    repo = world.github_repos()[0]
    for days in (20, 40, 60):
        as_of = world.start + timedelta(days=days)
        for pull in world.github_pulls(repo, as_of)[-12:]:
            records.append(
                FetchedRecord(
                    "pulls", repo, f"{repo}#{pull['number']}", pull["updated_at"], pull, "t"
                )
            )
        for issue in world.jira_issues(as_of)[-12:]:
            records.append(
                FetchedRecord(
                    "issues", "PLAT", issue["key"], issue["fields"]["updated"], issue, "t"
                )
            )
    # Webhook deliveries of check runs, phase by phase (each lands whole, at its receipt time).
    for run in range(3):
        for minute, (status, conclusion) in enumerate(
            [("queued", None), ("in_progress", None), ("completed", "success")]
        ):
            check = {
                "id": run,
                "name": "lint",
                "status": status,
                "conclusion": conclusion,
                "head_sha": f"{run:040d}",
                "started_at": f"2026-09-0{run + 1}T10:01:00Z",
                "completed_at": f"2026-09-0{run + 1}T10:09:00Z" if conclusion else None,
            }
            received = f"2026-09-0{run + 1}T10:{minute:02d}:30Z"
            body = {"action": status, "check_run": check, "sender": {"login": "ci[bot]"}}
            records.append(
                FetchedRecord("webhook:check_run", repo, f"d{run}{minute}", received, body, "t")
            )
    return records


def _source(record: FetchedRecord) -> str:
    return "jira" if record.kind == "issues" else "github"


# Current state of the records landed in their own order (computed by the first example).
_EXPECTED: dict[str, dict] = {}


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), duplicates=st.integers(0, 10))
def test_current_state_is_the_same_for_any_arrival_order(world, tmp_path_factory, seed, duplicates):
    records = _versions(world)
    if "in_order" not in _EXPECTED:  # the same for every example: landed and derived once
        in_order = LandingStore(tmp_path_factory.mktemp("ordered"))
        for n, record in enumerate(records):
            in_order.append(
                landing_frame(_source(record), [record], fetched_at=AT + timedelta(seconds=n))
            )
        _EXPECTED["in_order"] = _current_state(in_order)
    expected = _EXPECTED["in_order"]

    rng = random.Random(seed)
    shuffled = records + rng.sample(records, duplicates)
    rng.shuffle(shuffled)
    arrived = LandingStore(tmp_path_factory.mktemp("shuffled"))
    for n, record in enumerate(shuffled):
        arrived.append(
            landing_frame(_source(record), [record], fetched_at=AT + timedelta(seconds=n))
        )

    assert _current_state(arrived) == expected
    assert [(run[0], run[5]) for run in expected["ci_runs"]] == [
        (f"{world.github_repos()[0]}/check-runs/{run}", "success") for run in range(3)
    ]


def test_mentions_and_emails_in_titles_become_pseudonyms():
    pull = _pull(1, title="Pair with @jdoe-acme and @ann (ann.lee@acme.example) on PLAT-9")
    title = _normalise("pulls", [pull]).signals.get_column("title")[0]
    assert title == (
        f"Pair with @{pseudonym(KEY, 'github', 'jdoe-acme')} and @{pseudonym(KEY, 'github', 'ann')}"
        f" ({pseudonym(KEY, 'email', 'ann.lee@acme.example')}) on PLAT-9"
    )


def test_a_tombstone_becomes_a_deleted_event_of_the_entity_it_names():
    from flowsync_pipelines.landing import tombstone

    moved = tombstone(
        "issues", "acme/web", "acme/web#7", deleted_at="2026-09-03T10:00:00Z", reason="moved",
        request="t",
    )  # fmt: skip
    # GitLab answered 404 for a merge request its list had just shown: no time but our own.
    gone = tombstone("merge_requests", "acme/web", "acme/web!4", deleted_at=None, reason="404",
                     request="t")  # fmt: skip
    frame = landing_frame("gitlab", [moved, gone], fetched_at=AT)
    result = normalise(frame, pseudonym_key=KEY)
    assert result.quarantine.is_empty()
    events = result.signals.select("entity_type", "entity_id", "action", "occurred_at").rows()
    assert sorted(events) == [
        ("pull_request", "acme/web!4", "deleted", AT),
        ("ticket", "acme/web#7", "deleted", datetime(2026, 9, 3, 10, tzinfo=UTC)),
    ]
    # An archived Linear issue's tombstone names only its uuid; the issue's own record carries
    # the archival, so the tombstone is accounted for as a reference.
    archived = tombstone("issues", "MOB", "0b5c-uuid", deleted_at="2026-09-03T10:00:00Z",
                         reason="archived", request="t")  # fmt: skip
    linear = normalise(landing_frame("linear", [archived], fetched_at=AT), pseudonym_key=KEY)
    assert linear.signals.is_empty() and linear.quarantine.is_empty()
    assert linear.references.height == 1


def test_a_deleted_merge_request_is_deleted_in_current_state_not_open(tmp_path):
    from flowsync_pipelines.landing import tombstone

    mr = {
        "iid": 4,
        "title": "PLAT-1 thing",
        "state": "opened",
        "created_at": "2026-09-01T10:00:00Z",
        "web_url": "https://gitlab.com/acme/web/-/merge_requests/4",
        "author": {"id": 7, "username": "jdoe", "name": "Jane Doe", "state": "active"},
    }
    store = LandingStore(tmp_path)
    store.append(
        landing_frame(
            "gitlab",
            [FetchedRecord("merge_requests", "acme/web", "acme/web!4", None, mr, "t")],
            fetched_at=AT,
        )
    )
    state = _current_state(store)["pull_requests"]
    assert [(row[0], row[7]) for row in state] == [("acme/web!4", "open")]
    gone = tombstone("merge_requests", "acme/web", "acme/web!4", deleted_at=None, reason="404",
                     request="t")  # fmt: skip
    store.append(landing_frame("gitlab", [gone], fetched_at=AT + timedelta(days=1)))
    state = _current_state(store)["pull_requests"]
    # Still one row: the deletion joins the pull request it names, keeping its title and link.
    assert [(row[0], row[4], row[7]) for row in state] == [
        ("acme/web!4", "PLAT-1 thing", "deleted")
    ]


def test_a_merged_pull_request_opened_again_and_activity_after_a_deletion_are_regressions():
    def event(entity: str, entity_type: str, action: str, occurred: str) -> dict:
        return {
            "event_id": f"gitlab:{entity_type}:{entity}:{action}",
            "source": "gitlab",
            "entity_type": entity_type,
            "entity_id": entity,
            "action": action,
            "occurred_at": datetime.fromisoformat(occurred),
            "observed_at": datetime.fromisoformat("2026-09-10T00:00:00+00:00"),
        }

    signals = schema.conform(
        pl.DataFrame(
            [
                event("acme/web!1", "pull_request", "opened", "2026-09-01T09:00:00+00:00"),
                event("acme/web!1", "pull_request", "merged", "2026-09-02T09:00:00+00:00"),
                event("acme/web!1", "pull_request", "reopened", "2026-09-03T09:00:00+00:00"),
                # Closed and reopened before any merge is an ordinary life.
                event("acme/web!2", "pull_request", "opened", "2026-09-01T09:00:00+00:00"),
                event("acme/web!2", "pull_request", "closed", "2026-09-02T09:00:00+00:00"),
                event("acme/web!2", "pull_request", "reopened", "2026-09-03T09:00:00+00:00"),
                event("acme/web#5", "ticket", "created", "2026-09-01T09:00:00+00:00"),
                event("acme/web#5", "ticket", "deleted", "2026-09-02T09:00:00+00:00"),
                event("acme/web#5", "ticket", "updated", "2026-09-04T09:00:00+00:00"),
            ]
        ),
        schema.SIGNALS,
    )
    found = violations(stamp_hlc(signals)).filter(pl.col("rule") == "state_regression")
    assert found.select("entity_id", "detail").rows() == [
        ("acme/web!1", "reopened at 2026-09-03T09:00:00Z follows the entity's merged at "
                       "2026-09-02T09:00:00Z"),
        ("acme/web#5", "updated at 2026-09-04T09:00:00Z follows the entity's deleted at "
                       "2026-09-02T09:00:00Z"),
    ]  # fmt: skip


def test_a_jira_epics_due_date_is_an_attribute_of_each_of_its_events():
    def issue(key: str, due: str | None) -> dict:
        return {
            "id": key[-1],
            "key": key,
            "self": f"https://acme.atlassian.net/rest/api/3/issue/{key[-1]}",
            "fields": {
                "summary": "Checkout v3",
                "issuetype": {"name": "Epic"},
                "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
                "created": "2026-09-01T10:00:00.000+0000",
                "duedate": due,
                "components": [],
            },
            "changelog": {
                "histories": [
                    {
                        "id": "1",
                        "created": "2026-09-02T10:00:00.000+0000",
                        "items": [
                            {"field": "status", "fromString": "To Do", "toString": "In Progress"}
                        ],
                    }
                ]
            },
        }

    result = _normalise("issues", [issue("PLAT-1", "2026-09-30"), issue("PLAT-2", None)], "jira")
    due = {
        (r["entity_id"], r["action"]): json.loads(r["attributes"])["due_date"]
        for r in result.signals.iter_rows(named=True)
    }
    assert due == {
        ("PLAT-1", "created"): "2026-09-30",
        ("PLAT-1", "transitioned"): "2026-09-30",
        ("PLAT-2", "created"): None,
        ("PLAT-2", "transitioned"): None,
    }
