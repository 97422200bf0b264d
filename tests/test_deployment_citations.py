"""A deployment's statement cites that deployment: the page a status names (its log or target),
else the commit it deploys, else its GitLab deploy job — never the repository's deployments page.

Payloads are the tools' documented shapes (GitHub REST deployments and statuses, GitLab REST
deployments and the GitLab deployment webhook of the conformance corpus), normalised and derived
into statements on a real DuckDB warehouse."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from flowsync_pipelines import statements as st
from flowsync_pipelines import warehouse
from flowsync_pipelines.landing import FetchedRecord, landing_frame
from flowsync_pipelines.normalise import normalise

KEY = "citation-test-key"
AT = datetime(2026, 9, 10, 12, 0, 5, tzinfo=UTC)
DAY = date(2026, 9, 9)
API = "https://api.github.com/repos/acme/api"
SHA = {n: f"{n}" * 40 for n in "abcdef"}
USER = {"login": "octo-dev", "id": 501, "type": "User"}
# The GitLab deployment webhook of the conformance corpus (gitlab_webhooks/deployment.success.json),
# the fields the normaliser reads, its environment made production.
GITLAB_HOOK = {
    "object_kind": "deployment",
    "status": "success",
    "status_changed_at": "2026-09-09 11:50:00 +0200",
    "deployment_id": 15,
    "deployable_id": 796,
    "deployable_url": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796",
    "environment": "production",
    "project": {
        "id": 30,
        "web_url": "http://10.126.0.2:3000/root/test-deployment-webhooks",
        "path_with_namespace": "root/test-deployment-webhooks",
    },
    "user": {"id": 42, "name": "User1", "username": "user1", "email": "admin@example.com"},
    "commit_url": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/commit/"
    "279484c09fbe69ededfced8c1bb6e6d24616b468",
    "commit_title": "Add new file",
    "ref": "1.0.0",
}


def _record(source: str, kind: str, scope: str, n: int, payload: dict[str, Any]) -> FetchedRecord:
    return FetchedRecord(kind, scope, f"{scope}/{kind}/{n}", None, payload, f"{kind}-{n}")


def _github_deployment(dep_id: int, sha: str) -> dict[str, Any]:
    return {
        "url": f"{API}/deployments/{dep_id}",
        "id": dep_id,
        "sha": sha,
        "ref": "main",
        "environment": "production",
        "creator": USER,
        "created_at": "2026-09-09T09:00:00Z",
        "updated_at": "2026-09-09T09:05:00Z",
        "repository_url": API,
    }


def _github_status(dep_id: int, status_id: int, state: str, at: str, **urls: str) -> dict:
    return {
        "url": f"{API}/deployments/{dep_id}/statuses/{status_id}",
        "id": status_id,
        "state": state,
        "creator": USER,
        "environment": "production",
        "created_at": at,
        "updated_at": at,
        "deployment_url": f"{API}/deployments/{dep_id}",
        "repository_url": API,
        "target_url": "",
        "log_url": "",
        "environment_url": "",
        **urls,
    }


def _gitlab_deployment(dep_id: int, sha: str, job_url: str | None) -> dict[str, Any]:
    return {
        "id": dep_id,
        "iid": dep_id,
        "ref": "main",
        "sha": sha,
        "status": "success",
        "created_at": "2026-09-09T09:00:00.000Z",
        "updated_at": "2026-09-09T09:10:00.000Z",
        "user": {"id": 7, "username": "gl.dev", "name": "Gitte Lab"},
        "environment": {"id": 9001, "name": "production", "tier": "production"},
        "deployable": None
        if job_url is None
        else {
            "id": 901,
            "name": "deploy:production",
            "started_at": "2026-09-09T09:01:00.000Z",
            "finished_at": "2026-09-09T09:10:00.000Z",
            "web_url": job_url,
        },
    }


def _normalised() -> pl.DataFrame:
    github = [
        # 1: no status names a page of its own → the commit it deploys
        _record("github", "deployments", "acme/api", 1, _github_deployment(1, SHA["a"])),
        _record(
            "github",
            "deployment_statuses",
            "acme/api",
            11,
            _github_status(
                1, 11, "success", "2026-09-09T09:10:00Z", environment_url="https://api.acme.example"
            ),
        ),
        # 2: the log of its run → that log, even though a later status names none
        _record("github", "deployments", "acme/api", 2, _github_deployment(2, SHA["b"])),
        _record(
            "github",
            "deployment_statuses",
            "acme/api",
            21,
            _github_status(
                2,
                21,
                "in_progress",
                "2026-09-09T09:05:00Z",
                log_url="https://ci.acme.example/runs/21",
            ),
        ),
        _record(
            "github",
            "deployment_statuses",
            "acme/api",
            22,
            _github_status(2, 22, "success", "2026-09-09T09:10:00Z"),
        ),
    ]
    gitlab = [
        _record(
            "gitlab",
            "deployments",
            "acme/web",
            3,
            _gitlab_deployment(3, SHA["c"], "https://gitlab.com/acme/web/-/jobs/901"),
        ),
        _record("gitlab", "deployments", "acme/web", 4, _gitlab_deployment(4, SHA["d"], None)),
    ]
    bare = {**GITLAB_HOOK, "deployment_id": 16, "deployable_url": None}
    hooks = [
        FetchedRecord(
            "webhook:deployment",
            "root/test-deployment-webhooks",
            f"delivery-{n}",
            "2026-09-09T10:00:00+00:00",
            payload,
            f"delivery:delivery-{n}",
        )
        for n, payload in enumerate([GITLAB_HOOK, bare])
    ]
    frames = []
    for source, records in (("github", github), ("gitlab", gitlab), ("gitlab", hooks)):
        result = normalise(landing_frame(source, records, fetched_at=AT), pseudonym_key=KEY)
        assert result.quarantine.is_empty(), result.quarantine.to_dicts()
        frames.append(result.signals)
    return pl.concat(frames, how="vertical_relaxed")


def test_a_shipped_deployment_cites_its_own_page_else_the_commit_it_deploys(tmp_path) -> None:
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        warehouse.run_sql(con, "graph_schema")
        warehouse.insert_rows(con, "signals", _normalised())
        stated = st.derive(con, DAY, date(2026, 9, 10)).filter(
            pl.col("kind") == "deployment_shipped"
        )
    cited = {r["subject_id"]: r["citations"] for r in stated.iter_rows(named=True)}
    assert cited == {
        "acme/api/deployments/1": [f"https://github.com/acme/api/commit/{SHA['a']}"],
        "acme/api/deployments/2": ["https://ci.acme.example/runs/21"],
        "acme/web/deployments/3": ["https://gitlab.com/acme/web/-/jobs/901"],
        "acme/web/deployments/4": [f"https://gitlab.com/acme/web/-/commit/{SHA['d']}"],
        "root/test-deployment-webhooks/deployments/15": [
            "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796"
        ],
        "root/test-deployment-webhooks/deployments/16": [
            "http://10.126.0.2:3000/root/test-deployment-webhooks/-/commit/"
            "279484c09fbe69ededfced8c1bb6e6d24616b468"
        ],
    }
    assert not any(
        u.endswith(("/deployments", "/-/environments")) for c in cited.values() for u in c
    )
