"""PagerDuty as a source: incidents and their log entries (REST API v2) and V3 webhooks.

Everything PagerDuty-specific lives in this package: the scope model (:mod:`.scopes`), the
connector (:mod:`.connector`) and its Dagster resource (:mod:`.resource`), the normalisers of
polled records and webhook deliveries (:mod:`.normalise`) and the webhook dialect
(:mod:`.webhooks`). Incidents become ``incident`` entities beside Sentry's.

Modules are imported by name, never from here, so that settings and the webhook providers can
import the small ones without pulling in the rest.
"""
