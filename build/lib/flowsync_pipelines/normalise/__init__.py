"""Landing records → canonical signals, quarantine rows and identity-vault rows.

Each ``(source, kind)`` has one vectorised normaliser. Payloads are decoded in bulk with an
explicit Polars dtype that reads every scalar as text (so a tool sending ``"12"`` where it
usually sends ``12`` decodes fine and is cast later); only a batch that fails to decode is split
to find the irregular records, which go to quarantine with the decoder's message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import polars as pl

from flowsync_pipelines import schema, vocabulary
from flowsync_pipelines.citations import SourceRoute, moves_links, rebase
from flowsync_pipelines.landing import TOMBSTONE
from flowsync_pipelines.normalise import generic
from flowsync_pipelines.normalise.common import Normalised, merge_accounts, quarantine_rows
from flowsync_pipelines.ordering import stamp_hlc, violations
from flowsync_pipelines.pseudonym import scrub_free_text
from flowsync_pipelines.sources import registry

Normaliser = Callable[[pl.DataFrame, str], Normalised]
NO_NORMALISER = "no normaliser"

# Kinds whose events follow a schedule rather than an edit (a sprint or cycle starts and ends on
# its dates), so a version last updated before a window can still hold that window's events.
SCHEDULED_KINDS = registry.scheduled_kinds()

# Each source's polled kinds, and the webhook deliveries that no polled kind covers (kind
# ``webhook:<event>``), as their source specs declare them.
NORMALISERS: dict[tuple[str, str], Normaliser] = registry.normalisers()


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


def normalise(
    landing: pl.DataFrame,
    *,
    pseudonym_key: str,
    sources: Mapping[str, SourceRoute] | None = None,
) -> NormaliseResult:
    """Normalise landed records of any source and kind.

    Args:
        landing: rows shaped like :data:`flowsync_pipelines.schema.LANDING`.
        pseudonym_key: the HMAC key personal identifiers are hashed with.
        sources: type and web base URL of each source by name (:func:`~flowsync_pipelines.
            citations.routes`). Landing is partitioned by source name; a name not listed is
            its own type, with links left as the tool wrote them.

    Returns:
        signals, quarantine and vault rows; records of a kind with no normaliser are quarantined.
    """
    signals, quarantine, accounts, references = [], [], [], []
    ok = 0
    for (source, kind), part in landing.partition_by(["source", "kind"], as_dict=True).items():
        route = (sources or {}).get(source) or SourceRoute(type=source, web_url=None)
        normaliser = NORMALISERS.get((route.type, kind))
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
        # Normalisers speak per type; landing_ref keeps the source's name for provenance.
        typed = part if route.type == source else part.with_columns(source=pl.lit(route.type))
        result = _within_vocabulary(normaliser(typed, pseudonym_key), typed, f"{source}/{kind}")
        events = result.signals
        if moves_links(route) and "url" in events.columns:
            events = events.with_columns(rebase(pl.col("url"), route).alias("url"))
        signals.append(events)
        # Normalisers drop the wide payload early; quarantine rows get it back here.
        rejected = result.quarantine
        if route.type != source and "source" in rejected.columns:
            rejected = rejected.with_columns(source=pl.lit(source))  # as landed
        quarantine.append(
            rejected.drop("payload").join(
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


def _within_vocabulary(result: Normalised, part: pl.DataFrame, producer: str) -> Normalised:
    """``result`` with events whose action is not declared for their entity type quarantined.

    An undeclared entity type is a normaliser's mistake and raises; an undeclared action can
    come from a tool (a value passed through from its payload), so it is bad input: its record
    is quarantined with the reason and its other events are dropped with it.
    """
    vocabulary.require_declared_entity_types(result.signals, producer=f"normaliser of {producer}")
    undeclared = vocabulary.undeclared_actions(result.signals)
    if not undeclared.any():
        return result
    bad = result.signals.filter(undeclared)
    refs = bad.get_column("landing_ref").unique()
    rows = (
        bad.unique("landing_ref", keep="first", maintain_order=True)
        .select("landing_ref", vocabulary.undeclared_action_reason())
        .join(part.drop("reason", strict=False), on="landing_ref", how="left")
    )
    return Normalised(
        signals=result.signals.filter(~pl.col("landing_ref").is_in(refs.implode())),
        quarantine=pl.concat(
            [quarantine_rows(result.quarantine), quarantine_rows(rows)], how="vertical_relaxed"
        ),
        accounts=result.accounts,
        references=None
        if result.references is None
        else result.references.filter(~pl.col("landing_ref").is_in(refs.implode())),
    )


def _concat(frames: list[pl.DataFrame], target: object) -> pl.DataFrame:
    frames = [schema.conform(f, target) for f in frames if f.height]  # type: ignore[arg-type]
    return pl.concat(frames) if frames else schema.empty(target)  # type: ignore[arg-type]
