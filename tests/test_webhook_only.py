"""Webhook-only sources (``receive: webhooks``), and deliveries landed on the days they are about.

A real gateway process receives signed deliveries; the sensor is evaluated against a real Dagster
instance and the runs it requests are executed with the Definitions ``flowsync.yaml`` builds.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import pytest
import yaml

from flowsync_pipelines.definitions import build_definitions
from flowsync_pipelines.instance import prepare_dagster_home
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.partitions import range_tags
from flowsync_pipelines.settings import load_config
from flowsync_pipelines.webhooks.harness import GatewayProcess, sign
from flowsync_pipelines.webhooks.queue import DeliveryQueue
from flowsync_pipelines.webhooks.sensor import WEBHOOK_JOB
from resources.stores import MetadataResource

SECRETS = {"github": "gh-hook-secret", "jira": "jira-hook-secret", "sentry": "sentry-hook-secret"}
SECRET_ENVS = {
    "github": "GH_HOOK_SECRET",
    "jira": "JIRA_HOOK_SECRET",
    "sentry": "SENTRY_HOOK_SECRET",
}
SITE = "https://acme.atlassian.net"
# Three past days the deliveries are about; every one of them is received today.
PR_DAY, TICKET_DAY, INCIDENT_DAY = "2026-03-02", "2026-03-04", "2026-03-05"


def webhook_only_config(path: Path, **extra: Any) -> Path:
    """GitHub, Jira and Sentry as webhook-only sources; a team with no members."""
    config = {
        "organisation": "acme",
        "start_date": "2026-03-01",
        "sources": [
            {
                "name": name,
                "type": name,
                "receive": "webhooks",
                "webhook_secret_env": SECRET_ENVS[name],
            }
            for name in ("github", "jira", "sentry")
        ],
        "teams": [
            {
                "key": "payments",
                "name": "Payments",
                "repos": ["acme/api"],
                "jira_components": ["refunds"],
            }
        ],
        "digests": [{"team": "payments"}],
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def pull_request_opened() -> tuple[str, dict[str, Any]]:
    pull = {
        "id": 7007,
        "number": 7,
        "html_url": "https://github.com/acme/api/pull/7",
        "title": "PAY-42 refund partial captures",
        "state": "open",
        "draft": False,
        "created_at": f"{PR_DAY}T09:00:00Z",
        "updated_at": f"{PR_DAY}T09:00:00Z",
        "closed_at": None,
        "merged_at": None,
        "user": {"login": "dev-one", "id": 1, "type": "User"},
        "head": {"ref": "PAY-42-refunds", "sha": "f00"},
        "base": {"ref": "main", "repo": {"full_name": "acme/api"}},
    }
    body = {
        "action": "opened",
        "number": 7,
        "pull_request": pull,
        "repository": {"full_name": "acme/api"},
    }
    return "pull_request", body


def ticket_transitioned() -> dict[str, Any]:
    moved_at = datetime.fromisoformat(f"{TICKET_DAY}T14:30:00+00:00")
    ana = {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Ana Silva", "active": True}
    return {
        "timestamp": int(moved_at.timestamp() * 1000),  # epoch milliseconds, as Jira sends it
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": ana,
        "issue": {
            "id": "10042",
            "key": "PAY-42",
            "self": f"{SITE}/rest/api/2/issue/10042",
            "fields": {
                "summary": "Refund fails for partial captures",
                "project": {"key": "PAY", "name": "Payments"},
                "issuetype": {"name": "Bug"},
                "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
                "assignee": ana,
                "reporter": ana,
                "components": [{"name": "refunds"}],
                "created": "2026-03-01T09:15:00.000+0000",
                "updated": f"{TICKET_DAY}T14:30:00.000+0000",
            },
        },
        "changelog": {
            "id": "1",
            "items": [{"field": "status", "fromString": "To Do", "toString": "In Progress"}],
        },
    }


def incident_created() -> dict[str, Any]:
    return {
        "action": "created",
        "installation": {"uuid": "inst-1"},
        "actor": {"type": "application", "id": "sentry", "name": "Sentry"},
        "data": {
            "issue": {
                "id": "4501",
                "shortId": "CHECKOUT-1A",
                "title": "TypeError: Cannot read properties of undefined (reading 'amount')",
                "culprit": "app/checkout/pay",
                "web_url": "https://acme.sentry.io/issues/4501/",
                "level": "error",
                "status": "unresolved",
                "substatus": "new",
                "count": "1",
                "userCount": 1,
                "firstSeen": f"{INCIDENT_DAY}T08:00:00Z",
                "lastSeen": f"{INCIDENT_DAY}T08:05:00Z",
                "project": {
                    "id": "7",
                    "name": "Checkout",
                    "slug": "checkout",
                    "platform": "javascript",
                },
                "assignedTo": None,
            }
        },
    }


@dataclass
class Home:
    """A FlowSync home with a webhook-only configuration and its gateway running."""

    path: Path
    config_file: Path
    metadata_url: str
    gateway: GatewayProcess

    def send(
        self,
        route: str,
        document: dict[str, Any],
        *,
        event: str | None = None,
        delivery_id: str | None = None,
    ) -> str:
        delivery_id = (
            delivery_id or f"{route}-{abs(hash(json.dumps(document)))}-{os.urandom(4).hex()}"
        )
        body, headers = sign(route, document, SECRETS[route], event=event, delivery_id=delivery_id)
        response = httpx.post(f"{self.gateway.url}/webhooks/{route}", content=body, headers=headers)
        assert response.status_code in (200, 202), response.text
        return delivery_id

    def send_the_three_days(self) -> dict[str, str]:
        event, pull = pull_request_opened()
        return {
            "pull": self.send("github", pull, event=event),
            "ticket": self.send("jira", ticket_transitioned()),
            "incident": self.send("sentry", incident_created(), event="issue"),
        }

    def definitions(self) -> dg.Definitions:
        return build_definitions(home=self.path, config_file=self.config_file)

    def tick(self, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
        sensor = self.definitions().resolve_sensor_def("webhook_queue_sensor")
        context = dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            resources={"metadata": MetadataResource(url=self.metadata_url)},
        )
        result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        return result

    def execute(self, instance: dg.DagsterInstance, requests: list[dg.RunRequest]) -> None:
        """Run what the sensor asked for, as the daemon would: the job, with the request's tags."""
        job = self.definitions().resolve_job_def(WEBHOOK_JOB)
        for request in requests:
            result = job.execute_in_process(
                instance=instance, partition_key=request.partition_key, tags=request.tags
            )
            assert result.success

    def signals(self) -> set[tuple[str, str, str, str, str | None]]:
        """(event id, entity, action, UTC day, actor) of every signal; none before any run."""
        if not (self.path / "flowsync.duckdb").exists():
            return set()
        with duckdb.connect(str(self.path / "flowsync.duckdb"), read_only=True) as con:
            rows = con.execute(
                "SELECT event_id, entity_id, action, strftime(occurred_at AT TIME ZONE 'UTC', "
                "'%Y-%m-%d'), actor FROM signals"
            ).fetchall()
        return set(rows)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    for name, env in SECRET_ENVS.items():
        monkeypatch.setenv(env, SECRETS[name])
    config_file = webhook_only_config(tmp_path / "flowsync.yaml")
    url = f"sqlite:///{tmp_path}/metadata.sqlite"
    gateway = GatewayProcess(
        home=tmp_path,
        config_file=config_file,
        metadata_url=url,
        env={env: SECRETS[name] for name, env in SECRET_ENVS.items()},
    )
    with gateway:
        yield Home(tmp_path, config_file, url, gateway)


