"""GitHub REST connector against the GitHub sandbox."""

from __future__ import annotations

from datetime import datetime

from flowsync_pipelines.simulator import World
from tests.connector_contract import ConnectorContract, Records


class TestGitHubConnector(ConnectorContract):
    tool = "github"

    def expected(self, world: World, as_of: datetime) -> Records:
        records: Records = {}
        for repo in world.github_repos():
            for pull in world.github_pulls(repo, as_of):
                watermark = pull["updated_at"]  # reviews are re-read when their PR changes
                records["pulls", f"{repo}#{pull['number']}"] = (pull, watermark, repo)
                for review in world.github_reviews(repo, pull["number"], as_of):
                    key = f"{repo}#{pull['number']}/reviews/{review['id']}"
                    records["reviews", key] = (review, watermark, repo)
        return records
