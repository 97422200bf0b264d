"""Runs every simulation step in dependency order and finalises the result.

Simulation steps may schedule events past the end of the period (a merge that would happen
next week); clipping removes them so the world ends exactly at ``end``. Finalisation then
assigns everything that depends on global ordering: PR numbers, ids, merge-commit messages
and the default-branch history with parent links.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from datetime import datetime

from .clock import work_delay
from .conventions import DEMO, Conventions
from .ids import SequentialIds, git_sha, int_from
from .model import CiRun, Commit, PullRequest, Ticket, Timeline
from .org import ROLE_ENGINEER, ROLE_MANAGER, Organisation
from .sim_code import CodeSimulation
from .sim_deploy import simulate_deployments, simulate_releases
from .sim_design import simulate_design
from .sim_files import assign_commit_files
from .sim_incidents import simulate_sentry
from .sim_plans import plan_iterations, set_due_dates
from .sim_tickets import (
    add_ticket_comments,
    build_sprints,
    build_ticket_pool,
    close_untouched_backlog,
    progress_epics,
    simulate_github_issues,
    simulate_gitlab_issues,
)


def simulate(
    org: Organisation,
    seed: int,
    start: datetime,
    end: datetime,
    conventions: Conventions = DEMO,
) -> Timeline:
    sprints, cycles = build_sprints(seed, start, end)
    tickets, linear_projects = build_ticket_pool(org, seed, start, end)
    code = CodeSimulation(org, tickets, seed, start, end, conventions)
    pulls = code.run()
    close_untouched_backlog(org, tickets, seed, end)
    _hand_over_leaver_tickets(org, tickets, seed, end)
    set_due_dates(org, tickets, linear_projects, seed, start, end)
    progress_epics(tickets, end)
    for ticket in tickets:
        ticket.changes = [c for c in ticket.changes if c.at < end]
    plan_iterations(org, tickets, sprints, cycles, seed, end)

    pulls = _clip_pulls(pulls, end)
    runs = _clip_runs(code.ci.runs, end, {p.key for p in pulls})
    main_commits = _finalise_pulls(org, pulls, seed)
    assign_commit_files(
        {r.full_name: r for r in org.repos}, pulls, seed, conventions.modules_per_area
    )
    _finalise_runs(runs, seed)

    deployments = simulate_deployments(org, runs, main_commits, seed, start, end)
    for dep in deployments:
        dep.statuses = [s for s in dep.statuses if s[0] < end]
    _finalise_deployments(deployments, seed)
    pulls_by_key = {p.key: p for p in pulls}
    releases = simulate_releases(org, deployments, pulls_by_key, seed, end)
    for n, release in enumerate(sorted(releases, key=lambda r: r.created_at)):
        release.id = int_from(150_000_000, 160_000_000, seed, "release-first") + n * 9_113 + n % 7

    sentry_issues = simulate_sentry(org, deployments, main_commits, seed, start, end, conventions)
    figma_files, figma_comments = simulate_design(org, tickets, seed, start, end)
    return Timeline(
        tickets=sorted(tickets, key=lambda t: (t.created_at, t.key)),
        sprints=sprints,
        cycles=cycles,
        linear_projects=linear_projects,
        ticket_comments=add_ticket_comments(org, tickets, seed, end),
        pulls=pulls,
        main_commits=main_commits,
        ci_runs=runs,
        deployments=deployments,
        releases=releases,
        gitlab_issues=simulate_gitlab_issues(org, seed, start, end),
        github_issues=simulate_github_issues(org, pulls, seed, start, end),
        sentry_issues=sentry_issues,
        figma_files=figma_files,
        figma_comments=figma_comments,
    )


def _hand_over_leaver_tickets(
    org: Organisation, tickets: list[Ticket], seed: int, end: datetime
) -> None:
    """When someone leaves, their manager unassigns or reassigns what they still hold."""
    rng = random.Random(f"{seed}:handover")
    for person in org.people:
        if person.left_at is None or person.left_at >= end:
            continue
        manager = org.members_with_role(person.team or "", ROLE_MANAGER)[0]
        heirs = [
            p
            for p in org.members_with_role(person.team or "", ROLE_ENGINEER)
            if p.person_id != person.person_id
        ]
        for ticket in tickets:
            if ticket.current("assignee", ticket.initial_assignee) != person.person_id:
                continue
            if ticket.current("status", ticket.initial_status) in ("Done", "Canceled"):
                continue
            at = work_delay(person.left_at, manager.tz, rng, 20, 90)
            if at >= end:
                continue
            heir = rng.choice(heirs).person_id if rng.random() < 0.5 else None
            ticket.record(at, manager.person_id, "assignee", heir)
            ticket.taken = True


def _clip_pulls(pulls: list[PullRequest], end: datetime) -> list[PullRequest]:
    kept = []
    for pr in pulls:
        if pr.created_at >= end:
            continue
        pr.pushes = [p for p in pr.pushes if p.at < end]
        pr.requests = [r for r in pr.requests if r.at < end]
        pr.reviews = [r for r in pr.reviews if r.at < end]
        if pr.merged_at is not None and pr.merged_at >= end:
            pr.merged_at = pr.merged_by = pr.merge_commit = None
            pr.closed_at = pr.closed_by = None
        if pr.closed_at is not None and pr.closed_at >= end:
            pr.closed_at = pr.closed_by = None
        if pr.draft_until is not None and pr.draft_until >= end:
            pr.draft_until = None
        pr.pushes.sort(key=lambda p: p.at)
        pr.reviews.sort(key=lambda r: r.at)
        pr.requests.sort(key=lambda r: r.at)
        kept.append(pr)
    return kept


def _clip_runs(runs: list[CiRun], end: datetime, pr_keys: set[str]) -> list[CiRun]:
    kept = []
    for run in runs:
        if run.created_at >= end:
            continue
        run.attempts = [a for a in run.attempts if a.started_at < end] or run.attempts[:1]
        if run.pr_key not in pr_keys:
            run.pr_key = None  # a branch was pushed but its PR was never opened
        kept.append(run)
    kept_keys = {r.key for r in kept}
    return [r for r in kept if r.retry_of is None or r.retry_of in kept_keys]


def _finalise_pulls(
    org: Organisation, pulls: list[PullRequest], seed: int
) -> dict[str, list[Commit]]:
    gh_ids = SequentialIds(
        int_from(1_900_000_000, 2_100_000_000, seed, "gh-pr-id"), 40_000, "gh-pr"
    )
    gl_ids = SequentialIds(int_from(280_000_000, 320_000_000, seed, "gl-mr-id"), 9_000, "gl-mr")
    review_ids = SequentialIds(
        int_from(2_400_000_000, 2_600_000_000, seed, "review-id"), 30_000, "review"
    )
    by_repo: dict[str, list[PullRequest]] = {}
    for pr in pulls:
        by_repo.setdefault(pr.repo, []).append(pr)
    for host, sequence in (("github", gh_ids), ("gitlab", gl_ids)):
        ids = sequence.assign([(p.created_at, p.key) for p in pulls if p.host == host])
        for pr in pulls:
            if pr.host == host:
                pr.id = ids[pr.key]
    review_id_map = review_ids.assign(
        [(r.at, r.key) for p in pulls if p.host == "github" for r in p.reviews]
    )

    main_commits: dict[str, list[Commit]] = {}
    for repo_name, repo_pulls in by_repo.items():
        repo = org.repo(repo_name)
        repo_pulls.sort(key=lambda p: (p.created_at, p.key))
        for i, pr in enumerate(repo_pulls):
            pr.number = repo.pr_number_offset + i + 1
            if pr.merge_commit is not None:
                pr.merge_commit.message = (
                    f"Merge pull request #{pr.number} from {repo_name.split('/')[0]}/{pr.head_ref}"
                    f"\n\n{pr.title}"
                    if repo.host == "github"
                    else f"Merge branch '{pr.head_ref}' into 'main'\n\n{pr.title}\n\n"
                    f"See merge request {repo_name}!{pr.number}"
                )
            for review in pr.reviews:
                review.id = review_id_map.get(review.key, 0)
                review.commit_sha = pr.head_sha_at(review.at)

        # Default-branch history: each merge brings the PR's commits, then the merge commit.
        merged = sorted(
            (p for p in repo_pulls if p.merge_commit is not None), key=lambda p: p.merged_at
        )
        history: list[Commit] = []
        head = git_sha(seed, repo_name, "root")
        head_times: list[datetime] = []
        head_shas: list[str] = []
        for pr in merged:
            for push in pr.pushes:
                for commit in push.commits:
                    commit.on_main_at = pr.merged_at
                    commit.pr_key = pr.key
                    history.append(commit)
            merge = pr.merge_commit
            assert merge is not None and pr.merged_at is not None
            merge.on_main_at = pr.merged_at
            merge.parents = [head, pr.pushes[-1].head_sha]
            head = merge.sha
            history.append(merge)
            head_times.append(pr.merged_at)
            head_shas.append(merge.sha)
        main_commits[repo_name] = history

        root = git_sha(seed, repo_name, "root")
        for pr in repo_pulls:
            pr.base_sha = _head_at(pr.created_at, head_times, head_shas, root)
            previous = None
            for push in pr.pushes:
                for commit in push.commits:
                    commit.pr_key = pr.key
                    commit.parents = [
                        previous or _head_at(commit.authored_at, head_times, head_shas, root)
                    ]
                    previous = commit.sha
    return main_commits


def _head_at(at: datetime, times: list[datetime], shas: list[str], root: str) -> str:
    """The default-branch head commit at ``at`` (``times`` are merge instants, ascending)."""
    idx = bisect_right(times, at)
    return shas[idx - 1] if idx else root


def _finalise_runs(runs: list[CiRun], seed: int) -> None:
    ids = {
        "actions": SequentialIds(
            int_from(11_000_000_000, 12_000_000_000, seed, "run-id"), 900_000, "run"
        ),
        "gitlab": SequentialIds(
            int_from(1_300_000_000, 1_400_000_000, seed, "pipeline-id"), 60_000, "pipe"
        ),
    }
    for system, sequence in ids.items():
        mapping = sequence.assign([(r.created_at, r.key) for r in runs if r.system == system])
        for run in runs:
            if run.system == system:
                run.id = mapping[run.key]
    counters: dict[tuple[str, str], int] = {}
    for run in sorted(runs, key=lambda r: (r.created_at, r.key)):
        scope = (run.repo, run.job)
        if scope not in counters:
            counters[scope] = int_from(200, 2400, seed, "run-number", *scope)
        counters[scope] += 1
        run.number = counters[scope]


def _finalise_deployments(deployments: list, seed: int) -> None:
    ids = SequentialIds(
        int_from(1_500_000_000, 1_700_000_000, seed, "deploy-id"), 200_000, "deploy"
    )
    status_ids = SequentialIds(
        int_from(3_000_000_000, 3_200_000_000, seed, "status-id"), 400_000, "status"
    )
    mapping = ids.assign([(d.created_at, d.key) for d in deployments])
    status_map = status_ids.assign(
        [(at, f"{d.key}#{i}") for d in deployments for i, (at, _) in enumerate(d.statuses)]
    )
    iids: dict[str, int] = {}
    for dep in sorted(deployments, key=lambda d: (d.created_at, d.key)):
        dep.id = mapping[dep.key]
        dep.status_ids = [status_map[f"{dep.key}#{i}"] for i in range(len(dep.statuses))]
        iids[dep.repo] = iids.get(dep.repo, int_from(30, 400, seed, "deploy-iid", dep.repo)) + 1
        dep.iid = iids[dep.repo]
