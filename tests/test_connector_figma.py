"""Figma connector against the Figma sandbox: tagged comments in full, the rest as ids."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from flowsync_pipelines.ingest import run_sync
from flowsync_pipelines.sandbox import Faults
from flowsync_pipelines.simulator import World
from resources.figma import UNTAGGED_COUNTER, is_tagged
from resources.http import RequestStats
from tests.connector_contract import ConnectorContract, Records, versions


def tagged(comment: dict[str, Any]) -> bool:
    return "#flowsync" in comment["message"].lower()


class TestFigmaConnector(ConnectorContract):
    tool = "figma"
    conditional = False  # Figma sends no ETag for comments: one full-list request per file
    crash_after_requests = 1  # one request per file: crash while the second file is read

    def expected(self, world: World, as_of: datetime) -> Records:
        records: Records = {}
        for design_file in world.figma_files():
            key = design_file["key"]
            for comment in world.figma_comments(key, as_of):
                # The comments list has no filter: every sync re-reads the whole file.
                payload = comment if tagged(comment) else {"id": comment["id"], "untagged": True}
                records["comments", comment["id"]] = (payload, None, key)
        return records

    def test_twenty_percent_failing_requests_land_the_same_set(self, make, world):
        """The contract's fault mix over a week of daily syncs rather than one sync.

        One Figma sync is a single request per file (three here), too few for a fifth of them to
        be sure to fail; eight syncs make 24 requests under the same seeded faults.
        """
        faults = Faults(
            error_rate=0.2,
            error_kinds=("429", "502", "slow", "truncated"),
            slow_s=0.6,
            retry_after_s=0,
            seed=11,
        )
        deployment = make(as_of=world.end - timedelta(days=7), faults=faults)
        retries = 0
        for days_left in range(7, -1, -1):
            deployment.server.sandbox.set_clock(world.end - timedelta(days=days_left))
            _, stats = deployment.sync(timeout_s=0.3, max_attempts=15, backoff_base_s=0.01)
            retries += stats.retries
        assert retries > 0
        assert deployment.landed() == versions(self.expected(world, world.end))

    # -- the Figma quirks -------------------------------------------------------------------

    def test_untagged_comments_are_counted_and_landed_as_ids_without_text(self, make, world):
        deployment = make()
        _, stats = deployment.sync()
        untagged = [
            c
            for f in world.figma_files()
            for c in world.figma_comments(f["key"], world.end)
            if not tagged(c)
        ]
        assert untagged and stats.counters[UNTAGGED_COUNTER] == len(untagged)
        assert stats.as_metadata()[UNTAGGED_COUNTER] == len(untagged)
        rows = deployment.landing.scan("figma").collect()
        by_id = {r["record_id"]: r for r in rows.iter_rows(named=True)}
        for comment in untagged:
            row = by_id[comment["id"]]
            assert json.loads(row["payload"]) == {"id": comment["id"], "untagged": True}
            assert row["updated_at"] is None
        # Untagged messages ("Love this direction 😍") appear nowhere in landing.
        landed_text = " ".join(rows.get_column("payload"))
        assert not any(c["message"] in landed_text for c in untagged if len(c["message"]) > 12)

    def test_the_untagged_count_is_kept_per_file(self, make, world):
        deployment = make()
        connector = deployment.connector(RequestStats())
        try:
            run_sync(connector, deployment.landing, deployment.metadata)
        finally:
            connector.client.close()
        assert connector.untagged == {
            f["key"]: sum(not tagged(c) for c in world.figma_comments(f["key"], world.end))
            for f in world.figma_files()
        }

    def test_a_comment_reported_deleted_lands_a_tombstone(self, make, world):
        key = world.figma_files()[0]["key"]
        comment = next(c for c in world.figma_comments(key, world.end) if tagged(c))
        deployment = make()
        deployment.sync()
        deleted_at = "2026-10-30T12:00:00.000Z"
        deployment.server.sandbox.set_faults(
            Faults(malformed={f"figma:{comment['id']}": {"deleted_at": deleted_at}})
        )
        report, _ = deployment.sync()
        assert report.landed == 1
        latest = deployment.landing.latest(source="figma", kind="tombstone")
        assert [json.loads(p) for p in latest.get_column("payload")] == [
            {
                "kind": "comments",
                "record_id": comment["id"],
                "deleted_at": deleted_at,
                "reason": "deleted",
            }
        ]


def test_the_tag_is_a_word_of_its_own_in_any_case():
    assert is_tagged({"message": "#flowsync PLAT-1 spacing"})
    assert is_tagged({"message": "Updated the error states for MOB-2 #FlowSync"})
    assert is_tagged({"message": "MOB-3: #flowsync, please confirm"})
    assert not is_tagged({"message": "#flowsyncing is not the tag"})
    assert not is_tagged({"message": "no tag here"})
    assert not is_tagged({"message": None})
