"""Local git connector: commits from a repository checkout, so FlowSync works with no token."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from pydantic import Field

from flowsync_pipelines.ingest import EndpointSync
from flowsync_pipelines.landing import FetchedRecord
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.sources.git import GitScopes
from flowsync_pipelines.sources.git.records import COMMITS
from resources.http import RequestStats

# Unit and record separators cannot occur in git's metadata fields, and %B is the last field.
_FIELDS = ("sha", "parents", "author_name", "author_email", "authored_at")
_FIELDS += ("committer_name", "committer_email", "committed_at", "message")
_FORMAT = "%x1f".join(["%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B"]) + "%x1e"


class GitResource(dg.ConfigurableResource):
    """Reads ``git log`` of local checkouts (scopes: ``{paths: [...]}``, optional ``rev``)."""

    paths: list[str] = Field(default_factory=list, description="Paths of local git checkouts")
    rev: str = Field(default="HEAD", description="Revision whose history is read")

    @classmethod
    def from_source(cls, source: SourceConfig) -> GitResource:
        scopes = source.scopes_of(GitScopes)
        return cls(paths=list(scopes.paths), rev=scopes.rev)

    def connector(self, stats: RequestStats) -> GitConnector:
        return GitConnector(paths=self.paths, rev=self.rev)


class GitConnector:
    """Lists every commit reachable from ``rev``; landing keeps each commit version once.

    Reading the whole history each time is deliberate: git history can be rewritten and commit
    dates are not monotonic, so a date cursor could miss commits, while ``git log`` of tens of
    thousands of commits takes well under a second and landing de-duplicates.
    """

    source = "git"

    def __init__(self, *, paths: list[str], rev: str) -> None:
        self.paths = paths
        self.rev = rev

    def close(self) -> None:
        """Nothing to release: there is no HTTP client."""

    def endpoints(self) -> list[tuple[str, str]]:
        return [(path, "commits") for path in self.paths]

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        checkout = Path(sync.scope).expanduser()
        repo = checkout.resolve().name
        try:
            output = subprocess.run(
                ["git", "-C", str(checkout), "log", self.rev, f"--format={_FORMAT}"],
                check=True,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
            ).stdout
        except subprocess.CalledProcessError as err:
            raise RuntimeError(
                f"git log failed in {checkout}: {err.stderr.strip()} — is it a git checkout?"
            ) from err
        for chunk in output.split("\x1e"):
            chunk = chunk.lstrip("\n")
            if not chunk:
                continue
            commit = dict(zip(_FIELDS, chunk.split("\x1f"), strict=True))
            commit["parents"] = commit["parents"].split()
            commit["repository"] = repo
            sync.observe(commit["committed_at"])
            yield FetchedRecord(
                kind="commits",
                scope=sync.scope,
                record_id=COMMITS(repo=repo, sha=commit["sha"]),
                updated_at=commit["committed_at"],
                payload=commit,
                request=f"git log {self.rev} ({checkout})",
            )
