"""Prepare ``$DAGSTER_HOME``: SQLite instance storage by default, PostgreSQL when configured."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from flowsync_pipelines.env import DAGSTER_PG_URL_ENV
from flowsync_pipelines.packaged import shipped

PG_URL_ENV = DAGSTER_PG_URL_ENV


def instance_yaml() -> Path:
    """The instance configuration to use: PostgreSQL when ``DAGSTER_PG_URL`` is set."""
    name = "dagster.postgres.yaml" if os.environ.get(PG_URL_ENV) else "dagster.yaml"
    return shipped(name)


def prepare_dagster_home(home: Path) -> Path:
    """Install the chosen ``dagster.yaml`` into ``home`` (created if needed); return its path."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    source = instance_yaml()
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
    return target
