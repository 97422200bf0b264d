"""Landing records → canonical signals, quarantine rows and identity-vault rows.

Each ``(source, kind)`` has one vectorised normaliser. Payloads are decoded in bulk with an
explicit Polars dtype that reads every scalar as text (so a tool sending ``"12"`` where it
usually sends ``12`` decodes fine and is cast later); only a batch that fails to decode is split
to find the irregular records, which go to quarantine with the decoder's message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from flowsync_pipelines import schema
from flowsync_pipelines.landing import TOMBSTONE
from flowsync_pipelines.normalise import (
    circleci,
    figma,
    generic,
    github,
    gitlab,
    jenkins,
    jira,
    linear,
    sentry,
)
from flowsync_pipelines.normalise.common import Normalised, merge_accounts
from flowsync_pipelines.ordering import stamp_hlc, violations
from flowsync_pipelines.pseudonym import scrub_free_text
from flowsync_pipelines.sources.pagerduty import normalise as pagerduty

Normaliser = Callable[[pl.DataFrame, str], Normalised]
NO_NORMALISER = "no normaliser"

# Kinds whose events follow a schedule rather than an edit (a sprint or cycle starts and ends on
# its dates), so a version last updated before a window can still hold that window's events.
SCHEDULED_KINDS = frozenset({("jira", "sprints"), ("linear", "cycles")})

NORMALISERS: dict[tuple[str, str], Normaliser] = {
    ("github", "pulls"): github.pull_requests,
    ("github", "reviews"): github.reviews,
    ("github", "issues"): github.issues,
    ("github", "commits"): github.commits,
    ("github", "check_runs"): github.check_runs,
    ("github", "workflow_runs"): github.workflow_runs,
    ("github", "deployments"): github.deployments,
    ("github", "deployment_statuses"): github.deployment_statuses,
    ("github", "releases"): github.releases,
    ("jira", "issues"): jira.issues,
    ("jira", "sprints"): jira.sprints,
    ("jira", "epics"): jira.epics,
    ("git", "commits"): generic.git_commits,
    ("gitlab", "merge_requests"): gitlab.merge_requests,
    ("gitlab", "approvals"): gitlab.approvals,
    ("gitlab", "notes"): gitlab.notes,
    ("gitlab", "pipelines"): gitlab.pipelines,
    ("gitlab", "jobs"): gitlab.jobs,
    ("gitlab", "deployments"): gitlab.deployments,
    ("gitlab", "issues"): gitlab.issues,
    ("gitlab", "commits"): gitlab.commits,
    ("jenkins", "builds"): jenkins.builds,
    ("circleci", "pipelines"): circleci.pipelines,
    ("circleci", "workflows"): circleci.workflows,
    ("circleci", "jobs"): circleci.jobs,
    ("linear", "issues"): linear.issues,
    ("linear", "comments"): linear.comments,
    ("linear", "cycles"): linear.cycles,
    ("linear", "projects"): linear.projects,
    ("sentry", "issues"): sentry.issues,
    ("sentry", "latest_events"): sentry.latest_events,
    ("sentry", "releases"): sentry.releases,
    ("sentry", "deploys"): sentry.deploys,
    ("figma", "comments"): figma.comments,
    ("pagerduty", "incidents"): pagerduty.incidents,
    ("pagerduty", "log_entries"): pagerduty.log_entries,
    # Webhook deliveries that no polled kind covers (kind ``webhook:<event>``).
    **{
        (source, kind): normaliser
        for source, module in (
            ("github", github),
            ("gitlab", gitlab),
            ("jenkins", jenkins),
            ("circleci", circleci),
            ("jira", jira),
            ("linear", linear),
            ("sentry", sentry),
            ("figma", figma),
            ("pagerduty", pagerduty),
        )
        for kind, normaliser in module.WEBHOOKS.items()
    },
}


@dataclass(frozen=True)
class NormaliseResult:
    signals: pl.DataFrame
    quarantine: pl.DataFrame
    accounts: pl.DataFrame
    violations: pl.DataFrame
    references: pl.DataFrame

    @property
    def quarantine_rate(self) -> float:
        """Share of records that could not be normalised because they are malformed.

        Records of a kind FlowSync has no normaliser for yet are quarantined too, but they are a
        coverage gap, not bad data: they are counted apart (``unsupported``) so a new webhook
        event type does not look like a broken tool.
        """
        malformed = self.quarantine.height - self.unsupported
        total = malformed + self.records_ok
        return malformed / total if total else 0.0

    @property
    def unsupported(self) -> int:
        return int(self.quarantine.get_column("reason").str.starts_with(NO_NORMALISER).sum())

    records_ok: int = 0


def normalise(landing: pl.DataFrame, *, pseudonym_key: str) -> NormaliseResult:
    """Normalise landed records of any source and kind.

    Args:
        landing: rows shaped like :data:`flowsync_pipelines.schema.LANDING`.
        pseudonym_key: the HMAC key personal identifiers are hashed with.

    Returns:
        signals, quarantine and vault rows; records of a kind with no normaliser are quarantined.
    """
    signals, quarantine, accounts, references = [], [], [], []
    ok = 0
    for (source, kind), part in landing.partition_by(["source", "kind"], as_dict=True).items():
        normaliser = NORMALISERS.get((source, kind))
        if kind == TOMBSTONE:
            normaliser = generic.tombstones
        if normaliser is None:
            quarantine.append(
                part.select(
                    "landing_ref",
                    "source",
                    "kind",
                    "record_id",
                    pl.lit(f"{NO_NORMALISER} for source {source!r} kind {kind!r}").alias("reason"),
                    "payload",
                )
            )
            continue
        result = normaliser(part, pseudonym_key)
        signals.append(result.signals)
        # Normalisers drop the wide payload early; quarantine rows get it back here.
        quarantine.append(
            result.quarantine.drop("payload").join(
                part.select("landing_ref", "payload"), on="landing_ref", how="left"
            )
        )
        accounts.append(result.accounts)
        if result.references is not None:
            references.append(result.references)
        ok += part.height - result.quarantine.height
    events = _concat(signals, schema.SIGNALS).unique("event_id", keep="last")
    # Titles are free text: @mentions and emails in them are pseudonymised like actors.
    events = events.with_columns(
        scrub_free_text(events.get_column("title"), events.get_column("source"), pseudonym_key)
    )
    events = schema.conform(stamp_hlc(events), schema.SIGNALS).sort("event_id")
    return NormaliseResult(
        signals=events,
        violations=violations(events),
        references=pl.concat(references)
        if references
        else pl.DataFrame(schema={"landing_ref": pl.String, "note": pl.String}),
        quarantine=_concat(quarantine, schema.QUARANTINE).unique("landing_ref").sort("landing_ref"),
        accounts=merge_accounts(_concat(accounts, schema.ACCOUNTS)),
        records_ok=ok,
    )


def _concat(frames: list[pl.DataFrame], target: object) -> pl.DataFrame:
    frames = [schema.conform(f, target) for f in frames if f.height]  # type: ignore[arg-type]
    return pl.concat(frames) if frames else schema.empty(target)  # type: ignore[arg-type]
