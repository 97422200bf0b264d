"""How Jenkins records are named."""

from __future__ import annotations

from flowsync_pipelines.sources.spec import RecordIdentity

BUILDS = RecordIdentity("{job}#{number}")

RECORDS = {"builds": BUILDS}
