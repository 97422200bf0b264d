"""Every environment variable FlowSync reads, named once.

Modules import these names (for ``os.environ`` and for ``dg.EnvVar(...)``) instead of spelling the
variables out, so a rename happens here and nowhere else. Secrets among them reach Dagster runs as
``dg.EnvVar`` and are never logged.
"""

from __future__ import annotations

# Where FlowSync keeps its stores and finds its configuration.
HOME_ENV = "FLOWSYNC_HOME"  # default ./data
CONFIG_ENV = "FLOWSYNC_CONFIG"  # default $FLOWSYNC_HOME/flowsync.yaml
METADATA_URL_ENV = "FLOWSYNC_METADATA_URL"  # SQLAlchemy URL; default SQLite under the home
IDENTITIES_ENV = "FLOWSYNC_IDENTITIES"  # identity overrides file

# Secrets.
PSEUDONYM_KEY_ENV = "FLOWSYNC_PSEUDONYM_KEY"
SIGNING_KEY_ENV = "FLOWSYNC_SIGNING_KEY"  # Ed25519 key of the audit log
NEW_SIGNING_KEY_ENV = "FLOWSYNC_NEW_SIGNING_KEY"  # `flowsync keys rotate` default
SLACK_TOKEN_ENV = "FLOWSYNC_SLACK_TOKEN"
SMTP_PASSWORD_ENV = "FLOWSYNC_SMTP_PASSWORD"

# The preview's Teams workflow URL per team (subscriptions name their own `teams_webhook_env`).
PREVIEW_TEAMS_WEBHOOK_ENV_FORMAT = "FLOWSYNC_TEAMS_{team}_URL"

# Plain delivery settings: env var -> DeliverySettings field.
DELIVERY_SETTINGS_ENV = {
    "FLOWSYNC_SLACK_BASE_URL": "slack_base_url",
    "FLOWSYNC_SMTP_HOST": "smtp_host",
    "FLOWSYNC_SMTP_PORT": "smtp_port",
    "FLOWSYNC_SMTP_STARTTLS": "smtp_starttls",
    "FLOWSYNC_SMTP_CA_FILE": "smtp_ca_file",
    "FLOWSYNC_SMTP_USER": "smtp_user",
    "FLOWSYNC_MAIL_FROM": "mail_from",
    "FLOWSYNC_UNSUBSCRIBE_URL": "unsubscribe_url",
    "FLOWSYNC_DIGEST_URL": "html_base_url",
}

# The Neo4j mirror of the context graph (enabled when the URI is set).
NEO4J_URI_ENV = "NEO4J_URI"
NEO4J_USER_ENV = "NEO4J_USERNAME"
NEO4J_PASSWORD_ENV = "NEO4J_PASSWORD"
NEO4J_HEAP_ENV = "NEO4J_HEAP"  # the throw-away test/dev server's heap (neo4j_server.py)

# Dagster's own.
DAGSTER_HOME_ENV = "DAGSTER_HOME"
DAGSTER_PG_URL_ENV = "DAGSTER_PG_URL"  # PostgreSQL run storage when set (instance.py)
# Set by `flowsync import` for its ranged runs (history.py).
DAGSTER_PLANNED_EVENTS_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
DAGSTER_EVENT_BATCH_ENV = "DAGSTER_EVENT_BATCH_SIZE"
# Another Chromium than the first on PATH, for digest screenshots (delivery/screenshot.py).
CHROMIUM_ENV = "FLOWSYNC_CHROMIUM"