def test_a_webhook_only_source_needs_no_url_or_token_and_is_never_polled(tmp_path: Path):
    config_file = tmp_path / "flowsync.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "start_date": "2026-03-01",
                "sources": [
                    {
                        "name": "github",
                        "type": "github",
                        "receive": "webhooks",
                        "webhook_secret_env": "GH_HOOK_SECRET",
                    },
                    {"name": "jira", "type": "jira", "base_url": SITE, "token_env": "JIRA_TOKEN"},
                ],
            }
        )
    )
    config = load_config(config_file)
    github, jira = config.sources
    assert (github.receive, github.polls, github.receives_webhooks) == ("webhooks", False, True)
    assert (jira.receive, jira.polls, jira.receives_webhooks) == ("poll", True, False)

    defs = build_definitions(home=tmp_path, config_file=config_file)
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert "github_landing" not in keys
    assert {"jira_landing", "webhook_landing", "signals"} <= keys
    assert "github" not in defs.resources and "jira" in defs.resources
    daily = defs.resolve_job_def("daily_refresh")
    daily_keys = {key.to_user_string() for key in daily.asset_layer.selected_asset_keys}
    assert "jira_landing" in daily_keys and "webhook_landing" in daily_keys
    assert not any(key.startswith("github") for key in daily_keys)
    assert defs.resolve_sensor_def("webhook_queue_sensor") is not None


