"""How fast the demo world builds and renders (the sandboxes render on every request).

.venv/bin/python bench/simulator_speed.py
"""

from __future__ import annotations

import time

from flowsync_pipelines.simulator import build_world


def main() -> None:
    started = time.perf_counter()
    world = build_world(11)
    print(f"build_world: {time.perf_counter() - started:.2f} s")
    end = world.end
    started = time.perf_counter()
    for repo in world.github_repos():
        for render in (world.github_pulls, world.github_commits, world.github_workflow_runs):
            render(repo, end)
    for project in world.gitlab_projects():
        world.gitlab_merge_requests(project["id"], end)
        world.gitlab_pipelines(project["id"], end)
    world.jira_issues(end)
    world.linear_issues(end)
    print(f"render the main lists at the end of the period: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
