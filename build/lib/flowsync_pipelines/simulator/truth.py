"""Ground truth (what really happened, for scoring FlowSync) and the org's flowsync config."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .clock import iso_z
from .org import ORG_SLUG, ROLE_MANAGER, Person
from .sim_plans import PlanOutcome, epic_outcomes, sprint_outcomes

if TYPE_CHECKING:
    from .world import World

ACCOUNT_TOOLS = ("github", "gitlab", "jira", "linear", "figma", "sentry")


def _ts(t: datetime | None) -> str | None:
    return iso_z(t) if t is not None else None


def _person(person: Person) -> dict[str, Any]:
    accounts: dict[str, Any] = {tool: person.accounts.get(tool) for tool in ACCOUNT_TOOLS}
    accounts["emails"] = list(person.emails)
    if "figma" in person.accounts:
        accounts["figma_handle"] = person.name
    return {
        "person_id": person.person_id,
        "name": person.name,
        "team": person.team,
        "role": person.role,
        "timezone": person.tz,
        "is_bot": person.is_bot,
        "left_at": _ts(person.left_at),
        "work_email": person.work_email,
        "accounts": accounts,
    }


def identity_cluster(person: Person) -> list[str]:
    """Every "tool:account" string that belongs to this person (emails as "email:...")."""
    out = [f"{tool}:{person.accounts[tool]}" for tool in ACCOUNT_TOOLS if tool in person.accounts]
    out += [f"email:{email}" for email in person.emails]
    return out


def _plan(o: PlanOutcome) -> dict[str, Any]:
    return {
        "subject_id": o.subject_id,
        "tracker": o.tracker,
        "team": o.team,
        "starts_at": _ts(o.starts_at),
        "due_at": _ts(o.due_at),
        "scope": o.scope,
        "added": o.added,
        "not_done": o.not_done,
        "missed": o.missed,
    }


def build_ground_truth(world: World) -> dict[str, Any]:
    tl = world.timeline
    org = world.organisation
    bots = {p.person_id for p in org.people if p.is_bot}
    deployments_by_key = {d.key: d for d in tl.deployments}
    pulls_by_key = {p.key: p for p in tl.pulls}
    pulls = sorted(tl.pulls, key=lambda p: (p.host, p.repo, p.number))
    run_numbers = {r.key: r.number for r in tl.ci_runs}
    files_by_sha = {c.sha: c.files for commits in tl.main_commits.values() for c in commits}
    sentry = world._sentry

    def changed_files(shas: list[str]) -> list[str]:
        return sorted({f for sha in shas for f in files_by_sha.get(sha, [])})

    def dep_ref(key: str | None) -> dict[str, Any] | None:
        if key is None:
            return None
        dep = deployments_by_key[key]
        return {
            "host": dep.host,
            "repo": dep.repo,
            "deployment_id": dep.id,
            "environment": dep.environment,
            "sha": dep.sha,
        }

    return {
        "seed": world.seed,
        "start": _ts(world.start),
        "end": _ts(world.end),
        "organisation": ORG_SLUG,
        "conventions": world.conventions.as_dict(),
        "teams": [
            {
                "key": t.key,
                "name": t.name,
                "timezone": t.tz,
                "repos": list(t.repos),
                "jira_component": t.jira_component,
                "linear_team_key": t.linear_team_key,
                "members": list(t.members),
            }
            for t in org.teams
        ],
        "people": [_person(p) for p in org.people],
        "identity_clusters": {p.person_id: identity_cluster(p) for p in org.people},
        "ticket_links": [
            {
                "host": p.host,
                "repo": p.repo,
                "number": p.number,
                "ticket_key": p.ticket_key,
                "where": p.link_where,
            }
            for p in pulls
        ],
        "pull_requests": [
            {
                "host": p.host,
                "repo": p.repo,
                "number": p.number,
                "author": p.author,
                "is_bot_author": p.author in bots,
                "title": p.title,
                "head_ref": p.head_ref,
                "created_at": _ts(p.created_at),
                "merged_at": _ts(p.merged_at),
                "closed_at": _ts(p.closed_at),
                "first_review_at": _ts(p.first_human_review_at(bots)),
                "ticket_key": p.ticket_key,
                "link_where": p.link_where,
                "merge_commit_sha": p.merge_commit.sha if p.merge_commit else None,
            }
            for p in pulls
        ],
        "deployments": [
            {
                "host": d.host,
                "repo": d.repo,
                "service": d.service,
                "deployment_id": d.id,
                "environment": d.environment,
                "sha": d.sha,
                "created_at": _ts(d.created_at),
                "status": d.statuses[-1][1] if d.statuses else "pending",
                "shipped_shas": list(d.shipped_shas),
                "pull_requests": sorted(pulls_by_key[k].number for k in d.pr_keys),
                "release_version": d.release_version,
                "changed_files": changed_files(d.shipped_shas),
            }
            for d in sorted(tl.deployments, key=lambda d: d.id)
        ],
        "incident_causes": [
            {
                "sentry_issue_id": s.id,
                "project": sentry.slug(s.project),
                "service": s.project,
                "first_seen": _ts(s.first_seen),
                "resolved_at": _ts(s.resolved_at),
                "cause_deployment": dep_ref(s.cause_deployment),
                "culprit_file": s.filename,
                "late_manifest": s.late_manifest,
                "release_when_first_seen": sentry.release_at(s.project, s.first_seen),
            }
            for s in sorted(tl.sentry_issues, key=lambda s: int(s.id))
        ],
        "design_comment_links": {c.id: c.ticket_key for c in tl.figma_comments},
        # Plans and whether they were met (missed: None while due after the period's end).
        "sprints": [
            _plan(o) for o in sprint_outcomes(tl.tickets, tl.sprints, tl.cycles, world.end)
        ],
        "epics": [_plan(o) for o in epic_outcomes(tl.tickets, tl.linear_projects, world.end)],
        "tickets": [
            {
                "key": t.key,
                "tracker": t.tracker,
                "team": t.team,
                "kind": t.kind,
                "created_at": _ts(t.created_at),
                "status_at_end": t.status_at(world.end),
                "assignee_at_end": t.assignee_at(world.end),
                "parent": t.parent_key,
                "due_date": t.due_date,
            }
            for t in tl.tickets
        ],
        "ci_runs": [
            {
                "system": r.system,
                "repo": r.repo,
                "job": r.job,
                "id": r.id,
                "number": r.number,
                "sha": r.sha,
                "branch": r.branch,
                "flaky": r.flaky,
                "retry_of_number": run_numbers.get(r.retry_of or ""),
                "attempts": [a.conclusion for a in r.attempts],
            }
            for r in sorted(tl.ci_runs, key=lambda r: (r.system, r.repo, r.job, r.number))
        ],
    }


def build_config(world: World, base_urls: dict[str, str]) -> dict[str, Any]:
    """The flowsync.yaml an admin of this organisation would write (as a dict)."""
    org = world.organisation
    repos = sorted(org.repos, key=lambda r: r.full_name)
    source_specs: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
        ("github", "GITHUB_TOKEN", {"repos": world.github_repos()}, {}),
        (
            "gitlab",
            "GITLAB_TOKEN",
            {
                "projects": [
                    {"id": r.numeric_id, "path": r.full_name} for r in repos if r.host == "gitlab"
                ]
            },
            {},
        ),
        ("jira", "JIRA_TOKEN", {"projects": [world.jira_project_key]}, {"board_id": 1}),
        (
            "linear",
            "LINEAR_API_KEY",
            {"teams": [t.linear_team_key for t in org.teams if t.linear_team_key]},
            {},
        ),
        (
            "sentry",
            "SENTRY_TOKEN",
            {"organization": ORG_SLUG, "projects": [world.sentry_slug(r.service) for r in repos]},
            {},
        ),
        ("figma", "FIGMA_TOKEN", {"files": [f.key for f in world.timeline.figma_files]}, {}),
        ("jenkins", "JENKINS_TOKEN", {"jobs": world.jenkins_jobs()}, {}),
        ("circleci", "CIRCLECI_TOKEN", {"projects": world.circleci_projects()}, {}),
        ("pagerduty", "PAGERDUTY_TOKEN", {"services": world.pagerduty_services()}, {}),
    ]
    sources = []
    for name, token_env, scopes, extra in source_specs:
        if name not in base_urls or (name == "circleci" and not scopes["projects"]):
            continue  # CircleCI only where a repository uses it (none in the demo)
        if name == "pagerduty" and not scopes["services"]:
            continue  # only an organisation that pages through PagerDuty (not the demo's)
        sources.append(
            {
                "name": name,
                "type": name,
                "base_url": base_urls[name],
                "token_env": token_env,
                "scopes": scopes,
                **extra,
            }
        )

    teams = []
    for team in org.teams:
        members = []
        for pid in team.members:
            person = org.person(pid)
            entry: dict[str, Any] = {"name": person.name, "email": person.work_email}
            for tool in ("github", "gitlab", "jira", "linear"):
                if tool in person.accounts:
                    entry[tool] = person.accounts[tool]
            members.append(entry)
        item: dict[str, Any] = {
            "key": team.key,
            "name": team.name,
            "timezone": team.tz,
            "repos": list(team.repos),
        }
        if team.jira_component:
            item["jira_components"] = [team.jira_component]
        if team.linear_team_key:
            item["linear_teams"] = [team.linear_team_key]
        if world.conventions.members_configured:
            item["members"] = members
        teams.append(item)

    digests = [
        {
            "team": team.key,
            "role": ROLE_MANAGER,
            "channels": ["markdown", "slack"],
            "slack_channel": team.slack_channel,
            "send_at": "09:00",
        }
        for team in org.teams
    ]
    return {
        "organisation": ORG_SLUG,
        "start_date": world.start.date().isoformat(),
        "sources": sources,
        "teams": teams,
        "digests": digests,
    }