def test_receive_defaults_to_both_with_a_webhook_secret_and_to_poll_without(tmp_path: Path):
    config_file = tmp_path / "flowsync.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "name": "github",
                        "type": "github",
                        "token_env": "T",
                        "webhook_secret_env": "S",
                    },
                    {
                        "name": "sentry",
                        "type": "sentry",
                        "token_env": "T",
                        "scopes": {"organization": "acme"},
                    },
                ]
            }
        )
    )
    assert [s.receive for s in load_config(config_file).sources] == ["both", "poll"]
    keys = {
        key.to_user_string()
        for key in build_definitions(
            home=tmp_path, config_file=config_file
        ).resolve_all_asset_keys()
    }
    assert {"github_landing", "sentry_landing", "webhook_landing"} <= keys


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"name": "gh", "type": "github", "receive": "webhooks"},
            "source 'gh': receive: webhooks needs webhook_secret_env",
        ),
        (
            {"name": "gh", "type": "github", "receive": "push", "webhook_secret_env": "S"},
            "source 'gh': receive must be one of poll, webhooks, both, not 'push'",
        ),
        (
            {"name": "gh", "type": "github", "receive": "poll", "webhook_secret_env": "S"},
            "source 'gh': receive: poll but webhook_secret_env is set",
        ),
        (
            {"name": "local", "type": "git", "receive": "webhooks", "webhook_secret_env": "S"},
            "source 'local': type 'git' sends no webhooks FlowSync can receive",
        ),
    ],
)
def test_an_inconsistent_receive_setting_is_refused_naming_the_source(
    tmp_path: Path, source: dict[str, Any], message: str
):
    config_file = tmp_path / "flowsync.yaml"
    config_file.write_text(yaml.safe_dump({"sources": [source]}))
    with pytest.raises(ValueError, match="is not a valid FlowSync configuration") as error:
        load_config(config_file)
    assert message in str(error.value)


def test_deliveries_received_today_count_on_the_past_days_they_are_about(home: Home):
    with dg.instance_for_test() as instance:
        # The days are already materialised, empty, before anything arrives about them.
        job = home.definitions().resolve_job_def(WEBHOOK_JOB)
        assert job.execute_in_process(
            instance=instance, tags=range_tags("2026-03-01", "2026-03-06")
        ).success
        assert home.signals() == set()

        home.send_the_three_days()
        tick = home.tick(instance, cursor=None)
        assert [
            (
                r.partition_key,
                r.tags.get("dagster/asset_partition_range_start"),
                r.tags.get("dagster/asset_partition_range_end"),
            )
            for r in tick.run_requests
        ] == [
            (PR_DAY, None, None),
            (None, TICKET_DAY, INCIDENT_DAY),
        ]
        assert tick.cursor == "3"
        home.execute(instance, tick.run_requests)

        days = {(entity, action, day) for _, entity, action, day, _ in home.signals()}
        assert days == {
            ("acme/api#7", "opened", PR_DAY),
            ("PAY-42", "transitioned", TICKET_DAY),
            ("sentry:checkout/4501", "first_seen", INCIDENT_DAY),
        }
        materialized = instance.get_materialized_partitions(dg.AssetKey("signals"))
        assert {PR_DAY, TICKET_DAY, INCIDENT_DAY} <= materialized
        queue = DeliveryQueue(home.metadata_url)
        try:
            assert queue.count_by_state() == {"landed": 3}
        finally:
            queue.dispose()
        # Each landed record carries the time it is about, not the time it was received.
        landed = LandingStore(home.path / "landing").scan().collect()
        dated = {row["kind"]: row["updated_at"] for row in landed.iter_rows(named=True)}
        assert dated == {
            "pulls": datetime.fromisoformat(f"{PR_DAY}T09:00:00+00:00"),
            "webhook:jira_issue_updated": datetime.fromisoformat(f"{TICKET_DAY}T14:30:00+00:00"),
            "webhook:issue": datetime.fromisoformat(f"{INCIDENT_DAY}T08:00:00+00:00"),
        }
        assert all(at.date() == datetime.now(UTC).date() for at in landed["fetched_at"])

        again = home.tick(instance, cursor=tick.cursor)
        assert (again.run_requests, again.cursor) == ([], "3")


