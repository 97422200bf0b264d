"""The local git connector, run on this repository's own checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flowsync_pipelines.ingest import run_sync
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.metadata import MetadataStore
from resources.git import GitResource
from resources.http import RequestStats

REPO = Path(__file__).resolve().parent.parent


def test_lands_as_many_commits_as_git_rev_list_counts(tmp_path):
    landing = LandingStore(tmp_path / "landing")
    metadata = MetadataStore(f"sqlite:///{tmp_path / 'metadata.sqlite'}")
    connector = GitResource(paths=[str(REPO)]).connector(RequestStats())
    count = int(subprocess.check_output(["git", "-C", str(REPO), "rev-list", "--count", "HEAD"]))

    first = run_sync(connector, landing, metadata)
    again = run_sync(connector, landing, metadata)

    landed = landing.latest(source="git")
    assert first.landed == count == landed.height
    assert again.landed == 0
    head = subprocess.check_output(["git", "-C", str(REPO), "rev-parse", "HEAD"], text=True).strip()
    assert f"{REPO.name}@{head}" in landed.get_column("record_id").to_list()
