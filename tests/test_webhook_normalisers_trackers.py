"""Webhook deliveries of Jira, Linear, Sentry and Figma become the events their polls give.

Each delivery lands whole (kind ``webhook:<slug>``, the body as payload, the delivery id as
record id); the normalisers name the same entities and actions as the polled ones, so where the
times agree a webhook and a poll of the same change share one event id. Personal identifiers
appear only as pseudonyms in signals and raw in vault rows; malformed deliveries are quarantined
with a reason, valid ones with nothing to record are references.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from flowsync_pipelines import warehouse
from flowsync_pipelines.landing import FetchedRecord, landing_frame
from flowsync_pipelines.normalise import figma, jira, linear, normalise, sentry
from flowsync_pipelines.normalise.common import Normalised
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.webhooks.drain import landing_records
from flowsync_pipelines.webhooks.queue import StoredDelivery
from resources.figma import is_tagged

KEY = "webhook-trackers-test-key"
RECEIVED = datetime(2026, 10, 3, 12, 0, tzinfo=UTC)
SITE = "https://acme.atlassian.net"


def _frame(source: str, kind: str, deliveries: list[tuple[str, Any]], scope: str = ""):
    records = [
        FetchedRecord(kind, scope, delivery, RECEIVED.isoformat(), body, f"delivery:{delivery}")
        for delivery, body in deliveries
    ]
    return landing_frame(source, records, fetched_at=RECEIVED)


def _accounted(landing: pl.DataFrame, result: Normalised) -> None:
    """Every delivery yields signals, or is a reference, or is quarantined: exactly one."""
    produced = set(result.signals.get_column("landing_ref"))
    referenced = set() if result.references is None else set(result.references["landing_ref"])
    quarantined = set(result.quarantine.get_column("landing_ref"))
    assert not (produced & referenced) and not (produced & quarantined)
    assert not (referenced & quarantined)
    assert produced | referenced | quarantined == set(landing.get_column("landing_ref"))


def _event(result: Normalised, entity_id: str, action: str) -> dict[str, Any]:
    rows = result.signals.filter((pl.col("entity_id") == entity_id) & (pl.col("action") == action))
    assert rows.height == 1, (entity_id, action, rows.height)
    return rows.row(0, named=True)


def _reasons(result: Normalised) -> dict[str, str]:
    return dict(result.quarantine.select("record_id", "reason").iter_rows())


def _notes(result: Normalised, landing: pl.DataFrame) -> dict[str, str]:
    assert result.references is not None
    ids = dict(landing.select("landing_ref", "record_id").iter_rows())
    return {ids[ref]: note for ref, note in result.references.iter_rows()}


def _no_raw(result: Normalised, *identifiers: str) -> None:
    text = str(result.signals.to_dicts())
    for identifier in identifiers:
        assert identifier not in text, identifier


# -- Jira ---------------------------------------------------------------------------------------
ANA = {
    "self": f"{SITE}/rest/api/2/user?accountId=5b10ac8d82e05b22cc7d4ef5",
    "accountId": "5b10ac8d82e05b22cc7d4ef5",
    "displayName": "Ana Silva",
    "emailAddress": "ana.silva@acme.test",
    "accountType": "atlassian",
    "active": True,
}
BO = {**ANA, "accountId": "712020:bo-0001", "displayName": "Bo Lind", "emailAddress": None}


def _jira_issue(**fields: Any) -> dict[str, Any]:
    return {
        "id": "10042",
        "key": "PAY-42",
        "self": f"{SITE}/rest/api/2/issue/10042",
        "fields": {
            "summary": "Refund fails for partial captures",
            "project": {"key": "PAY", "name": "Payments"},
            "issuetype": {"name": "Bug"},
            "status": {"name": "In Review", "statusCategory": {"key": "indeterminate"}},
            "assignee": BO,
            "reporter": ANA,
            "components": [{"name": "refunds"}],
            "created": "2026-10-01T09:15:00.000+0200",
            "updated": "2026-10-02T10:00:00.000+0000",
            **fields,
        },
    }


def _jira_hook(event: str, **body: Any) -> dict[str, Any]:
    return {
        "timestamp": 1790000000123,  # epoch milliseconds: 2026-09-21T14:13:20.123Z
        "webhookEvent": event,
        "issue_event_type_name": "issue_generic",
        "user": ANA,
        "issue": _jira_issue(),
        **body,
    }


def test_jira_issue_updated_is_one_transition_per_status_item():
    changelog = {
        "id": "31337",
        "items": [
            {"field": "assignee", "fieldtype": "jira", "fromString": None, "toString": "Bo Lind"},
            {"field": "resolution", "fieldtype": "jira", "fromString": None, "toString": None},
            {"field": "status", "fromString": "In Progress", "toString": "In Review"},
        ],
    }
    no_status = {"items": [{"field": "summary", "fromString": "Refund", "toString": None}]}
    landing = _frame(
        "jira",
        "webhook:jira_issue_updated",
        [
            ("d-1", _jira_hook("jira:issue_updated", changelog=changelog)),
            ("d-2", _jira_hook("jira:issue_updated", changelog=no_status)),
            ("d-4", _jira_hook("jira:issue_updated", issue={"id": "1", "fields": {}})),
        ],
        scope="PAY",
    )
    result = jira.issue_webhooks(landing, KEY)

    moved = _event(result, "PAY-42", "transitioned")
    assert result.signals.height == 1
    assert moved["entity_type"] == "ticket" and moved["source"] == "jira"
    assert moved["occurred_at"] == datetime(2026, 9, 21, 14, 13, 20, 123000, tzinfo=UTC)
    assert moved["actor"] == pseudonym(KEY, "jira", ANA["accountId"])
    assert moved["actor"].startswith("p_") and moved["actor_kind"] == "human"
    assert moved["state"] == "In Review"
    assert moved["ticket_keys"] == ["PAY-42"]
    assert moved["url"] == f"{SITE}/browse/PAY-42"
    attributes = json.loads(moved["attributes"])
    assert attributes["status_category"] == "indeterminate"
    assert attributes["from_status"] == "In Progress"
    assert attributes["assignee"] == pseudonym(KEY, "jira", BO["accountId"])
    assert attributes["components"] == ["refunds"] and attributes["issue_type"] == "Bug"
    assert attributes["issue_id"] == "10042" and attributes["time_source"] == "timestamp"

    assert _notes(result, landing) == {"d-2": jira.NO_STATUS_CHANGE}
    assert _reasons(result) == {"d-4": "issue has no key (issue.key)"}
    _accounted(landing, result)
    _no_raw(result, ANA["accountId"], "Ana Silva", ANA["emailAddress"], BO["accountId"])
    vault = {row["handle"]: row for row in result.accounts.iter_rows(named=True)}
    assert vault[ANA["accountId"]]["display_name"] == "Ana Silva"
    assert vault[ANA["accountId"]]["email"] == "ana.silva@acme.test"
    assert vault[ANA["accountId"]]["pseudonym"] == moved["actor"]
    assert vault[BO["accountId"]]["display_name"] == "Bo Lind"


def test_jira_issue_created_meets_the_polled_event_and_deleted_has_no_actor():
    issue = _jira_issue(status={"name": "To Do", "statusCategory": {"key": "new"}})
    created = _jira_hook("jira:issue_created", issue=issue, user=BO)
    deleted = _jira_hook("jira:issue_deleted", issue=issue, user=None)
    landing = _frame(
        "jira", "webhook:jira_issue_created", [("d-1", created), ("d-2", deleted)], scope="PAY"
    )
    # The gateway lands each event type as its own kind; one call may still see several.
    landing = landing.with_columns(
        pl.when(pl.col("record_id") == "d-2")
        .then(pl.lit("webhook:jira_issue_deleted"))
        .otherwise(pl.col("kind"))
        .alias("kind")
    )
    result = jira.issue_webhooks(landing, KEY)

    event = _event(result, "PAY-42", "created")
    assert event["occurred_at"] == datetime(2026, 10, 1, 7, 15, tzinfo=UTC)  # +0200 offset
    assert event["actor"] == pseudonym(KEY, "jira", ANA["accountId"])  # the reporter, as polled
    assert event["state"] == "To Do"
    assert json.loads(event["attributes"])["status_category"] == "new"
    polled = jira.issues(_frame("jira", "issues", [("PAY-42", issue)], scope="PAY"), KEY)
    assert _event(polled, "PAY-42", "created")["event_id"] == event["event_id"]

    gone = _event(result, "PAY-42", "deleted")
    assert gone["occurred_at"] == datetime(2026, 9, 21, 14, 13, 20, 123000, tzinfo=UTC)
    assert gone["actor"] is None and gone["actor_kind"] == "unknown"
    assert gone["state"] == "deleted"
    _accounted(landing, result)


def test_jira_comment_webhooks_are_commented_on_the_issue_comment():
    adf = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": 'Same root cause as PAY-7, see the "capture" log'},
                ],
            }
        ],
    }
    comment = {
        "self": f"{SITE}/rest/api/2/issue/10042/comment/10100",
        "id": "10100",
        "author": ANA,
        "updateAuthor": ANA,
        "body": adf,
        "created": "2026-10-02T11:00:00.000+0000",
        "updated": "2026-10-02T11:00:00.000+0000",
    }
    edited = {**comment, "body": "Same root cause as PAY-7\nedited", "updated": "2026-10-02T12:00Z"}
    system = {**comment, "id": "10101", "author": None, "body": "{noformat}PAY-9{noformat} moved"}
    landing = _frame(
        "jira",
        "webhook:comment_created",
        [
            ("c-1", _jira_hook("comment_created", comment=comment)),
            ("c-2", _jira_hook("comment_updated", comment=edited)),
            ("c-3", _jira_hook("comment_created", comment=system)),
            ("c-4", _jira_hook("comment_created", comment={**comment, "id": None})),
            (
                "c-5",
                _jira_hook(
                    "comment_created", comment={**comment, "created": "soon", "updated": None}
                ),
            ),
        ],
        scope="PAY",
    )
    result = jira.comment_webhooks(landing, KEY)

    rows = result.signals.filter(pl.col("entity_id") == "PAY-42/comments/10100")
    # The edit re-delivers the comment: the same event, so it counts once.
    assert rows.height == 2 and rows.get_column("event_id").n_unique() == 1
    event = rows.filter(pl.col("landing_ref").str.contains("c-1")).row(0, named=True)
    assert event["entity_type"] == "comment" and event["action"] == "commented"
    assert event["occurred_at"] == datetime(2026, 10, 2, 11, tzinfo=UTC)
    assert event["actor"] == pseudonym(KEY, "jira", ANA["accountId"])
    assert event["ticket_keys"] == ["PAY-42", "PAY-7"]
    assert event["title"] == 'Same root cause as PAY-7, see the "capture" log'
    assert event["url"] == f"{SITE}/browse/PAY-42?focusedCommentId=10100"

    automation = _event(result, "PAY-42/comments/10101", "commented")
    assert automation["actor"] is None and automation["actor_kind"] == "unknown"
    assert automation["title"] == "{noformat}PAY-9{noformat} moved"  # wiki markup, not ADF
    assert automation["ticket_keys"] == ["PAY-42", "PAY-9"]
    assert _reasons(result) == {
        "c-4": "comment has no id",
        "c-5": "comment: no usable time (comment.created and comment.updated are not timestamps)",
    }
    _accounted(landing, result)
    _no_raw(result, ANA["accountId"], "Ana Silva", ANA["emailAddress"])
    assert result.accounts.get_column("handle").to_list() == [ANA["accountId"]]


JIRA_COMMENT = {
    "self": f"{SITE}/rest/api/2/issue/10042/comment/10100",
    "id": "10100",
    "author": ANA,
    "updateAuthor": ANA,
    "body": "Repro attached, see PAY-7",
    "created": "2026-10-02T11:00:00.000+0000",
    "updated": "2026-10-02T11:30:00.000+0000",
    "jsdPublic": True,
}


def _jira_comment_hook(event: str, **body: Any) -> dict[str, Any]:
    """A comment delivery as Jira Cloud sends it: no ``user``; ``issue`` is a trimmed object."""
    issue = _jira_issue()
    issue["fields"] = {k: issue["fields"][k] for k in ("summary", "issuetype", "status")}
    return {
        "timestamp": 1790000000123,
        "webhookEvent": event,
        "comment": JIRA_COMMENT,
        "issue": issue,
        **body,
    }


def _attributes(event: dict[str, Any]) -> dict[str, Any]:
    return json.loads(event["attributes"])


def test_jira_issue_timestamp_not_in_epoch_milliseconds_falls_back_and_says_so():
    moves = {"items": [{"field": "status", "fromString": "To Do", "toString": "In Progress"}]}
    stale = _jira_issue(updated="not a date")

    def update(timestamp: Any, **body: Any) -> dict[str, Any]:
        hook = _jira_hook("jira:issue_updated", changelog=moves, **body)
        if timestamp is None:
            del hook["timestamp"]
        else:
            hook["timestamp"] = timestamp
        return hook

    landing = _frame(
        "jira",
        "webhook:jira_issue_updated",
        [
            ("ms", update(1790000000123)),
            ("missing", update(None, issue={**_jira_issue(), "key": "PAY-1"})),
            ("iso", update("2026-09-21T14:13:20Z", issue={**_jira_issue(), "key": "PAY-2"})),
            ("seconds", update(1790000000, issue={**_jira_issue(), "key": "PAY-3"})),
            ("no-time", update("yesterday", issue=stale)),
        ],
        scope="PAY",
    )
    deleted = _jira_hook("jira:issue_deleted", timestamp="2026-10-03T11:59:00Z")
    deleted_landing = _frame("jira", "webhook:jira_issue_deleted", [("gone", deleted)])
    result = jira.issue_webhooks(landing, KEY)

    on_time = _event(result, "PAY-42", "transitioned")
    assert on_time["occurred_at"] == datetime(2026, 9, 21, 14, 13, 20, 123000, tzinfo=UTC)
    assert _attributes(on_time)["time_source"] == "timestamp"
    for key in ("PAY-1", "PAY-2", "PAY-3"):
        moved = _event(result, key, "transitioned")
        # issue.fields.updated, "2026-10-02T10:00:00.000+0000": when Jira recorded the change.
        assert moved["occurred_at"] == datetime(2026, 10, 2, 10, tzinfo=UTC), key
        assert _attributes(moved)["time_source"] == "issue.fields.updated", key
    assert _reasons(result) == {
        "no-time": "issue update: no usable time (timestamp is not epoch milliseconds, "
        "issue.fields.updated is not a timestamp)"
    }
    _accounted(landing, result)

    # A deletion's fields.updated is the last edit, not the deletion: the receipt stands in.
    gone = _event(jira.issue_webhooks(deleted_landing, KEY), "PAY-42", "deleted")
    assert gone["occurred_at"] == RECEIVED
    assert _attributes(gone)["time_source"] == "received"


def test_jira_comment_without_an_issue_object_names_its_issue_by_the_id_in_comment_self():
    orphan = _jira_comment_hook("comment_created")
    del orphan["issue"]
    nowhere = _jira_comment_hook("comment_created", comment={**JIRA_COMMENT, "self": None})
    del nowhere["issue"]
    landing = _frame("jira", "webhook:comment_created", [("c-1", orphan), ("c-2", nowhere)])
    result = jira.comment_webhooks(landing, KEY)

    event = _event(result, "jira-issue-id:10042/comments/10100", "commented")
    assert event["ticket_keys"] == ["PAY-7"]  # the issue's key is not in the payload
    assert event["url"] == JIRA_COMMENT["self"]
    assert event["title"] == "Repro attached, see PAY-7"
    assert event["actor"] == pseudonym(KEY, "jira", ANA["accountId"])
    assert event["occurred_at"] == datetime(2026, 10, 2, 11, tzinfo=UTC)
    assert {k: v for k, v in _attributes(event).items() if v is not None} == {
        "comment_id": "10100",
        "issue_id": "10042",
        "time_source": "comment.created",
    }
    assert _reasons(result) == {
        "c-2": "comment names no issue (issue.key, nor an issue id in comment.self)"
    }
    _accounted(landing, result)


def test_jira_comment_without_a_created_time_falls_back_to_updated_and_says_so():
    hook = _jira_comment_hook("comment_updated", comment={**JIRA_COMMENT, "created": None})
    landing = _frame("jira", "webhook:comment_updated", [("c-1", hook)])
    event = _event(jira.comment_webhooks(landing, KEY), "PAY-42/comments/10100", "commented")
    assert event["occurred_at"] == datetime(2026, 10, 2, 11, 30, tzinfo=UTC)
    assert _attributes(event)["time_source"] == "comment.updated"


def test_jira_comment_deleted_is_the_deleted_event_of_the_comment_on_its_ticket():
    deleted = _jira_comment_hook("comment_deleted")
    by_bo = _jira_comment_hook("comment_deleted", user=BO, timestamp="1790000000")
    by_bo["comment"] = {**JIRA_COMMENT, "id": "10101"}
    orphan = _jira_comment_hook("comment_deleted", comment={**JIRA_COMMENT, "id": "10102"})
    del orphan["issue"]
    landing = _frame(
        "jira",
        "webhook:comment_deleted",
        [("d-1", deleted), ("d-2", by_bo), ("d-3", orphan)],
    )
    result = jira.comment_webhooks(landing, KEY)

    gone = _event(result, "PAY-42/comments/10100", "deleted")
    assert gone["entity_type"] == "comment" and gone["state"] == "deleted"
    assert gone["ticket_keys"] == ["PAY-42"]
    assert gone["occurred_at"] == datetime(2026, 9, 21, 14, 13, 20, 123000, tzinfo=UTC)
    # Jira names no one who deleted it; the comment's author is not that person.
    assert gone["actor"] is None and gone["actor_kind"] == "unknown"
    assert gone["title"] is None  # the deleted text is not kept
    assert gone["url"] == f"{SITE}/browse/PAY-42?focusedCommentId=10100"
    assert _attributes(gone)["time_source"] == "timestamp"

    by_user = _event(result, "PAY-42/comments/10101", "deleted")
    assert by_user["actor"] == pseudonym(KEY, "jira", BO["accountId"])
    assert by_user["occurred_at"] == RECEIVED  # epoch seconds are not what Jira sends
    assert _attributes(by_user)["time_source"] == "received"

    assert _event(result, "jira-issue-id:10042/comments/10102", "deleted")["ticket_keys"] == []
    assert result.quarantine.is_empty()
    _accounted(landing, result)
    _no_raw(result, ANA["accountId"], BO["accountId"], "Repro attached")
    assert result.accounts.get_column("handle").to_list() == [BO["accountId"]]


BLOCKS = {
    "id": "10000",
    "name": "Blocks",
    "outwardName": "blocks",
    "inwardName": "is blocked by",
    "isSubTaskLinkType": False,
    "isSystemLinkType": False,
}


def _jira_link_hook(
    event: str, link_id: int, source: int, destination: int | None, **link: Any
) -> dict[str, Any]:
    """An issue link delivery as Jira Cloud sends it: ids as numbers, no user, no site."""
    return {
        "timestamp": 1790000000123,
        "webhookEvent": event,
        "issueLink": {
            "id": link_id,
            "sourceIssueId": source,
            "destinationIssueId": destination,
            "issueLinkType": BLOCKS,
            "systemLink": False,
            **link,
        },
    }


def test_jira_issue_links_are_linked_and_unlinked_under_the_source_issue_id():
    subtask = {**BLOCKS, "name": "jira_subtask_link", "outwardName": "jira_subtask_outward",
               "inwardName": "jira_subtask_inward", "isSubTaskLinkType": True,
               "isSystemLinkType": True}  # fmt: skip
    created = _jira_link_hook("issuelink_created", 20001, 10042, 10043)
    late = {**_jira_link_hook("issuelink_deleted", 20001, 10042, 10043), "timestamp": "soon"}
    landing = _frame(
        "jira",
        "webhook:issuelink_created",
        [
            ("l-1", created),
            ("l-2", late),
            ("l-3", _jira_link_hook("issuelink_created", 20002, 10042, 10050,
                                    issueLinkType=subtask)),
            ("l-4", _jira_link_hook("issuelink_created", 20003, 10042, None)),
        ],
    ).with_columns(
        pl.when(pl.col("record_id") == "l-2")
        .then(pl.lit("webhook:issuelink_deleted"))
        .otherwise(pl.col("kind"))
        .alias("kind")
    )  # fmt: skip
    result = jira.issue_link_webhooks(landing, KEY)

    linked = _event(result, "jira-issue-id:10042/links/20001", "linked")
    assert linked["entity_type"] == "ticket_link" and linked["source"] == "jira"
    assert linked["occurred_at"] == datetime(2026, 9, 21, 14, 13, 20, 123000, tzinfo=UTC)
    assert linked["actor"] is None and linked["actor_kind"] == "unknown"
    assert linked["state"] is None and linked["ticket_keys"] == []  # ids only, no keys
    assert _attributes(linked) == {
        "link_id": "20001",
        "link_type": "Blocks",
        "outward": "blocks",
        "inward": "is blocked by",
        "source_issue_id": "10042",
        "destination_issue_id": "10043",
        "time_source": "timestamp",
    }
    unlinked = _event(result, "jira-issue-id:10042/links/20001", "unlinked")
    assert unlinked["occurred_at"] == RECEIVED
    assert _attributes(unlinked)["time_source"] == "received"
    assert _attributes(unlinked)["link_id"] == "20001"

    assert _notes(result, landing) == {"l-3": jira.SUBTASK_LINK}
    assert _reasons(result) == {"l-4": "issue link has no id"}
    assert result.accounts.is_empty()
    _accounted(landing, result)


def test_jira_link_ids_resolve_to_ticket_keys_from_any_batch(tmp_path):
    """ "A blocks B" / "B is blocked by A" from link events of one batch and issues of others."""
    blocked = {**_jira_issue(), "id": "10043", "key": "PAY-43"}
    earlier = _frame("jira", "issues", [("PAY-42", _jira_issue())], scope="PAY")
    links = _frame(
        "jira",
        "webhook:issuelink_created",
        [
            ("l-1", _jira_link_hook("issuelink_created", 20001, 10042, 10043)),
            ("l-2", _jira_link_hook("issuelink_created", 20002, 10042, 10099)),
            ("l-3", _jira_link_hook("issuelink_created", 20003, 10043, 10042)),
            ("l-4", {**_jira_link_hook("issuelink_deleted", 20003, 10043, 10042),
                     "timestamp": 1790000009999}),
        ],
    ).with_columns(
        pl.when(pl.col("record_id") == "l-4")
        .then(pl.lit("webhook:issuelink_deleted"))
        .otherwise(pl.col("kind"))
        .alias("kind")
    )  # fmt: skip
    later = _frame("jira", "webhook:jira_issue_created", [("c-1", _jira_hook(
        "jira:issue_created", issue=blocked))])  # fmt: skip
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        for batch in (earlier, links, later):  # three runs, as three days' partitions
            signals = normalise(batch, pseudonym_key=KEY).signals
            warehouse.replace_rows(con, "signals", signals, key="event_id")
        rows = warehouse.query(con, "jira_issue_links").to_dicts()

    statements = [
        (f"{r['source_key']} {r['outward']} {r['destination_key']}",
         f"{r['destination_key']} {r['inward']} {r['source_key']}") for r in rows
    ]  # fmt: skip
    assert statements == [
        ("PAY-42 blocks PAY-43", "PAY-43 is blocked by PAY-42"),
        # Nothing has shown issue 10099 yet: it stays named by id, not guessed.
        ("PAY-42 blocks jira-issue-id:10099", "jira-issue-id:10099 is blocked by PAY-42"),
    ]  # link 20003 was deleted
    assert rows[0]["source_url"] == f"{SITE}/browse/PAY-42"
    assert rows[0]["destination_url"] == f"{SITE}/browse/PAY-43"


def test_an_absent_jira_user_is_unknown_never_deleted():
    moves = {"items": [{"field": "status", "fromString": "To Do", "toString": "Done"}]}
    no_people = _jira_issue(assignee=None, reporter=None)
    batches = [
        jira.issue_webhooks(
            _frame("jira", "webhook:jira_issue_updated", [("u", {
                **{k: v for k, v in _jira_hook("jira:issue_updated").items() if k != "user"},
                "changelog": moves, "issue": no_people})]),
            KEY,
        ),
        jira.issue_webhooks(
            _frame("jira", "webhook:jira_issue_created", [("c", _jira_hook(
                "jira:issue_created", issue=no_people, user=None))]),
            KEY,
        ),
        jira.comment_webhooks(
            _frame("jira", "webhook:comment_created", [("m", _jira_comment_hook(
                "comment_created", comment={**JIRA_COMMENT, "author": None}))]),
            KEY,
        ),
        jira.issue_link_webhooks(
            _frame("jira", "webhook:issuelink_created", [("l", _jira_link_hook(
                "issuelink_created", 1, 2, 3))]),
            KEY,
        ),
    ]  # fmt: skip
    for result in batches:
        assert result.signals.height == 1, result.quarantine.to_dicts()
        event = result.signals.row(0, named=True)
        assert event["actor_kind"] == "unknown" and event["actor"] is None, event["action"]
        assert result.accounts.is_empty()


# -- Linear -------------------------------------------------------------------------------------
LINEAR_ACTOR = {
    "id": "2f6e1c7a-user-ana",
    "type": "user",
    "name": "Ana Silva",
    "email": "ana.silva@acme.test",
    "url": "https://linear.app/acme/profiles/ana",
}
LINEAR_ISSUE = {
    "id": "7d1f0a3c-issue",
    "identifier": "MOB-12",
    "number": 12,
    "title": "Crash on login with SSO",
    "url": "https://linear.app/acme/issue/MOB-12/crash-on-login-with-sso",
    "priorityLabel": "High",
    "estimate": 3,
    "stateId": "state-started",
    "state": {"id": "state-started", "name": "In Progress", "type": "started", "color": "#f2c94c"},
    "team": {"id": "team-1", "key": "MOB", "name": "Mobile"},
    "assigneeId": "9a9b-user-bo",
    "assignee": {"id": "9a9b-user-bo", "name": "Bo Lind"},
    "labels": [{"id": "l1", "name": "bug", "color": "#eb5757"}],
    "createdAt": "2026-10-01T09:00:00.000Z",
    "updatedAt": "2026-10-02T10:30:00.000Z",
    "startedAt": "2026-10-02T10:30:00.000Z",
}


def _linear_hook(action: str, data: dict[str, Any], **body: Any) -> dict[str, Any]:
    return {
        "action": action,
        "type": "Issue",
        "createdAt": "2026-10-03T08:00:00.000Z",
        "organizationId": "org-1",
        "webhookTimestamp": 1790000000000,  # epoch milliseconds
        "webhookId": "hook-1",
        "url": data.get("url"),
        "actor": LINEAR_ACTOR,
        "data": data,
        **body,
    }


def test_linear_issue_webhooks_name_the_polled_events():
    started_from = {"stateId": "state-todo", "startedAt": None, "updatedAt": "2026-10-01T09:00Z"}
    in_review = {**LINEAR_ISSUE, "state": {"name": "In Review", "type": "started"}}
    no_identifier = {**LINEAR_ISSUE, "identifier": None, "url": None, "team": None}
    landing = _frame(
        "linear",
        "webhook:issue",
        [
            ("l-1", _linear_hook("create", LINEAR_ISSUE)),
            ("l-2", _linear_hook("update", LINEAR_ISSUE, updatedFrom=started_from)),
            ("l-3", _linear_hook("update", in_review, updatedFrom={"stateId": "state-started"})),
            ("l-4", _linear_hook("update", LINEAR_ISSUE, updatedFrom={"title": "Crash"})),
            ("l-5", _linear_hook("remove", LINEAR_ISSUE, actor=None, createdAt=None)),
            ("l-6", _linear_hook("update", {**LINEAR_ISSUE, "updatedAt": "yesterday"})),
            ("l-7", _linear_hook("create", no_identifier)),
            ("l-8", _linear_hook("restore", LINEAR_ISSUE)),
        ],
    )
    result = linear.issue_webhooks(landing, KEY)
    ana = pseudonym(KEY, "linear", LINEAR_ACTOR["id"])

    created = _event(result, "MOB-12", "created")
    assert created["entity_type"] == "ticket" and created["ticket_keys"] == ["MOB-12"]
    assert created["occurred_at"] == datetime(2026, 10, 1, 9, tzinfo=UTC)
    assert created["actor"] == ana and created["actor_kind"] == "human"
    assert created["url"] == LINEAR_ISSUE["url"]
    attributes = json.loads(created["attributes"])
    assert attributes["labels"] == ["bug"] and attributes["components"] == ["MOB"]
    assert attributes["assignee"] == pseudonym(KEY, "linear", "9a9b-user-bo")

    # Moving to a started state sets startedAt: the poll's "started" event, at that time.
    started = _event(result, "MOB-12", "started")
    assert started["occurred_at"] == datetime(2026, 10, 2, 10, 30, tzinfo=UTC)
    assert started["state"] == "In Progress"
    polled = linear.issues(_frame("linear", "issues", [("7d1f0a3c-issue", LINEAR_ISSUE)]), KEY)
    assert _event(polled, "MOB-12", "started")["event_id"] == started["event_id"]

    moved = _event(result, "MOB-12", "transitioned")
    assert moved["state"] == "In Review"
    assert json.loads(moved["attributes"])["status_category"] == "indeterminate"
    assert _event(result, "MOB-12", "updated")["occurred_at"] == datetime(
        2026, 10, 2, 10, 30, tzinfo=UTC
    )
    removed = _event(result, "MOB-12", "deleted")
    assert removed["occurred_at"] == datetime(2026, 9, 21, 14, 13, 20, tzinfo=UTC)  # epoch ms
    assert removed["actor"] is None and removed["actor_kind"] == "unknown"
    assert removed["state"] == "deleted"

    assert _reasons(result) == {
        "l-6": "data.updatedAt is not a timestamp: yesterday",
        "l-7": "issue has no identifier",
        "l-8": "action is not create, update or remove: restore",
    }
    _accounted(landing, result)
    _no_raw(result, LINEAR_ACTOR["id"], "Ana Silva", LINEAR_ACTOR["email"], "9a9b-user-bo")
    vault = {row["handle"]: row for row in result.accounts.iter_rows(named=True)}
    assert vault[LINEAR_ACTOR["id"]]["email"] == "ana.silva@acme.test"
    assert vault["9a9b-user-bo"]["display_name"] == "Bo Lind"


def test_linear_comment_webhooks_are_commented_and_deleted():
    comment = {
        "id": "c0ffee-1",
        "body": "Repro on MOB-3 too\nsteps attached",
        "createdAt": "2026-10-02T11:00:00.000Z",
        "updatedAt": "2026-10-02T11:00:00.000Z",
        "userId": LINEAR_ACTOR["id"],
        "user": {"id": LINEAR_ACTOR["id"], "name": "Ana Silva", "email": LINEAR_ACTOR["email"]},
        "issueId": "7d1f0a3c-issue",
        "issue": {"id": "7d1f0a3c-issue", "title": "Crash on login with SSO"},  # no identifier
    }
    url = "https://linear.app/acme/issue/MOB-12/crash-on-login-with-sso#comment-c0ffee-1"
    bot = {"id": "app-7", "type": "integration", "name": "Sync bot"}
    project_update = {**comment, "id": "c2", "issue": None, "issueId": None}
    landing = _frame(
        "linear",
        "webhook:comment",
        [
            ("m-1", _linear_hook("create", comment, type="Comment", url=url)),
            ("m-2", _linear_hook("remove", comment, type="Comment", url=url, actor=bot)),
            ("m-3", _linear_hook("create", project_update, type="Comment", url=None)),
        ],
    )
    result = linear.comment_webhooks(landing, KEY)

    entity = "MOB-12/comments/c0ffee-1"
    commented = _event(result, entity, "commented")
    assert commented["entity_type"] == "comment"
    assert commented["occurred_at"] == datetime(2026, 10, 2, 11, tzinfo=UTC)
    assert commented["actor"] == pseudonym(KEY, "linear", LINEAR_ACTOR["id"])
    assert commented["ticket_keys"] == ["MOB-12", "MOB-3"]
    assert commented["title"] == "Repro on MOB-3 too"
    assert commented["url"] == url
    deleted = _event(result, entity, "deleted")
    assert deleted["occurred_at"] == datetime(2026, 10, 3, 8, tzinfo=UTC)
    assert deleted["actor_kind"] == "bot" and deleted["actor"] == pseudonym(KEY, "linear", "app-7")
    assert _reasons(result) == {"m-3": "comment names no issue (data.issue.identifier or its url)"}
    _accounted(landing, result)
    _no_raw(result, LINEAR_ACTOR["id"], LINEAR_ACTOR["email"], "app-7")
    assert set(result.accounts.get_column("handle")) == {LINEAR_ACTOR["id"], "app-7"}


# -- Sentry -------------------------------------------------------------------------------------
SENTRY_ISSUE = {
    "id": "4501",
    "shortId": "CHECKOUT-1A",
    "title": "TypeError: Cannot read properties of undefined (reading 'amount')",
    "culprit": "app/checkout/pay",
    "permalink": None,
    "web_url": "https://acme.sentry.io/issues/4501/",
    "url": "https://sentry.io/api/0/organizations/acme/issues/4501/",
    "project_url": "https://acme.sentry.io/issues/?project=7",
    "level": "error",
    "status": "unresolved",
    "substatus": "new",
    "count": "42",  # Sentry sends counts as strings
    "userCount": 3,
    "firstSeen": "2026-10-01T09:00:00.123456Z",
    "lastSeen": "2026-10-02T09:00:00Z",
    "project": {"id": "7", "name": "Checkout", "slug": "checkout", "platform": "javascript"},
    "assignedTo": None,
}
SENTRY_USER = {"type": "user", "id": 88, "name": "Ana Silva"}
SENTRY_ITSELF = {"type": "application", "id": "sentry", "name": "Sentry"}


def _sentry_hook(action: str, actor: Any, **issue: Any) -> dict[str, Any]:
    return {
        "action": action,
        "installation": {"uuid": "inst-1"},
        "data": {"issue": {**SENTRY_ISSUE, **issue}},
        "actor": actor,
    }


def test_sentry_issue_webhooks_are_incident_events():
    assignee = {"type": "user", "id": "88", "name": "Ana Silva", "email": "ana.silva@acme.test"}
    landing = _frame(
        "sentry",
        "webhook:issue",
        [
            ("s-1", _sentry_hook("created", SENTRY_ITSELF)),
            ("s-2", _sentry_hook("resolved", SENTRY_USER, status="resolved")),
            ("s-3", _sentry_hook("resolved", SENTRY_ITSELF, status="resolved", id="4502")),
            ("s-4", _sentry_hook("assigned", None, assignedTo=assignee)),
            ("s-5", _sentry_hook("archived", SENTRY_USER, status="ignored")),
            ("s-6", _sentry_hook("unresolved", SENTRY_USER, substatus="regressed", id="4503")),
            ("s-7", _sentry_hook("created", SENTRY_ITSELF, firstSeen="yesterday", id="9")),
            ("s-8", _sentry_hook("created", SENTRY_ITSELF, project=None, id="10")),
            ("s-9", _sentry_hook("commented", SENTRY_USER)),
        ],
    )
    result = sentry.issue_webhooks(landing, KEY)
    entity = "sentry:checkout/4501"

    first = _event(result, entity, "first_seen")
    assert first["entity_type"] == "incident"
    assert first["occurred_at"] == datetime(2026, 10, 1, 9, 0, 0, 123456, tzinfo=UTC)
    assert first["actor"] is None and first["actor_kind"] == "unknown"
    assert first["state"] == "unresolved"
    assert first["url"] == "https://acme.sentry.io/issues/4501/"
    assert json.loads(first["attributes"])["count"] == 42
    polled = sentry.issues(_frame("sentry", "issues", [("4501", SENTRY_ISSUE)], "checkout"), KEY)
    assert _event(polled, entity, "first_seen")["event_id"] == first["event_id"]

    resolved = _event(result, entity, "resolved")
    assert resolved["occurred_at"] == RECEIVED  # the body has no time for a status change
    assert resolved["actor"] == pseudonym(KEY, "sentry", "88")
    assert resolved["actor_kind"] == "human" and resolved["state"] == "resolved"
    auto = _event(result, "sentry:checkout/4502", "resolved")
    assert auto["actor"] is None and auto["actor_kind"] == "bot"  # Sentry itself, as polled
    assigned = _event(result, entity, "assigned")
    assert assigned["actor"] is None and assigned["actor_kind"] == "unknown"
    assert json.loads(assigned["attributes"])["assignee"] == pseudonym(KEY, "sentry", "88")
    assert _event(result, entity, "ignored")["state"] == "ignored"
    assert _event(result, "sentry:checkout/4503", "unresolved")["state"] == "unresolved"

    assert _reasons(result) == {
        "s-7": "data.issue.firstSeen is not an ISO-8601 timestamp: yesterday",
        "s-8": "issue names no project (data.issue.project.slug)",
        "s-9": "issue action has no event: commented",
    }
    _accounted(landing, result)
    _no_raw(result, "Ana Silva", "ana.silva@acme.test")
    vault = result.accounts.row(0, named=True)
    assert result.accounts.height == 1
    assert (vault["handle"], vault["display_name"]) == ("88", "Ana Silva")
    assert vault["email"] == "ana.silva@acme.test"


# -- Figma --------------------------------------------------------------------------------------
def _figma_hook(comment_id: str, fragments: list[dict[str, str]], **body: Any) -> dict[str, Any]:
    return {
        "event_type": "FILE_COMMENT",
        "file_key": "Xq3LbCheckout",
        "file_name": "Checkout redesign",
        "comment_id": comment_id,
        "parent_id": "",
        "order_id": "17",
        "comment": fragments,
        "mentions": [{"id": "1190000000000001", "handle": "Bo Lind"}],
        "triggered_by": {"id": "1180000000000042", "handle": "Ana Silva"},
        "created_at": "2026-10-02T11:00:00Z",
        "resolved_at": None,
        "timestamp": "2026-10-02T11:00:01Z",
        "passcode": "",
        "protocol_version": "2",
        "retries": 0,
        "webhook_id": "22",
        **body,
    }


TAGGED = [
    {"text": "Spacing is off on the pay button "},
    {"mention": "1190000000000001"},
    {"text": " #flowsync PAY-42"},
]


def test_figma_file_comments_mirror_the_polled_tag_rule():
    landing = _frame(
        "figma",
        "webhook:file_comment",
        [
            ("f-1", _figma_hook("991", TAGGED)),
            ("f-2", _figma_hook("992", [{"text": "Love this! #flowsyncing soon"}])),
            ("f-3", _figma_hook("993", TAGGED, created_at="yesterday", timestamp=None)),
            ("f-4", _figma_hook("994", [{"text": "no tag"}], created_at="yesterday")),
            ("f-5", _figma_hook(None, TAGGED)),  # type: ignore[arg-type]
        ],
    )
    result = figma.file_comment_webhooks(landing, KEY)

    entity = "figma:Xq3LbCheckout/comments/991"
    event = _event(result, entity, "commented")
    assert result.signals.height == 1
    assert event["entity_type"] == "design_comment" and event["state"] == "open"
    assert event["occurred_at"] == datetime(2026, 10, 2, 11, tzinfo=UTC)
    assert event["actor"] == pseudonym(KEY, "figma", "1180000000000042")
    assert event["ticket_keys"] == ["PAY-42"]
    assert event["url"] == "https://www.figma.com/file/Xq3LbCheckout?comment=991"
    assert event["title"] == "Spacing is off on the pay button #flowsync PAY-42"
    polled_comment = {
        "id": "991",
        "file_key": "Xq3LbCheckout",
        "message": "Spacing is off on the pay button @Bo #flowsync PAY-42",
        "created_at": "2026-10-02T11:00:00Z",
        "user": {"id": "1180000000000042", "handle": "Ana Silva"},
    }
    polled = figma.comments(_frame("figma", "comments", [("991", polled_comment)]), KEY)
    assert _event(polled, entity, "commented")["event_id"] == event["event_id"]

    # Untagged comments are references whatever else they hold, like the connector's stubs.
    assert _notes(result, landing) == {"f-2": figma.UNTAGGED_NOTE, "f-4": figma.UNTAGGED_NOTE}
    assert _reasons(result) == {
        "f-3": "created_at (or timestamp) is not an ISO-8601 timestamp: yesterday",
        "f-5": "comment has no comment_id",
    }
    _accounted(landing, result)
    _no_raw(result, "1180000000000042", "Ana Silva", "1190000000000001")
    vault = result.accounts.row(0, named=True)
    assert (vault["handle"], vault["display_name"]) == ("1180000000000042", "Ana Silva")


@pytest.mark.parametrize(
    "text",
    [
        "#flowsync",
        "see #FlowSync PAY-1",
        "(#flowsync)",
        "line one\n#flowsync",
        "#flowsync.",
        "##flowsync",
        "a#flowsync",
        "#flowsyncing",
        "#flowsync-later",
        "#flowsync_x",
        "é#flowsync",
        "#flowsyncé",
        "",
    ],
)
def test_figma_tag_rule_is_the_connectors(text: str):
    tagged = pl.Series([text]).str.contains(figma.TAG).item()
    assert tagged == is_tagged({"message": text})


def test_figma_ping_is_a_reference():
    ping = {
        "event_type": "PING",
        "passcode": "",
        "timestamp": "2026-10-02T11:00Z",
        "webhook_id": "22",
    }
    landing = _frame("figma", "webhook:ping", [("p-1", ping)])
    result = figma.ping_webhooks(landing, KEY)
    assert result.signals.is_empty() and result.quarantine.is_empty()
    assert _notes(result, landing) == {"p-1": "configuration ping: no event"}
    _accounted(landing, result)


# -- every webhook normaliser -------------------------------------------------------------------
ALL_WEBHOOKS = [
    (module.__name__.rsplit(".", 1)[-1], kind, normaliser)
    for module in (jira, linear, sentry, figma)
    for kind, normaliser in module.WEBHOOKS.items()
]


@pytest.mark.parametrize(
    ("source", "kind", "normaliser"), ALL_WEBHOOKS, ids=[f"{s}-{k}" for s, k, _ in ALL_WEBHOOKS]
)
def test_every_webhook_normaliser_takes_empty_batches_and_non_objects(source, kind, normaliser):
    empty = normaliser(_frame(source, kind, []), KEY)
    assert empty.signals.is_empty() and empty.quarantine.is_empty()
    assert empty.accounts.is_empty()
    assert empty.references is None or empty.references.is_empty()

    landing = _frame(source, kind, [("a-1", [{"id": "1"}, {"id": "2"}]), ("a-2", "text")])
    result = normaliser(landing, KEY)
    assert result.signals.is_empty() and result.accounts.is_empty()
    assert set(_reasons(result)) == {"a-1", "a-2"}
    assert all("not an object" in reason for reason in _reasons(result).values())
    _accounted(landing, result)


def test_an_untagged_figma_comment_delivery_lands_as_a_stub_without_its_text_or_author():
    def delivery(text: str, delivery_id: str) -> StoredDelivery:
        body = {
            "event_type": "FILE_COMMENT",
            "file_key": "F1",
            "comment_id": delivery_id,
            "comment": [{"text": text}],
            "triggered_by": {"id": "u9", "handle": "Dana Designer"},
            "timestamp": "2026-10-03T11:59:00Z",
        }
        return StoredDelivery(
            1, "figma", delivery_id, "FILE_COMMENT", RECEIVED, {}, json.dumps(body).encode(),
            "pending", None, [],
        )  # fmt: skip

    (untagged,) = landing_records(delivery("colours look off, ask dana@example.com", "c1"))
    assert untagged.payload == {
        "event_type": "FILE_COMMENT",
        "file_key": "F1",
        "comment_id": "c1",
        "timestamp": "2026-10-03T11:59:00Z",
        "untagged": True,
    }
    (tagged,) = landing_records(delivery("Approved #flowsync", "c2"))
    assert tagged.payload["comment"] == [{"text": "Approved #flowsync"}]
    landing = landing_frame("figma", [untagged, tagged], fetched_at=RECEIVED)
    result = figma.file_comment_webhooks(landing, KEY)
    assert result.signals.get_column("entity_id").to_list() == ["figma:F1/comments/c2"]
    assert result.references.height == 1