def test_a_delivery_received_today_is_in_signals_after_one_sensor_tick(home: Home):
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date().isoformat()
    event, body = pull_request_opened()
    stamp = now.isoformat().replace("+00:00", "Z")
    body["pull_request"] |= {"number": 8, "id": 8008, "created_at": stamp, "updated_at": stamp}
    body["number"] = 8
    with dg.instance_for_test() as instance:
        home.send("github", body, event=event)
        tick = home.tick(instance, cursor=None)
        assert [
            (r.partition_key, r.tags.get("dagster/asset_partition_range_start"))
            for r in tick.run_requests
        ] == [(today, None)]
        home.execute(instance, tick.run_requests)

        assert {(entity, action, day) for _, entity, action, day, _ in home.signals()} == {
            ("acme/api#8", "opened", today)
        }
        assert today in instance.get_materialized_partitions(dg.AssetKey("signals"))
        # Today is under way: no role view row or digest presents it as a complete day.
        with duckdb.connect(str(home.path / "flowsync.duckdb"), read_only=True) as con:
            days = con.execute(
                "SELECT DISTINCT CAST(as_of_date AS VARCHAR) FROM em_team_wip"
            ).fetchall()
        assert (today,) not in days
        assert not (home.path / "outbox" / today).exists()


def test_a_replayed_delivery_changes_nothing(home: Home):
    with dg.instance_for_test() as instance:
        ids = home.send_the_three_days()
        first = home.tick(instance, cursor=None)
        home.execute(instance, first.run_requests)
        before = home.signals()
        assert len(before) == 3

        # The same delivery id again: acknowledged, not queued, nothing to run.
        home.send("jira", ticket_transitioned(), delivery_id=ids["ticket"])
        replay = home.tick(instance, cursor=first.cursor)
        assert (replay.run_requests, replay.cursor) == ([], first.cursor)

        # The same content under new delivery ids: its own day is re-derived, to the same events.
        event, pull = pull_request_opened()
        home.send("github", pull, event=event)
        home.send("jira", ticket_transitioned())
        copies = home.tick(instance, cursor=replay.cursor)
        assert [r.partition_key for r in copies.run_requests] == [PR_DAY, TICKET_DAY]
        home.execute(instance, copies.run_requests)
        assert home.signals() == before
        pulls = LandingStore(home.path / "landing").scan(kind="pulls").collect()
        assert pulls.height == 1  # the same pull request version lands once


def test_drain_prints_the_days_it_landed_and_the_command_that_re_derives_them(home: Home):
    home.send_the_three_days()
    env = {**os.environ, "FLOWSYNC_HOME": str(home.path), "FLOWSYNC_CONFIG": str(home.config_file)}
    env.pop("DAGSTER_HOME", None)
    drained = subprocess.run(
        [sys.executable, "-m", "flowsync_pipelines.cli", "webhooks", "drain"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(drained.stdout)
    assert report["days"] == {PR_DAY: 1, TICKET_DAY: 1, INCIDENT_DAY: 1}
    assert [(run["first"], run["last"]) for run in report["runs"]] == [
        (PR_DAY, PR_DAY),
        (TICKET_DAY, INCIDENT_DAY),
    ]
    assert report["queue"] == {"landed": 3}

    single, stretch = report["runs"]
    assert single["command"] == (
        "dagster asset materialize -m flowsync_pipelines.definitions "
        f"--select 'webhook_landing*' --partition-range {PR_DAY}...{PR_DAY}"
    )
    # Landed is not yet counted: the printed command re-derives its days (one run, both days).
    assert home.signals() == set()
    env["DAGSTER_HOME"] = str(prepare_dagster_home(home.path / "dagster").parent)
    command = shlex.split(stretch["command"])
    assert command[0] == "dagster"
    subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), *command[1:]],
        env=env,
        capture_output=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    days = {(entity, day) for _, entity, _, day, _ in home.signals()}
    assert days == {("PAY-42", TICKET_DAY), ("sentry:checkout/4501", INCIDENT_DAY)}
