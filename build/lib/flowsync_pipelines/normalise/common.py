"""Building blocks every normaliser shares: bulk decoding, timestamps, actors, event ids."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import duckdb
import polars as pl
import pyarrow as pa

from flowsync_pipelines import schema
from flowsync_pipelines.landing import parse_utc
from flowsync_pipelines.pseudonym import pseudonymise

# Rows per Arrow batch handed to DuckDB's JSON decoder (measured best at 512–1024 on 2 cores).
DECODE_BATCH_ROWS = 1024
TICKET_KEY = r"\b[A-Z][A-Z0-9]{1,9}-[1-9][0-9]{0,6}\b"


@dataclass(frozen=True)
class Normalised:
    signals: pl.DataFrame
    quarantine: pl.DataFrame
    accounts: pl.DataFrame
    # Records that are valid but hold no event (reference data, e.g. a sprint not started yet):
    # ``landing_ref`` and a ``note`` saying why, so that every landed record is accounted for.
    references: pl.DataFrame | None = None


def text(*names: str) -> dict[str, pl.DataType]:
    """Struct fields read as text (how :func:`decode` reads every leaf)."""
    return dict.fromkeys(names, pl.String())


def reference_rows(frame: pl.DataFrame, note: str) -> pl.DataFrame:
    return frame.select("landing_ref", pl.lit(note).alias("note"))


def _duckdb_type(dtype: pl.DataType) -> str:
    """The ``json_transform`` structure for a Polars dtype whose leaves are all text."""
    if isinstance(dtype, pl.Struct):
        return "{" + ",".join(f'"{f.name}":{_duckdb_type(f.dtype)}' for f in dtype.fields) + "}"
    if isinstance(dtype, pl.List):
        return "[" + _duckdb_type(dtype.inner) + "]"
    return '"VARCHAR"'


_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per thread: opening one costs more than decoding a small batch."""
    if not hasattr(_local, "con"):
        _local.con = duckdb.connect()
    return _local.con


