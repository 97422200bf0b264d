"""Digest delivery: subscriptions due in their own time zone, an idempotent outbox in the
metadata store, and senders for Slack, email (SMTP), Microsoft Teams and outbox files.

The core is Dagster-free: :mod:`.schedule` says what is due, :mod:`.formats` renders a
:class:`.model.DigestModel` for each channel within its limits, :mod:`.outbox` queues one row per
subscription × day × channel, and :mod:`.send` delivers pending rows exactly once.
"""
