"""Linear GraphQL connector: issues, comments, cycles and projects of the configured teams."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from flowsync_pipelines.ingest import EndpointSync
from flowsync_pipelines.landing import FetchedRecord, tombstone
from flowsync_pipelines.settings import SourceConfig
from flowsync_pipelines.sources.linear import LinearScopes
from resources.http import HttpClient, RequestStats
from resources.tool import ToolResource

MAX_PAGE_SIZE = 250  # Linear rejects ``first`` above 250

_USER = "id name displayName email"
# Selections mirror what each node carries; ``archivedAt`` is asked for wherever Linear has it,
# since with ``includeArchived`` it is how an archival shows up. An issue's ``history`` (its state
# changes, newest first) is what dates its past states; 50 entries cover all but the rarest.
_ISSUE_FIELDS = f"""
    id identifier number title description url priority priorityLabel estimate
    state {{ id name type color }}
    assignee {{ {_USER} }}
    creator {{ {_USER} }}
    team {{ id key name }}
    cycle {{ id number startsAt endsAt }}
    project {{ id name }}
    labels {{ nodes {{ id name color }} }}
    createdAt updatedAt startedAt completedAt canceledAt archivedAt dueDate branchName
    history(first: 50) {{
        nodes {{
            id createdAt actor {{ id }}
            fromState {{ id name type }} toState {{ id name type }}
        }}
        pageInfo {{ hasNextPage }}
    }}
"""
_COMMENT_FIELDS = """
    id body createdAt updatedAt archivedAt url
    user { id name displayName }
    issue { id identifier }
"""
# A closed cycle names the issues it still held unfinished (Linear then moves them to the next
# cycle, so their own ``cycle`` forgets this one). The first 250: a cycle closing with more
# unfinished issues than that is not a plan anyone reads, and its membership is left short.
_CYCLE_FIELDS = """
    id number name startsAt endsAt completedAt createdAt archivedAt progress
    team { id key name }
    uncompletedIssuesUponClose(first: 250) { nodes { id identifier } pageInfo { hasNextPage } }
"""
_PROJECT_FIELDS = f"""
    id name description slugId url state startDate targetDate createdAt updatedAt
    startedAt completedAt canceledAt archivedAt progress
    lead {{ {_USER} }}
    teams {{ nodes {{ id key name }} }}
"""


@dataclass(frozen=True)
class Connection:
    """One root connection of Linear's schema, and how a sync reads it."""

    name: str  # root field and landing kind
    filter_type: str
    fields: str
    # The filter limiting this connection to one team, given a filter on the team itself.
    by_team: Callable[[dict[str, Any]], dict[str, Any]]
    # Whether ``updatedAt`` moves whenever the node's content does. Cycles' progress and
    # completion are computed, so a cycle is re-read whole every sync (there are few).
    incremental: bool = True

    def query(self) -> str:
        order = "orderBy: updatedAt, " if self.incremental else ""
        return (
            f"query FlowSync_{self.name}($filter: {self.filter_type}, $first: Int!, "
            f"$after: String, $includeArchived: Boolean) {{\n"
            f"  {self.name}(filter: $filter, first: $first, after: $after, {order}"
            f"includeArchived: $includeArchived) {{\n"
            f"    nodes {{ {' '.join(self.fields.split())} }}\n"
            f"    pageInfo {{ hasNextPage endCursor }}\n"
            f"  }}\n}}"
        )

    def filter(self, team_key: str, since: datetime | None) -> dict[str, Any]:
        """Nodes of one team, updated at or after ``since`` when the connection is incremental."""
        condition = self.by_team({"key": {"eq": team_key}})
        if self.incremental and since is not None:
            stamp = since.astimezone(UTC).isoformat(timespec="milliseconds")
            condition["updatedAt"] = {"gte": stamp.replace("+00:00", "Z")}
        return condition


CONNECTIONS: dict[str, Connection] = {
    c.name: c
    for c in (
        Connection("issues", "IssueFilter", _ISSUE_FIELDS, lambda team: {"team": team}),
        Connection(
            "comments", "CommentFilter", _COMMENT_FIELDS, lambda team: {"issue": {"team": team}}
        ),
        Connection(
            "cycles", "CycleFilter", _CYCLE_FIELDS, lambda team: {"team": team}, incremental=False
        ),
        Connection(
            "projects",
            "ProjectFilter",
            _PROJECT_FIELDS,
            lambda team: {"accessibleTeams": {"some": team}},
        ),
    )
}


class LinearResource(ToolResource):
    """Reads the configured teams' issues, comments, cycles and projects from Linear's API."""

    base_url: str = "https://api.linear.app"
    teams: list[str] = Field(default_factory=list, description="Team keys, e.g. MOB")

    @classmethod
    def from_source(cls, source: SourceConfig) -> LinearResource:
        fields = cls.common_fields(source)
        fields["page_size"] = min(source.page_size, MAX_PAGE_SIZE)
        return cls(
            base_url=source.base_url or "https://api.linear.app",
            teams=list(source.scopes_of(LinearScopes).teams),
            **fields,
        )

    def connector(self, stats: RequestStats) -> LinearConnector:
        # A personal API key is sent bare; OAuth tokens would be "Bearer …".
        client = self.http_client(
            "linear",
            headers={"Authorization": self.token},
            stats=stats,
        )
        return LinearConnector(client, teams=self.teams, page_size=self.page_size)


class LinearConnector:
    source = "linear"

    def __init__(self, client: HttpClient, *, teams: list[str], page_size: int) -> None:
        self.client = client
        self.teams = teams
        self.page_size = page_size

    def endpoints(self) -> list[tuple[str, str]]:
        return [(team, name) for team in self.teams for name in CONNECTIONS]

    def fetch(self, sync: EndpointSync) -> Iterator[FetchedRecord]:
        """Nodes of one connection updated since the cursor, archived ones included.

        Linear has no ETag, so an unchanged team costs one query per connection that returns only
        the overlap window. ``includeArchived`` makes archivals visible: an archived node lands
        as itself (with ``archivedAt``) and as a tombstone.
        """
        connection = CONNECTIONS[sync.endpoint]
        variables = {
            "filter": connection.filter(sync.scope, sync.since()),
            "first": self.page_size,
            "includeArchived": True,
        }
        pages = self.client.paginate_graphql(
            "/graphql",
            query=connection.query(),
            variables=variables,
            connection=lambda data: data[connection.name],
        )
        for page in pages:
            for node in page.data["data"][connection.name]["nodes"]:
                updated = node.get("updatedAt")
                if connection.incremental:
                    sync.observe(updated)
                record_id = str(node.get("id"))
                yield FetchedRecord(
                    kind=connection.name,
                    scope=sync.scope,
                    record_id=record_id,
                    updated_at=updated or node.get("createdAt"),
                    payload=node,
                    request=page.url,
                )
                if node.get("archivedAt"):
                    yield tombstone(
                        connection.name,
                        sync.scope,
                        record_id,
                        deleted_at=node["archivedAt"],
                        reason="archived",
                        request=page.url,
                    )