def decode(
    landing: pl.DataFrame, dtype: pl.Struct, *, json_types: Mapping[str, str] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decode ``payload`` into a ``doc`` struct column of ``dtype``.

    DuckDB's JSON reader (yyjson, multi-threaded) extracts just the fields ``dtype`` names, a few
    times faster than decoding whole documents. Every leaf is read as text, so a tool sending
    ``"12"`` where it usually sends ``12`` decodes fine and is cast later; a value of the wrong
    nesting (an object where text was expected) arrives as its JSON text, and a scalar where an
    object was expected as nulls, which the normaliser's required-field checks then quarantine.

    Decoding cannot tell a field that is absent from one that is ``null``: both arrive as null.
    Where that matters (an absent user is *unknown*, a ``null`` one may be *deleted*),
    ``json_types`` names columns to add, each the JSON type at a JSON path (``{"user_type":
    "$.user"}``): ``'NULL'`` for an explicit null, ``'OBJECT'``, ``'VARCHAR'``…, and null when
    the path is absent.

    Returns the decoded rows (provenance columns plus ``doc``; the wide ``payload`` is dropped
    here so later steps do not copy it) and the rows that are not JSON objects, with a reason.
    """
    types = dict(json_types or {})
    meta = landing.select("landing_ref", "source", "kind", "scope", "record_id", "fetched_at")
    if landing.is_empty():
        return meta.with_columns(
            doc=pl.lit(None, dtype), **{name: pl.lit(None, pl.String) for name in types}
        ), _failed(landing, [])
    transform = f"json_transform(payload, '{_duckdb_type(dtype)}')"
    typed = "".join(
        f", CASE WHEN starts_with(payload, '{{') THEN json_type(payload, '{path}') END "
        f'AS "{name}"'
        for name, path in types.items()
    )
    typed_checked = "".join(
        f", CASE WHEN json_valid(payload) AND json_type(payload::JSON) = 'OBJECT' "
        f"THEN json_type(payload, '{path}') END AS \"{name}\""
        for name, path in types.items()
    )
    con = _connection()
    try:
        # Arrow string views share Polars' buffers: the payload text is not copied. DuckDB
        # scans one Arrow batch per thread, so small batches keep both cores parsing.
        payloads = landing.select("payload").to_arrow(compat_level=pl.CompatLevel.newest())
        batches = payloads.to_batches(max_chunksize=DECODE_BATCH_ROWS)
        con.register("payloads", pa.Table.from_batches(batches, schema=payloads.schema))
        try:
            # Landing payloads are serialised by us, so an object starts with "{": one parse.
            docs = con.execute(
                "SELECT CASE WHEN starts_with(payload, '{') THEN 'OBJECT' "
                "WHEN json_valid(payload) THEN json_type(payload::JSON) END "
                f"AS shape, CASE WHEN starts_with(payload, '{{') THEN {transform} END AS doc "
                f"{typed} FROM payloads"
            ).pl()
        except duckdb.InvalidInputException:
            # Some payload is not JSON at all (hand-made landing, truncated file): check each.
            docs = con.execute(
                "SELECT CASE WHEN json_valid(payload) THEN json_type(payload::JSON) END AS shape, "
                "CASE WHEN json_valid(payload) AND json_type(payload::JSON) = 'OBJECT' "
                f"THEN {transform} END AS doc{typed_checked} FROM payloads"
            ).pl()
    finally:
        con.unregister("payloads")
    shape = docs.get_column("shape")
    is_object = shape == "OBJECT"
    decoded = meta.filter(is_object).with_columns(
        docs.get_column("doc").filter(is_object).cast(dtype),
        *(docs.get_column(name).filter(is_object).cast(pl.String) for name in types),
    )
    reasons = [
        "payload is not valid JSON"
        if kind is None
        else f"payload is a JSON {kind.lower()}, not an object"
        for kind in shape.filter(~is_object).to_list()
    ]
    return decoded, _failed(landing.filter(~is_object), reasons)


def _failed(rows: pl.DataFrame, reasons: list[str]) -> pl.DataFrame:
    return rows.select(
        "landing_ref", "source", "kind", "scope", "record_id", "fetched_at", "payload"
    ).with_columns(reason=pl.Series(reasons, dtype=pl.String))


def quarantine_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Project rows carrying a ``reason`` column onto the quarantine schema."""
    return schema.conform(frame, schema.QUARANTINE)


def split_rejected(
    rows: pl.DataFrame, undecodable: pl.DataFrame, *problems: pl.Expr
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``rows`` without a ``reason``, and the quarantine: ``undecodable`` and the rest.

    With ``problems``, the ``reason`` is the first of them that is not null.
    """
    if problems:
        rows = rows.with_columns(first_reason(*problems))
    rejected = rows.filter(pl.col("reason").is_not_null())
    quarantine = quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed"))
    return rows.filter(pl.col("reason").is_null()), quarantine


def utc(expr: pl.Expr) -> pl.Expr:
    return parse_utc(expr)


def bad_timestamp(column: str, label: str) -> pl.Expr:
    """A reason when ``column`` (raw text) is present but not an ISO-8601 timestamp."""
    raw = pl.col(column)
    return (
        pl.when(raw.is_null())
        .then(pl.lit(f"{label} is missing"))
        .when(utc(raw).is_null())
        .then(pl.lit(f"{label} is not an ISO-8601 timestamp: ") + raw)
    )


def missing(label: str, field: str = "id") -> pl.Expr:
    """A reason when the record has no ``field``: ``"<label> has no <field>"``."""
    return pl.when(pl.col(field).is_null()).then(pl.lit(f"{label} has no {field}"))


def run_action(done: pl.Expr, running: pl.Expr) -> pl.Expr:
    """A CI run's action from its status: ``completed`` once ``done``, ``started`` while
    ``running``, else ``queued``."""
    return (
        pl.when(done)
        .then(pl.lit("completed"))
        .when(running)
        .then(pl.lit("started"))
        .otherwise(pl.lit("queued"))
    )


def optional_timestamp(column: str, label: str | None = None) -> pl.Expr:
    """A reason when ``column`` (raw text) is present and not an ISO-8601 timestamp; absent is
    fine (a time the record has only once something happened)."""
    raw = pl.col(column)
    return pl.when(raw.is_not_null() & utc(raw).is_null()).then(
        pl.lit(f"{label or column} is not an ISO-8601 timestamp: ") + raw
    )


def timestamps(*required: str, optional: tuple[str, ...] = ()) -> tuple[pl.Expr, ...]:
    """Reasons when a ``required`` time is missing or malformed, or an ``optional`` one is
    malformed (each labelled by its field)."""
    return (
        *(bad_timestamp(column, column) for column in required),
        *(optional_timestamp(column) for column in optional),
    )


def first_reason(*reasons: pl.Expr) -> pl.Expr:
    return pl.coalesce(*reasons).alias("reason")


# Columns a normaliser adds when an event's own time is missing or malformed and another time the
# payload carries stands in; :func:`finish` records them in ``attributes``, so no fallback is
# silent: ``time_source`` names the field used, ``time_fallback`` says why the first was not.
TIME_SOURCE = "time_source"
TIME_FALLBACK = "time_fallback"


def fallback_time(*candidates: tuple[str, pl.Expr]) -> list[pl.Expr]:
    """``occurred_at`` from the first of ``candidates`` (label, raw text) that is a timestamp.

    The first candidate is the event's own time; the others are times the same payload carries
    that may stand in for it (a commit's author date for its committer date). When one does,
    :data:`TIME_SOURCE` is its label and :data:`TIME_FALLBACK` says what was wrong with the
    first (``"created_at is not an ISO-8601 timestamp: yesterday"``); both are null otherwise.
    ``occurred_at`` is null when no candidate is a timestamp: quarantine such rows with
    :func:`bad_timestamp` of the first.

    Returns:
        the ``occurred_at``, :data:`TIME_SOURCE` and :data:`TIME_FALLBACK` columns.
    """
    return [expr.alias(name) for name, expr in _fallback_parts(*candidates).items()]


def fallback_columns(*candidates: tuple[str, pl.Expr]) -> dict[str, pl.Expr]:
    """:func:`fallback_time` as named columns (for ``PolledKind.derived`` and ``columns``)."""
    return _fallback_parts(*candidates)


def _fallback_parts(*candidates: tuple[str, pl.Expr]) -> dict[str, pl.Expr]:
    (first_label, first), *rest = candidates
    parsed = [utc(raw) for _, raw in candidates]
    chosen: pl.Expr = pl.lit(None, pl.String)
    for (label, _), time in reversed(list(zip(rest, parsed[1:], strict=True))):
        chosen = pl.when(time.is_not_null()).then(pl.lit(label)).otherwise(chosen)
    source = pl.when(parsed[0].is_null()).then(chosen)
    why = pl.when(source.is_not_null()).then(
        pl.when(first.is_null())
        .then(pl.lit(f"{first_label} is missing"))
        .otherwise(pl.lit(f"{first_label} is not an ISO-8601 timestamp: ") + first)
    )
    return {
        "occurred_at": pl.coalesce(parsed),
        TIME_SOURCE: source,
        TIME_FALLBACK: why,
    }


def _record_time_source(events: pl.DataFrame) -> pl.DataFrame:
    """Merge :data:`TIME_SOURCE` / :data:`TIME_FALLBACK` into the ``attributes`` JSON object."""
    if TIME_SOURCE not in events.columns:
        return events
    if TIME_FALLBACK not in events.columns:
        events = events.with_columns(pl.lit(None, pl.String).alias(TIME_FALLBACK))
    attrs = (
        pl.col("attributes").cast(pl.String)
        if "attributes" in events.columns
        else pl.lit(None, pl.String)
    )
    extra = pl.struct(pl.col(TIME_SOURCE), pl.col(TIME_FALLBACK)).struct.json_encode()
    merged = (
        pl.when(pl.col(TIME_SOURCE).is_null())
        .then(attrs)
        .when(attrs.is_null() | (attrs.str.strip_chars() == "{}"))
        .then(extra)
        .otherwise(attrs.str.strip_suffix("}") + "," + extra.str.strip_prefix("{"))
    )
    return events.with_columns(merged.alias("attributes")).drop(TIME_SOURCE, TIME_FALLBACK)


def actor_columns(
    frame: pl.DataFrame, *, source: str, handle: str, kind: str, key: str
) -> pl.DataFrame:
    """Add ``actor`` (pseudonym, null for deleted/unknown accounts) next to ``actor_kind``."""
    pseudonyms = pseudonymise(source, frame.get_column(handle), key)
    return frame.with_columns(
        pl.when(pl.col(kind).is_in(["human", "bot"]))
        .then(pl.Series("actor", pseudonyms))
        .otherwise(None)
        .alias("actor")
    )


# An event nobody is known to have done (a list endpoint that does not say who merged).
NOBODY: dict[str, pl.Expr] = {"actor": pl.lit(None, pl.String), "actor_kind": pl.lit("unknown")}


# Column a normaliser may add when two distinct events of one entity can share an action and a
# timestamp (two pushes to one branch in the same second): it is appended to the event id.
DISCRIMINATOR = "discriminator"


def event_id(*, discriminated: bool = False) -> pl.Expr:
    """``<source>:<entity_type>:<entity_id>:<action>:<occurred_at>``, deterministic by design.

    With ``discriminated``, rows whose :data:`DISCRIMINATOR` column is not null get
    ``:<discriminator>`` appended (a push's ``after`` sha); rows where it is null keep the
    five-part id, so adding a discriminator to one kind changes no other kind's ids.
    """
    base = pl.concat_str(
        pl.col("source"),
        pl.col("entity_type"),
        pl.col("entity_id"),
        pl.col("action"),
        pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
        separator=":",
    )
    if discriminated:
        base = (
            pl.when(pl.col(DISCRIMINATOR).is_null())
            .then(base)
            .otherwise(base + ":" + pl.col(DISCRIMINATOR))
        )
    return base.alias("event_id")


def finish(events: pl.DataFrame) -> pl.DataFrame:
    """Give events their id, the observation time, and the canonical column order.

    A :data:`DISCRIMINATOR` column, when ``events`` has one, extends the event id (see
    :func:`event_id`); it is not a signals column and is dropped here.
    """
    events = _record_time_source(events.filter(pl.col("occurred_at").is_not_null()))
    events = events.with_columns(
        event_id(discriminated=DISCRIMINATOR in events.columns),
        pl.col("fetched_at").alias("observed_at"),
        pl.lit(0, pl.Int64).alias("hlc"),
    )
    return schema.conform(events, schema.SIGNALS)


def accounts(
    frame: pl.DataFrame, *, source: str, handle: str, name: str | None, email: str | None
) -> pl.DataFrame:
    """Vault rows for every human or bot account seen in ``frame``."""
    rows = frame.filter(pl.col("actor").is_not_null()).select(
        pl.col("actor").alias("pseudonym"),
        pl.lit(source).alias("source"),
        pl.col(handle).alias("handle"),
        (pl.col(name) if name else pl.lit(None, pl.String)).alias("display_name"),
        (pl.col(email) if email else pl.lit(None, pl.String)).alias("email"),
        "actor_kind",
    )
    return merge_accounts(schema.conform(rows, schema.ACCOUNTS))


def person_columns(
    frame: pl.DataFrame,
    user: str,
    *,
    prefix: str,
    key: str,
    field: str,
    kind: Callable[[str], pl.Expr],
    source: str,
) -> pl.DataFrame:
    """Add ``<prefix>_actor`` (the pseudonym in ``source`` of the user struct column ``user``'s
    ``field``) and ``<prefix>_kind`` (``kind(user)``), for records naming several people."""
    frame = frame.with_columns(
        kind(user).alias(f"{prefix}_kind"),
        pl.col(user).struct.field(field).alias(f"{prefix}_handle"),
    )
    frame = actor_columns(
        frame.drop("actor", strict=False),
        source=source,
        handle=f"{prefix}_handle",
        kind=f"{prefix}_kind",
        key=key,
    )
    return frame.rename({"actor": f"{prefix}_actor"}).drop(f"{prefix}_handle")


def people_by(
    person: Callable[..., pl.DataFrame],
    vault: Callable[[list[pl.Series], str], pl.DataFrame],
    *people: tuple[str, str],
) -> Attribution:
    """Attribution to each ``(user struct column, prefix)`` by ``person`` (a
    :func:`person_columns` of the tool); the vault rows are ``vault``'s of every person named."""

    def attribute(rows: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        for user, prefix in people:
            rows = person(rows, user, key=key, prefix=prefix)
        return rows, vault([rows.get_column(user) for user, _ in people], key)

    return attribute


def as_actor(prefix: str) -> dict[str, pl.Expr]:
    """The person :func:`person_columns` added under ``prefix`` as the event's actor."""
    return {"actor": pl.col(f"{prefix}_actor"), "actor_kind": pl.col(f"{prefix}_kind")}


@dataclass(frozen=True)
class Account:
    """Which account records matching ``when`` are attributed to: ``handle`` in ``source``,
    with the vault's ``name`` and ``email`` columns (see :func:`accounts_by`)."""

    source: str
    handle: str
    when: pl.Expr
    name: str | None = None
    email: str | None = None


def accounts_by(*routes: Account) -> Attribution:
    """Attribution of each record (its ``actor_kind`` set beforehand) to the account of the
    first route it matches (routes are disjoint), with the vault rows of those accounts."""

    def attribute(rows: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        parts, vault = [], []
        for route in routes:
            part = actor_columns(
                rows.filter(route.when),
                source=route.source,
                handle=route.handle,
                kind="actor_kind",
                key=key,
            )
            parts.append(part)
            vault.append(
                accounts(
                    part,
                    source=route.source,
                    handle=route.handle,
                    name=route.name,
                    email=route.email,
                )
            )
        return pl.concat(parts, how="diagonal_relaxed"), pl.concat(vault)

    return attribute


def email_author(rows: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Attribution of commits to the pseudonym of ``author_email`` (kind ``actor_kind``), with
    vault rows naming ``author_name``: how ``git log`` commits are attributed."""
    rows = actor_columns(rows, source="email", handle="author_email", kind="actor_kind", key=key)
    vault = accounts(
        rows, source="email", handle="author_email", name="author_name", email="author_email"
    )
    return rows, vault


def vault_rows(
    users: list[pl.Series],
    key: str,
    source: str,
    kind: Callable[[str], pl.Expr],
    handle: str,
    name: str | None = None,
    email: str | None = None,
    dtype: pl.DataType | None = None,
    keep: pl.Expr | None = None,
) -> pl.DataFrame:
    """Vault rows for the accounts in ``users`` (series of user structs, cast to ``dtype``):
    ``kind("user")`` tells a person from a bot, the struct fields ``handle``, ``name`` and
    ``email`` name the account; ``keep`` filters the accounts (a team is not a person)."""
    frame = pl.concat(
        [(u.cast(dtype) if dtype is not None else u).rename("user").to_frame() for u in users]
    ).drop_nulls()
    field = pl.col("user").struct.field
    frame = frame.with_columns(
        kind("user").alias("actor_kind"),
        field(handle).alias("account"),
        (field(name) if name else pl.lit(None, pl.String)).alias("account_name"),
        (field(email) if email else pl.lit(None, pl.String)).alias("account_email"),
    )
    if keep is not None:
        frame = frame.filter(keep)
    frame = actor_columns(frame, source=source, handle="account", kind="actor_kind", key=key)
    return accounts(
        frame, source=source, handle="account", name="account_name", email="account_email"
    )


def commit_attributes(parents: pl.Expr, paths: pl.Expr, *, listed: pl.Expr) -> pl.Expr:
    """A commit's ``attributes``: ``parents`` (their count) and, where the record ``listed`` its
    changes, ``files``: the sorted distinct paths it changed (the key push commits use too)."""
    counted = parents.alias("parents")
    files = paths.list.drop_nulls().list.unique().list.sort().alias("files")
    return (
        pl.when(~listed)
        .then(pl.struct(counted).struct.json_encode())
        .otherwise(pl.struct(counted, files).struct.json_encode())
        .alias("attributes")
    )


def merge_accounts(rows: pl.DataFrame) -> pl.DataFrame:
    """One vault row per pseudonym, keeping any name or email some record did carry."""
    return (
        rows.sort("pseudonym")
        .group_by("pseudonym", maintain_order=True)
        .agg(
            pl.col("source").first(),
            pl.col("handle").first(),
            pl.col("display_name").drop_nulls().first(),
            pl.col("email").drop_nulls().first(),
            pl.col("actor_kind").first(),
        )
        .select(list(schema.polars_schema(schema.ACCOUNTS).names()))
    )


# -- webhook deliveries --------------------------------------------------------------------------
# Adds ``actor`` and ``actor_kind`` for the account a delivery names; returns the rows and the
# vault rows for those accounts.
Attribution = Callable[[pl.DataFrame, str], tuple[pl.DataFrame, pl.DataFrame]]
# A normaliser: landing rows of one (source, kind) and the pseudonym key → its results.
Normaliser = Callable[[pl.DataFrame, str], Normalised]


@dataclass(frozen=True)
class WebhookEvent:
    """How a webhook delivery of one kind becomes (at most) one event.

    Expressions are evaluated on the delivery's decoded top-level fields (``dtype``, unnested)
    next to the landing columns; ``received_at`` is when FlowSync received the delivery.
    """

    label: str  # what the delivery is about, for quarantine reasons ("issue comment")
    dtype: pl.Struct
    entity_type: pl.Expr
    entity_id: pl.Expr  # null → quarantined: "<label> has no id"
    action: pl.Expr
    # Raw text of when it happened; null when the tool does not say (then the receipt time).
    time: pl.Expr
    columns: dict[str, pl.Expr]  # other SIGNALS columns: title, url, state, references…
    derived: dict[str, pl.Expr] = field(default_factory=dict)  # helpers, before everything else
    # Deliveries that are valid but hold no event: (condition, note for the reference row).
    no_event: tuple[pl.Expr, str] | None = None
    # Tells apart distinct deliveries that would otherwise share an event id (same entity,
    # action and time): appended to the event id when not null (see :func:`event_id`).
    discriminator: pl.Expr | None = None
    # Other times the delivery carries, (label, raw text), in order: when ``time`` is missing or
    # malformed the first that parses stands in, recorded in ``attributes`` (see
    # :func:`fallback_time`); when none does, a malformed ``time`` is quarantined.
    fallback_times: tuple[tuple[str, pl.Expr], ...] = ()
    # More specific reasons to quarantine a delivery: (condition, reason), checked before the
    # id, the action and the time; the first whose condition holds is the reason.
    problems: tuple[tuple[pl.Expr, str], ...] = ()


def webhook_events(
    landing: pl.DataFrame, key: str, event: WebhookEvent, *, source: str, actor: Attribution
) -> Normalised:
    """One event per delivery of ``landing`` as ``event`` describes; see :class:`WebhookEvent`."""
    decoded, undecodable = decode(landing, event.dtype)
    received = landing.select("landing_ref", pl.col("updated_at").alias("received_at"))
    rows = decoded.join(received, on="landing_ref", how="left").unnest("doc")
    if event.derived:
        rows = rows.with_columns(**event.derived)
    fallbacks = [(label, f"raw_fallback_{i}") for i, (label, _) in enumerate(event.fallback_times)]
    fallback_columns = (
        raw.alias(f"raw_fallback_{i}") for i, (_, raw) in enumerate(event.fallback_times)
    )
    rows = rows.with_columns(
        event.entity_type.alias("entity_type"),
        event.entity_id.alias("entity_id"),
        event.action.alias("action"),
        event.time.alias("raw_time"),
        *fallback_columns,
    )
    timing = _fallback_parts(
        (f"{event.label} time", pl.col("raw_time")),
        *((label, pl.col(column)) for label, column in fallbacks),
    )
    rows = rows.with_columns(
        first_reason(
            *(pl.when(wrong.fill_null(False)).then(pl.lit(why)) for wrong, why in event.problems),
            pl.when(pl.col("entity_id").is_null()).then(pl.lit(f"{event.label} has no id")),
            pl.when(pl.col("action").is_null()).then(pl.lit(f"{event.label} has no action")),
            pl.when(pl.col("raw_time").is_not_null() & timing["occurred_at"].is_null()).then(
                pl.lit(f"{event.label} time is not an ISO-8601 timestamp: ") + pl.col("raw_time")
            ),
        )
    )
    rejected = rows.filter(pl.col("reason").is_not_null())
    rows = rows.filter(pl.col("reason").is_null())
    references = None
    if event.no_event is not None:
        condition, note = event.no_event
        held = rows.with_columns(condition.fill_null(False).alias("no_event"))
        references = reference_rows(held.filter(pl.col("no_event")), note)
        rows = held.filter(~pl.col("no_event"))
    rows, vault = actor(rows, key)
    events = rows.with_columns(
        pl.lit(source).alias("source"),
        # A delivery landed without a receipt time falls back to when it was fetched from the queue.
        pl.coalesce(timing["occurred_at"], "received_at", "fetched_at").alias("occurred_at"),
        timing[TIME_SOURCE].alias(TIME_SOURCE),
        timing[TIME_FALLBACK].alias(TIME_FALLBACK),
        **event.columns,
    )
    if event.discriminator is not None:
        events = events.with_columns(event.discriminator.alias(DISCRIMINATOR))
    return Normalised(
        signals=finish(events),
        quarantine=quarantine_rows(pl.concat([undecodable, rejected], how="diagonal_relaxed")),
        accounts=vault,
        references=references,
    )


# -- polled records ------------------------------------------------------------------------------
# Polled kinds are declared the way webhook events are: what to decode, what makes a record bad,
# who did it, the entity, and the events one record yields. :func:`polled_events` runs the steps
# every polled normaliser shares (decode → derive → check → attribute → events → quarantine).
Prepare = Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]


@dataclass(frozen=True)
class Happening:
    """One event a polled record can yield, on top of the record's columns.

    ``at`` is ``occurred_at`` (null: the record's ``occurred_at`` column, set by ``derived``);
    ``when`` selects the records that have it (all when null); ``columns`` overrides others
    (a merge's actor). Happenings are stacked in order, which keeps event ids' last-wins stable.
    """

    action: str | pl.Expr
    at: pl.Expr | None = None
    state: str | pl.Expr | None = None
    when: pl.Expr | None = None
    columns: dict[str, pl.Expr] = field(default_factory=dict)

    def rows(self, records: pl.DataFrame) -> pl.DataFrame:
        rows = records if self.when is None else records.filter(self.when)
        exprs = [
            (pl.lit(self.action) if isinstance(self.action, str) else self.action).alias("action")
        ]
        if self.at is not None:
            exprs.append(self.at.alias("occurred_at"))
        if self.state is not None:
            state = pl.lit(self.state) if isinstance(self.state, str) else self.state
            exprs.append(state.alias("state"))
        return rows.with_columns(*exprs, **self.columns)


def once_set(
    field: str, action: str, state: str | pl.Expr | None = None, **columns: pl.Expr
) -> Happening:
    """``action`` at the time in ``field``, for the records where ``field`` is set."""
    return Happening(action, utc(pl.col(field)), state, pl.col(field).is_not_null(), columns)


def happened(records: pl.DataFrame, *happenings: Happening) -> pl.DataFrame:
    """The finished signals of ``happenings`` over ``records`` (see :class:`Happening`)."""
    return finish(pl.concat([h.rows(records) for h in happenings], how="diagonal_relaxed"))


@dataclass(frozen=True)
class PolledKind:
    """How records of one polled kind become events (see :func:`polled_events`).

    Expressions are evaluated on the record's decoded top-level fields (``dtype``, unnested)
    next to the landing columns.
    """

    dtype: pl.Struct
    entity_type: str
    entity_id: pl.Expr
    happenings: tuple[Happening, ...]
    columns: dict[str, pl.Expr]  # other SIGNALS columns every event of a record shares
    # Reasons to quarantine a record, in order: the first that is not null is the reason.
    problems: tuple[pl.Expr, ...] = ()
    # Helper columns, step by step (a later step may read an earlier one), before the problems.
    derived: tuple[dict[str, pl.Expr], ...] = ()
    json_types: Mapping[str, str] | None = None  # see :func:`decode`
    # Runs first on the decoded rows, with the landing rows (columns from provenance).
    prepare: Prepare | None = None
    actor: Attribution | None = None  # adds ``actor`` / ``actor_kind``; none: no account
    # Valid records that hold no event (condition, note for their reference rows): set aside
    # before attribution, as a webhook event's ``no_event`` …
    no_event: tuple[pl.Expr, str] | None = None
    # … or noted after it, their accounts kept (their happenings' conditions exclude them) …
    references: tuple[pl.Expr, str] | None = None
    # … and valid records skipped without a trace (nothing happened yet, e.g. a pending review).
    keep: pl.Expr | None = None
    # Decoded fields renamed before they become columns (one named like a landing column).
    renamed: dict[str, str] = field(default_factory=dict)


def checked(
    landing: pl.DataFrame,
    dtype: pl.Struct,
    problems: tuple[pl.Expr, ...],
    *,
    derived: tuple[dict[str, pl.Expr], ...] = (),
    json_types: Mapping[str, str] | None = None,
    prepare: Prepare | None = None,
    renamed: Mapping[str, str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decode ``landing`` (``dtype``'s fields become columns), add ``derived`` columns step by
    step, and check ``problems`` in order (the first that is not null is the reason).

    Returns the valid rows and the quarantine rows (undecodable or with a reason).
    """
    decoded, undecodable = decode(landing, dtype, json_types=json_types)
    if renamed:
        names = [renamed.get(f.name, f.name) for f in dtype.fields]
        decoded = decoded.with_columns(pl.col("doc").struct.rename_fields(names))
    rows = decoded.unnest("doc")
    if prepare is not None:
        rows = prepare(rows, landing)
    for step in derived:
        rows = rows.with_columns(**step)
    reason = first_reason(*problems) if problems else pl.lit(None, pl.String).alias("reason")
    return split_rejected(rows.with_columns(reason), undecodable)


def polled_events(landing: pl.DataFrame, key: str, kind: PolledKind, *, source: str) -> Normalised:
    """The events of ``landing``'s records as ``kind`` declares them; see :class:`PolledKind`."""
    rows, quarantine = checked(
        landing,
        kind.dtype,
        kind.problems,
        derived=kind.derived,
        json_types=kind.json_types,
        prepare=kind.prepare,
        renamed=kind.renamed,
    )
    references = []
    if kind.no_event is not None:
        condition, note = kind.no_event
        references.append(reference_rows(rows.filter(condition.fill_null(False)), note))
        rows = rows.filter(~condition.fill_null(False))
    if kind.keep is not None:
        rows = rows.filter(kind.keep)
    if kind.actor is not None:
        rows, vault = kind.actor(rows, key)
    else:
        vault = schema.empty(schema.ACCOUNTS)
    if kind.references is not None:
        condition, note = kind.references
        references.append(reference_rows(rows.filter(condition.fill_null(False)), note))
    rows = rows.with_columns(
        pl.lit(source).alias("source"),
        pl.lit(kind.entity_type).alias("entity_type"),
        kind.entity_id.alias("entity_id"),
        **kind.columns,
    )
    return Normalised(
        signals=happened(rows, *kind.happenings),
        quarantine=quarantine,
        accounts=vault,
        references=pl.concat(references) if references else None,
    )


def polled(kind: PolledKind, source: str, doc: str | None = None) -> Normaliser:
    """The normaliser of ``kind`` (``doc`` becomes its docstring)."""

    def normaliser(landing: pl.DataFrame, key: str) -> Normalised:
        return polled_events(landing, key, kind, source=source)

    normaliser.__doc__ = doc
    return normaliser


def webhook(event: WebhookEvent, *, source: str, actor: Attribution) -> Normaliser:
    """The normaliser of webhook deliveries of one kind (see :func:`webhook_events`)."""

    def normaliser(landing: pl.DataFrame, key: str) -> Normalised:
        return webhook_events(landing, key, event, source=source, actor=actor)

    normaliser.__doc__ = f"Webhook deliveries: {event.label}."
    return normaliser


# -- commits inside push deliveries --------------------------------------------------------------
# GitHub's ``push`` and GitLab's ``Push Hook`` list the pushed commits in one shape (GitLab's
# people have no ``username``, and no ``committer``): each becomes the polled commit's
# ``committed`` event.
PUSH_PERSON = pl.Struct(text("name", "email", "username"))
PUSH_COMMIT = pl.Struct(
    {
        **text("id", "message", "timestamp", "url", "distinct"),
        "author": PUSH_PERSON,
        "committer": PUSH_PERSON,
        **{change: pl.List(pl.String()) for change in ("added", "modified", "removed")},
    }
)
# Accounts that commit for a tool rather than a person: GitHub's web-flow (merges and edits
# made in the web UI) and apps (``name[bot]``, ``…[bot]@users.noreply.github.com``).
_BOT_LOGINS = ("web-flow",)
_BOT_EMAILS = ("noreply@github.com",)


def _push_person(who: str) -> list[pl.Expr]:
    person = pl.col(who)
    return [
        person.struct.field(part).alias(f"{who}_{part}") for part in ("name", "email", "username")
    ]


def _push_person_kind(who: str) -> pl.Expr:
    username, email, name = (pl.col(f"{who}_{part}") for part in ("username", "email", "name"))
    return (
        pl.when(username.is_null() & email.is_null())
        .then(pl.lit("unknown"))
        .when(
            username.str.ends_with("[bot]").fill_null(False)
            | username.is_in(_BOT_LOGINS).fill_null(False)
            | name.str.ends_with("[bot]").fill_null(False)
            | email.str.contains(r"\[bot\]@").fill_null(False)
            | email.str.to_lowercase().is_in(_BOT_EMAILS).fill_null(False)
        )
        .then(pl.lit("bot"))
        .otherwise(pl.lit("human"))
    )


def _push_pseudonyms(
    rows: pl.DataFrame, who: str, *, key: str, login_source: str
) -> tuple[pl.Series, pl.DataFrame]:
    """The pseudonym of each row's ``who`` (its ``login_source`` username, else its email, as
    polled commits with no linked account) and the vault rows of those people."""
    username, email = rows.get_column(f"{who}_username"), rows.get_column(f"{who}_email")
    by_login = pseudonymise(login_source, username, key)
    by_email = pseudonymise("email", email, key)
    people = rows.select(
        pl.col(f"{who}_kind").alias("actor_kind"),
        pl.when(username.is_not_null())
        .then(pl.lit(login_source))
        .otherwise(pl.lit("email"))
        .alias("source"),
        pl.coalesce(username, email).alias("handle"),
        pl.col(f"{who}_name").alias("display_name"),
        email.alias("email"),
    ).with_columns(
        pl.when(pl.col("actor_kind").is_in(["human", "bot"]))
        .then(pl.coalesce(by_login, by_email))
        .alias("pseudonym")
    )
    vault = schema.conform(people.filter(pl.col("pseudonym").is_not_null()), schema.ACCOUNTS)
    return people.get_column("pseudonym"), vault


def with_receipt_time(decoded: pl.DataFrame, landing: pl.DataFrame) -> pl.DataFrame:
    """``decoded`` with ``received_at``: when the delivery was received (else fetched)."""
    received = landing.select(
        "landing_ref", pl.coalesce("updated_at", "fetched_at").alias("received_at")
    ).unique("landing_ref")
    return decoded.join(received, on="landing_ref", how="left")


def with_pushed_commits(
    ref: Normalised, landing: pl.DataFrame, key: str, **how: object
) -> Normalised:
    """``ref`` (push deliveries' ref events) with the commits the deliveries list, as
    :func:`pushed_commits` (``how``: its keyword arguments) makes them. A delivery quarantined
    for its ref yields no commits either."""
    valid = landing.filter(~pl.col("landing_ref").is_in(ref.quarantine.get_column("landing_ref")))
    commit_events, commit_vault = pushed_commits(valid, key, **how)  # type: ignore[arg-type]
    return Normalised(
        signals=pl.concat([ref.signals, commit_events]),
        quarantine=ref.quarantine,
        accounts=merge_accounts(pl.concat([ref.accounts, commit_vault])),
        references=ref.references,
    )


def pushed_commits(
    landing: pl.DataFrame,
    key: str,
    *,
    source: str,
    login_source: str,
    fields: dict[str, pl.DataType],
    web_url: pl.Expr,
    merge_request_ref: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``commit`` events of the ``commits`` listed in push deliveries, and vault rows.

    Each commit is the entity ``<scope>@<sha>`` with action ``committed``, as the tool's polled
    commits are, at the commit's ``timestamp`` (the delivery's receipt time when it has none);
    it is attributed to its author's ``login_source`` username, else to the author's email
    (source ``email``). Author and committer both get vault rows (handle, name, email), so
    identity resolution can join username, email and name. ``attributes`` holds ``files`` (the
    sorted distinct paths added, modified or removed) and ``committer`` (its pseudonym). A
    listed commit without an id is skipped: the delivery is accounted for by its ref event.

    Args:
        landing: push deliveries (kind ``webhook:<event>``, whole bodies as payloads).
        key: the pseudonym key.
        source: the tool (``github``, ``gitlab``).
        login_source: the pseudonym source of the people's ``username``.
        fields: other top-level fields ``web_url`` reads (the repository or project).
        web_url: the repository's web address; a commit without a ``url`` gets
            ``<web_url>/commit/<sha>``.
        merge_request_ref: a regex whose group 1 is the pull request a merge commit merged.

    Returns:
        the commit events (finished signals) and the vault rows.
    """
    dtype = pl.Struct({**fields, "commits": pl.List(PUSH_COMMIT)})
    decoded, _ = decode(landing, dtype)
    rows = (
        with_receipt_time(decoded, landing)
        .unnest("doc")
        .with_columns(web_url.alias("web_url"))
        .select("landing_ref", "scope", "fetched_at", "received_at", "web_url", "commits")
        .explode("commits")
        .unnest("commits")
        .filter(pl.col("id").is_not_null())
    )
    rows = rows.with_columns(*_push_person("author"), *_push_person("committer"))
    rows = rows.with_columns(
        _push_person_kind("author").alias("author_kind"),
        _push_person_kind("committer").alias("committer_kind"),
    )
    author, author_vault = _push_pseudonyms(rows, "author", key=key, login_source=login_source)
    committer, committer_vault = _push_pseudonyms(
        rows, "committer", key=key, login_source=login_source
    )
    no_paths = pl.lit([], pl.List(pl.String))
    message = pl.col("message").fill_null("")
    events = rows.with_columns(
        author.alias("actor"),
        pl.col("author_kind").alias("actor_kind"),
        committer.alias("committer"),
        pl.lit(source).alias("source"),
        pl.lit("commit").alias("entity_type"),
        (pl.col("scope") + "@" + pl.col("id")).alias("entity_id"),
        pl.lit("committed").alias("action"),
        pl.coalesce(utc(pl.col("timestamp")), "received_at", "fetched_at").alias("occurred_at"),
        pl.col("scope").alias("repository"),
        pl.col("id").alias("commit_sha"),
        message.str.extract(merge_request_ref).cast(pl.Int64, strict=False).alias("pr_number"),
        pl.col("message")
        .str.replace_all("\r", "", literal=True)
        .str.split("\n")
        .list.first()
        .alias("title"),
        message.str.extract_all(TICKET_KEY).list.unique(maintain_order=True).alias("ticket_keys"),
        pl.coalesce("url", pl.col("web_url") + "/commit/" + pl.col("id")).alias("url"),
    ).with_columns(
        pl.struct(
            pl.concat_list(
                pl.col("added").fill_null(no_paths),
                pl.col("modified").fill_null(no_paths),
                pl.col("removed").fill_null(no_paths),
            )
            .list.drop_nulls()
            .list.unique()
            .list.sort()
            .alias("files"),
            pl.col("committer"),
        )
        .struct.json_encode()
        .alias("attributes")
    )
    return finish(events), merge_accounts(pl.concat([author_vault, committer_vault]))
