"""The public ``World``: an immutable simulated organisation rendered per tool and instant."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from .conventions import DEMO, Conventions
from .model import Timeline
from .org import JIRA_PROJECT_KEY, Organisation, Person, Team, build_organisation
from .render_circleci import CircleciRenderer
from .render_figma import FigmaRenderer
from .render_github import GithubRenderer
from .render_gitlab import GitlabRenderer
from .render_jenkins import JenkinsRenderer
from .render_jira import JiraRenderer
from .render_linear import LinearRenderer
from .render_pagerduty import PagerdutyRenderer
from .render_sentry import SentryRenderer
from .render_webhooks import ROUTES as WEBHOOK_ROUTES
from .render_webhooks import Delivery, deliveries
from .timeline import simulate
from .truth import build_config, build_ground_truth

DEFAULT_START = datetime(2026, 9, 1, tzinfo=UTC)
_JIRA_IN_PROGRESS = ("In Progress", "In Review")
_LINEAR_STARTED = ("In Progress", "In Review")


def _utc(as_of: datetime) -> datetime:
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware")
    return as_of.astimezone(UTC)


class World:
    """A deterministic demo organisation. Build it with :func:`build_world`.

    Every ``*_as_of``-style method returns only records that exist at ``as_of`` with their
    state at that instant; lists are sorted by id ascending unless a docstring says otherwise.
    Renderers are created on first use and cached; the world itself never changes.
    """

    def __init__(
        self,
        seed: int,
        start: datetime,
        end: datetime,
        organisation: Organisation,
        timeline: Timeline,
        conventions: Conventions = DEMO,
    ) -> None:
        self.seed = seed
        self.conventions = conventions
        self.start = start
        self.end = end
        self.organisation = organisation
        self.timeline = timeline
        self.jira_project_key: str = JIRA_PROJECT_KEY

    # --- organisation ---------------------------------------------------------------------

    @property
    def teams(self) -> list[Team]:
        return list(self.organisation.teams)

    @property
    def people(self) -> list[Person]:
        return list(self.organisation.people)

    # --- GitHub -----------------------------------------------------------------------------

    @cached_property
    def _github(self) -> GithubRenderer:
        return GithubRenderer(self.organisation, self.timeline, self.seed)

    def github_repos(self) -> list[str]:
        return sorted(r.full_name for r in self.organisation.repos if r.host == "github")

    def github_pulls(self, repo: str, as_of: datetime) -> list[dict[str, Any]]:
        """``GET /repos/{o}/{r}/pulls?state=all`` items."""
        return self._github.list_pulls(repo, _utc(as_of))

    def github_reviews(self, repo: str, number: int, as_of: datetime) -> list[dict[str, Any]]:
        return self._github.list_reviews(repo, number, _utc(as_of))

    def github_commits(self, repo: str, as_of: datetime) -> list[dict[str, Any]]:
        """Default-branch commits, newest first (as GitHub returns them)."""
        return self._github.list_commits(repo, _utc(as_of))

    def github_commit(self, repo: str, sha: str, as_of: datetime) -> dict[str, Any]:
        """``GET /repos/{o}/{r}/commits/{sha}``: the list item plus ``stats`` and ``files``.

        ``{}`` when the commit is not on the default branch at ``as_of``.
        """
        return self._github.commit_detail(repo, sha, _utc(as_of))

    def github_issues(self, repo: str, as_of: datetime) -> list[dict[str, Any]]:
        """``GET /repos/{o}/{r}/issues?state=all`` items by number: issues and, as GitHub lists
        them there too, pull requests (with a ``pull_request`` key)."""
        return self._github.list_issues(repo, _utc(as_of))

    def github_check_runs(self, repo: str, sha: str, as_of: datetime) -> list[dict[str, Any]]:
        """``GET /repos/{o}/{r}/commits/{sha}/check-runs`` items (``[]`` for most commits)."""
        return self._github.check_runs(repo, sha, _utc(as_of))

    def github_workflow_runs(self, repo: str, as_of: datetime) -> list[dict[str, Any]]:
        return self._github.list_workflow_runs(repo, _utc(as_of))

    def github_deployments(self, repo: str, as_of: datetime) -> list[dict[str, Any]]:
        return self._github.list_deployments(repo, _utc(as_of))

    def github_deployment_statuses(
        self, repo: str, deployment_id: int, as_of: datetime
    ) -> list[dict[str, Any]]:
        return self._github.list_deployment_statuses(repo, deployment_id, _utc(as_of))

    def github_releases(self, repo: str, as_of: datetime) -> list[dict[str, Any]]:
        return self._github.list_releases(repo, _utc(as_of))

    # --- Jira -------------------------------------------------------------------------------

    @cached_property
    def _jira(self) -> JiraRenderer:
        return JiraRenderer(self.organisation, self.timeline, self.seed)

    def jira_issues(self, as_of: datetime) -> list[dict[str, Any]]:
        """``/rest/api/3/search?expand=changelog`` issues, id ascending."""
        return self._jira.issues(_utc(as_of))

    def jira_issue_changelog(self, key: str, as_of: datetime) -> list[dict[str, Any]]:
        """All changelog histories of one issue, oldest first (for paging)."""
        return self._jira.issue_changelog(key, _utc(as_of))

    def jira_board(self) -> dict[str, Any]:
        return self._jira.board()

    def jira_sprints(self, as_of: datetime) -> list[dict[str, Any]]:
        return self._jira.sprints_at(_utc(as_of))

    def jira_epics(self, as_of: datetime) -> list[dict[str, Any]]:
        return self._jira.epics_at(_utc(as_of))

    def jira_users(self) -> list[dict[str, Any]]:
        """All Jira accounts (people and the automation app) at the end, by accountId."""
        return self._jira.users(self.end)

    # --- GitLab -----------------------------------------------------------------------------

    @cached_property
    def _gitlab(self) -> GitlabRenderer:
        return GitlabRenderer(self.organisation, self.timeline, self.seed)

    def gitlab_projects(self) -> list[dict[str, Any]]:
        """``{id, path_with_namespace, web_url, ...}`` per GitLab project, by id."""
        return self._gitlab_projects

    @cached_property
    def _gitlab_projects(self) -> list[dict[str, Any]]:
        # Every GitLab request finds its project here: listing them reads every merge request.
        return self._gitlab.projects_list()

    def gitlab_merge_requests(self, project_id: int, as_of: datetime) -> list[dict[str, Any]]:
        return self._gitlab.list_merge_requests(project_id, _utc(as_of))

    def gitlab_mr_approvals(self, project_id: int, mr_iid: int, as_of: datetime) -> dict[str, Any]:
        """``{}`` if the merge request does not exist at ``as_of``."""
        return self._gitlab.approvals(project_id, mr_iid, _utc(as_of))

    def gitlab_mr_notes(
        self, project_id: int, mr_iid: int, as_of: datetime
    ) -> list[dict[str, Any]]:
        return self._gitlab.notes_for(project_id, mr_iid, _utc(as_of))

    def gitlab_pipelines(self, project_id: int, as_of: datetime) -> list[dict[str, Any]]:
        return self._gitlab.list_pipelines(project_id, _utc(as_of))

    def gitlab_jobs(
        self, project_id: int, pipeline_id: int, as_of: datetime
    ) -> list[dict[str, Any]]:
        """Jobs of the pipeline's latest attempt (retried jobs are hidden, as by default)."""
        return self._gitlab.jobs(project_id, pipeline_id, _utc(as_of))

    def gitlab_deployments(self, project_id: int, as_of: datetime) -> list[dict[str, Any]]:
        return self._gitlab.list_deployments(project_id, _utc(as_of))

    def gitlab_issues(self, project_id: int, as_of: datetime) -> list[dict[str, Any]]:
        return self._gitlab.list_issues(project_id, _utc(as_of))

    def gitlab_commits(self, project_id: int, as_of: datetime) -> list[dict[str, Any]]:
        """Default-branch commits, newest first (as GitLab returns them)."""
        return self._gitlab.list_commits(project_id, _utc(as_of))

    def gitlab_commit_diff(
        self, project_id: int, sha: str, as_of: datetime
    ) -> list[dict[str, Any]]:
        """``GET /projects/:id/repository/commits/:sha/diff``; ``[]`` for an unknown commit."""
        return self._gitlab.commit_diff(project_id, sha, _utc(as_of))

    # --- Linear -----------------------------------------------------------------------------

    @cached_property
    def _linear(self) -> LinearRenderer:
        return LinearRenderer(self.organisation, self.timeline, self.seed)

    def linear_issues(self, as_of: datetime) -> list[dict[str, Any]]:
        """Issue nodes sorted by number (ids are uuids)."""
        return self._linear.issues(_utc(as_of))

    def linear_comments(self, as_of: datetime) -> list[dict[str, Any]]:
        """Comment nodes sorted by creation time."""
        return self._linear.comments_at(_utc(as_of))

    def linear_cycles(self, as_of: datetime) -> list[dict[str, Any]]:
        """Cycle nodes sorted by number."""
        return self._linear.cycles_at(_utc(as_of))

    def linear_projects(self, as_of: datetime) -> list[dict[str, Any]]:
        """Project nodes sorted by creation time."""
        return self._linear.projects_at(_utc(as_of))

    def linear_users(self) -> list[dict[str, Any]]:
        return self._linear.users()

    # --- Sentry -----------------------------------------------------------------------------

    @cached_property
    def _sentry(self) -> SentryRenderer:
        return SentryRenderer(
            self.organisation, self.timeline, self.seed, self.conventions.sentry_slug_style
        )

    def sentry_slug(self, service: str) -> str:
        """The Sentry project slug of a service (its repository name, or as conventions say)."""
        return self._sentry.slug(service)

    def sentry_projects(self) -> list[dict[str, Any]]:
        """One project per service (slug as the conventions name it), by numeric id."""
        return self._sentry.projects()

    def sentry_issues(self, project_slug: str, as_of: datetime) -> list[dict[str, Any]]:
        """Issues by numeric id ascending (ids are strings of digits)."""
        return self._sentry.issues_at(project_slug, _utc(as_of))

    def sentry_issue_details(self, issue_id: str, as_of: datetime) -> dict[str, Any]:
        """``{}`` if the issue does not exist yet at ``as_of``; else with its ``activity``."""
        return self._sentry.issue_details(issue_id, _utc(as_of))

    def sentry_latest_event(self, issue_id: str, as_of: datetime) -> dict[str, Any]:
        """``{}`` if the issue has no event yet at ``as_of``."""
        return self._sentry.latest_event(issue_id, _utc(as_of))

    def sentry_releases(self, project_slug: str, as_of: datetime) -> list[dict[str, Any]]:
        """Releases sorted by dateCreated (versions are strings)."""
        return self._sentry.releases(project_slug, _utc(as_of))

    def sentry_deploys(self, release_version: str, as_of: datetime) -> list[dict[str, Any]]:
        """Deploys of one release sorted by dateStarted."""
        return self._sentry.deploys(release_version, _utc(as_of))

    # --- Figma ------------------------------------------------------------------------------

    @cached_property
    def _figma(self) -> FigmaRenderer:
        return FigmaRenderer(self.organisation, self.timeline, self.seed)

    def figma_files(self) -> list[dict[str, Any]]:
        """Design files, by key."""
        return self._figma.list_files()

    def figma_comments(self, file_key: str, as_of: datetime) -> list[dict[str, Any]]:
        return self._figma.list_comments(file_key, _utc(as_of))

    # --- Jenkins ----------------------------------------------------------------------------

    @cached_property
    def _jenkins(self) -> JenkinsRenderer:
        return JenkinsRenderer(self.organisation, self.timeline, self.seed)

    def jenkins_jobs(self) -> list[str]:
        return self._jenkins.jobs()

    def jenkins_builds(self, job: str, as_of: datetime) -> list[dict[str, Any]]:
        """Builds that had started by ``as_of``, number ascending (result null while building)."""
        return self._jenkins.list_builds(job, _utc(as_of))

    # --- CircleCI ---------------------------------------------------------------------------

    @cached_property
    def _circleci(self) -> CircleciRenderer:
        return CircleciRenderer(self.organisation, self.timeline, self.seed)

    def circleci_projects(self) -> list[str]:
        """Project slugs (``gh/acme/mobile-bff``) of repositories whose CI is CircleCI."""
        return self._circleci.projects()

    def circleci_pipelines(self, slug: str, as_of: datetime) -> list[dict[str, Any]]:
        """``GET /api/v2/project/{slug}/pipeline`` items created by ``as_of``, newest first."""
        return self._circleci.pipelines(slug, _utc(as_of))

    def circleci_workflows(self, pipeline_id: str, as_of: datetime) -> list[dict[str, Any]] | None:
        """``GET /api/v2/pipeline/{id}/workflow`` items; None for a pipeline unknown at as_of."""
        return self._circleci.workflows(pipeline_id, _utc(as_of))

    def circleci_jobs(self, workflow_id: str, as_of: datetime) -> list[dict[str, Any]] | None:
        """``GET /api/v2/workflow/{id}/job`` items; None for a workflow unknown at as_of."""
        return self._circleci.jobs(workflow_id, _utc(as_of))

    # --- PagerDuty --------------------------------------------------------------------------

    @cached_property
    def _pagerduty(self) -> PagerdutyRenderer:
        return PagerdutyRenderer(
            self.organisation, self.timeline, self.seed, enabled=self.conventions.pagerduty
        )

    def pagerduty_services(self) -> list[str]:
        """Service ids of the PagerDuty account, one per repository service; none when the
        organisation does not page through PagerDuty (``conventions.pagerduty``)."""
        return self._pagerduty.services()

    def pagerduty_incidents(self, service_id: str | None, as_of: datetime) -> list[dict[str, Any]]:
        """``GET /incidents`` items created by ``as_of`` (one service or all), oldest first."""
        return self._pagerduty.incidents(service_id, _utc(as_of))

    def pagerduty_log_entries(
        self, incident_id: str, as_of: datetime
    ) -> list[dict[str, Any]] | None:
        """``GET /incidents/{id}/log_entries`` items, newest first; None if unknown at as_of."""
        return self._pagerduty.log_entries(incident_id, _utc(as_of))

    def pagerduty_webhooks(self, as_of: datetime) -> list[dict[str, Any]]:
        """V3 webhook bodies of every incident change by ``as_of``, in time order."""
        return self._pagerduty.webhook_events(_utc(as_of))

    # --- webhooks ---------------------------------------------------------------------------

    def webhook_deliveries(
        self,
        *,
        sources: Sequence[str] = WEBHOOK_ROUTES,
        start: datetime | None = None,
        end: datetime | None = None,
        teams: Iterable[str] | None = None,
    ) -> list[Delivery]:
        """The signed-to-be webhook deliveries of GitHub, Jira and Sentry, oldest first.

        See :func:`flowsync_pipelines.simulator.render_webhooks.deliveries`.
        """
        return deliveries(self, sources=sources, start=start, end=end, teams=teams)

    # --- timeline-derived metrics (computed without rendering) -----------------------------

    def open_pull_requests(
        self, as_of: datetime, *, team: str | None = None, host: str = "github"
    ) -> int:
        """PRs/MRs created <= as_of and neither merged nor closed at as_of."""
        as_of = _utc(as_of)
        if host not in ("github", "gitlab", "all"):
            raise ValueError(f"unknown host {host!r}")
        count = 0
        for pr in self.timeline.pulls:
            if host != "all" and pr.host != host:
                continue
            if team is not None and self.organisation.person(pr.author).team != team:
                continue
            if pr.is_open(as_of):
                count += 1
        return count

    def tickets_in_progress(self, as_of: datetime, *, team: str | None = None) -> int:
        """Jira (indeterminate) + Linear (started) tickets at as_of, epics included."""
        as_of = _utc(as_of)
        count = 0
        for ticket in self.timeline.tickets:
            if ticket.created_at > as_of or (team is not None and ticket.team != team):
                continue
            started = _JIRA_IN_PROGRESS if ticket.tracker == "jira" else _LINEAR_STARTED
            if ticket.status_at(as_of) in started:
                count += 1
        return count

    # --- ground truth and configuration ---------------------------------------------------

    def ground_truth(self) -> dict[str, Any]:
        return build_ground_truth(self)

    def write_ground_truth(self, path: str | Path) -> None:
        Path(path).write_text(
            json.dumps(self.ground_truth(), sort_keys=True, indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )

    def config(self, base_urls: dict[str, str]) -> dict[str, Any]:
        return build_config(self, base_urls)


def build_world(
    seed: int = 7,
    start: datetime = DEFAULT_START,
    days: int = 60,
    conventions: Conventions = DEMO,
) -> World:
    """Simulate ``days`` days of Acme from ``start`` (inclusive) with the given seed.

    ``conventions`` are the organisation's habits (:mod:`.conventions`); the default,
    :data:`~.conventions.DEMO`, is the demo organisation.
    """
    start = _utc(start)
    if days < 1:
        raise ValueError("days must be >= 1")
    end = start + timedelta(days=days)
    organisation = build_organisation(seed, start, days, conventions)
    timeline = simulate(organisation, seed, start, end, conventions)
    return World(seed, start, end, organisation, timeline, conventions)
