"""End to end: the demo's subscriptions, rendered from the warehouse by the digest_delivery job,
reach the local Slack server and the outbox folder."""

from __future__ import annotations

import re
from datetime import timedelta

import dagster as dg
import pytest
import yaml

from flowsync_pipelines.delivery.outbox import Outbox
from flowsync_pipelines.delivery.schedule import data_day
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.sandbox.messaging import SlackServer, SmtpServer, TeamsServer
from flowsync_pipelines.settings import load_config

TOKEN = "xoxb-demo"


def test_the_delivery_job_sends_every_demo_subscription_from_the_warehouse(
    deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = deployment.world.start.date() + timedelta(days=3)
    assert deployment.run(first, first).success
    # every channel for every demo subscription, each to its team's lead
    raw = yaml.safe_load(deployment.config_file.read_text())
    for entry in raw["digests"]:
        entry["channels"] = ["markdown", "html", "slack", "email", "teams"]
        entry["email_to"] = [f"lead@{entry['team']}.example"]
        entry["teams_webhook_env"] = f"TEAMS_{entry['team'].upper()}_URL"
    deployment.config_file.write_text(yaml.safe_dump(raw))
    config = load_config(deployment.config_file)
    subs = config.digests
    channels = {s.slack_channel.lstrip("#"): f"C{i:08d}" for i, s in enumerate(subs)}
    with (
        SlackServer(token=TOKEN, channels=channels) as slack,
        TeamsServer() as teams,
        SmtpServer() as smtp,
    ):
        monkeypatch.setenv("FLOWSYNC_SLACK_TOKEN", TOKEN)
        monkeypatch.setenv("FLOWSYNC_SLACK_BASE_URL", slack.base_url)
        monkeypatch.setenv("FLOWSYNC_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("FLOWSYNC_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("FLOWSYNC_SMTP_STARTTLS", "false")
        monkeypatch.setenv("FLOWSYNC_MAIL_FROM", "digests@flowsync.example")
        for sub in subs:
            monkeypatch.setenv(sub.teams_webhook_env, teams.workflow_url(sub.teams[0]))
        defs = deployment.definitions()
        job = defs.resolve_job_def("digest_delivery")
        # the recipients' local day whose morning digest speaks of `first`
        local_day = first + timedelta(days=1)
        assert {data_day(s, local_day) for s in subs} == {first}
        run_config = {
            "ops": {
                "deliver_digests": {
                    "config": {"subscription_ids": [s.id for s in subs], "day": str(local_day)}
                }
            }
        }
        first_run = job.execute_in_process(run_config, instance=dg.DagsterInstance.ephemeral())
        # a second run for the same day queues and sends nothing new
        again = job.execute_in_process(run_config, instance=dg.DagsterInstance.ephemeral())
    assert output_metadata(first_run)["queued"] == 5 * len(subs)
    assert output_metadata(first_run)["delivered_sent"] == 5 * len(subs)
    assert output_metadata(again)["queued"] == 0
    assert output_metadata(again)["delivered_sent"] == 0
    store = MetadataStore(f"sqlite:///{deployment.home / 'metadata.sqlite'}")
    rows = Outbox(store).rows()
    store.dispose()
    assert len(rows) == 5 * len(subs)
    assert {r.state for r in rows} == {"sent"}
    assert slack.violations == [] and len(slack.messages) == len(subs)
    by_channel = {m["channel"]: m for m in slack.messages}
    for sub in subs:
        message = by_channel[channels[sub.slack_channel.lstrip("#")]]
        team = next(t for t in config.teams if t.key == sub.teams[0])
        assert message["blocks"][0]["text"]["text"] == (
            f"{team.name} — engineering manager digest, {first}"
        )
        numbers = [b for b in message["blocks"] if "*Numbers*" in b.get("text", {}).get("text", "")]
        assert numbers and "pull request" in numbers[0]["text"]["text"]
        # counts are facts: no band, no confidence
        assert not re.search(r"(High|Medium|Low) \(", numbers[0]["text"]["text"])
    assert sorted(c["workflow"] for c in teams.cards) == sorted(s.teams[0] for s in subs)
    assert teams.violations == []
    assert sorted(m["To"] for m in smtp.messages) == sorted(
        f"lead@{s.teams[0]}.example" for s in subs
    )
    for message in smtp.messages:
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = sorted((deployment.home / "outbox" / str(local_day)).glob("*.html"))
    assert len(html) == len(subs)
    markdown = sorted((deployment.home / "outbox" / str(local_day)).glob("*.md"))
    assert len(markdown) == len(subs)
    assert all(p.read_text().startswith("# ") for p in markdown)


def output_metadata(result: dg.ExecuteInProcessResult) -> dict:
    assert result.success
    (event,) = [e for e in result.all_node_events if e.is_successful_output]
    return {k: v.value for k, v in event.event_specific_data.metadata.items()}
