"""How commits read from a local checkout are named."""

from __future__ import annotations

from flowsync_pipelines.sources.spec import RecordIdentity

COMMITS = RecordIdentity("{repo}@{sha}")

RECORDS = {"commits": COMMITS}
