"""A delivery process killed mid-batch and restarted sends every digest exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

from flowsync_pipelines.delivery.outbox import Outbox
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.sandbox.messaging import SlackServer
from tests.delivery_support import rows_for

TOKEN = "xoxb-crash-test"
CHANNELS = {"payments-eng": "C0PAYMENTS", "platform-eng": "C0PLATFORM"}
N = 30
KILL_AT = (8, 19)  # kill the deliverer right after the 8th and the 19th post landed


def test_sigkill_between_post_and_record_then_restart_delivers_each_digest_once(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    teams = [
        {"key": "payments", "name": "Payments", "timezone": "Europe/Berlin"},
        {"key": "platform", "name": "Platform", "timezone": "America/New_York"},
    ]
    digests = [
        {
            "id": f"{team}-{i}",
            "teams": [team],
            "channels": ["slack", "markdown"],
            "slack_channel": f"#{team}-eng",
        }
        for i in range(N)
        for team in [("payments", "platform")[i % 2]]
    ]
    config_file = home / "flowsync.yaml"
    config_file.write_text(yaml.safe_dump({"teams": teams, "digests": digests}))
    from flowsync_pipelines.settings import load_config

    subs = load_config(config_file).digests
    store = MetadataStore(f"sqlite:///{home / 'metadata.sqlite'}")
    outbox = Outbox(store)
    outbox.enqueue(rows_for(list(subs), [i % 4 for i in range(N)]))

    process: list[subprocess.Popen] = []

    def kill_mid_batch(posted: int) -> None:
        # The post is recorded by Slack but its answer not yet read: the worst moment to die.
        if posted in KILL_AT:
            process[-1].send_signal(signal.SIGKILL)

    env = {
        **os.environ,
        "FLOWSYNC_HOME": str(home),
        "FLOWSYNC_CONFIG": str(config_file),
        "FLOWSYNC_SLACK_TOKEN": TOKEN,
    }
    env.pop("FLOWSYNC_METADATA_URL", None)
    exits, progress = [], []
    with SlackServer(token=TOKEN, channels=CHANNELS, on_post=kill_mid_batch) as slack:
        env["FLOWSYNC_SLACK_BASE_URL"] = slack.base_url
        for _ in range(3):
            process.append(
                subprocess.Popen(
                    [sys.executable, "-m", "flowsync_pipelines.cli", "deliver"],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
            out, err = process[-1].communicate(timeout=120)
            exits.append(process[-1].returncode)
            progress.append(err)
            if process[-1].returncode == 0:
                break
    assert exits == [-signal.SIGKILL, -signal.SIGKILL, 0], err
    rows = outbox.rows()
    store.dispose()
    assert {r.state for r in rows} == {"sent"}
    slack_ids = sorted(r.digest_id for r in rows if r.channel == "slack")
    assert len(slack_ids) == N
    assert Counter(slack.digest_ids()) == Counter(slack_ids)  # each once, none twice
    # Both killed posts were found in the channel's history, not posted again.
    assert slack.requests["conversations.history"] >= 2
    # each restart found the post its predecessor died waiting for, and recorded it as sent
    assert [sum(" found " in line for line in p.splitlines()) for p in progress] == [0, 1, 1]
    assert out.startswith("sent=")
    assert len(list((home / "outbox").glob("*/*.md"))) == N
