"""Landing's privacy (the raw zone): scrubbing records before and after they land, the scan.

Landing holds tool payloads as the tools sent them, so it is where identifiers are allowed and
where ``forget`` starts: every Parquet file holding an identifier is rewritten atomically, with
``payload_sha256`` and ``landing_ref`` recomputed for changed rows (later stores follow the
rewritten refs). :func:`scrub_erased` is the landing-time half: a record re-fetched from a tool
that still holds an erased person lands scrubbed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.metadata import MetadataStore
from flowsync_pipelines.privacy.findings import RAW
from flowsync_pipelines.privacy.identifiers import (
    IdentifierKind,
    IdentifierSet,
    is_erased,
    matches_in_value,
    prefilter,
    scrub_payload,
    scrub_text,
)
from flowsync_pipelines.privacy.interface import Erasure, Export, Exported, Scan, replace_file
from flowsync_pipelines.privacy.registry import erased_identifiers

LANDING_TEXT_COLUMNS = ("scope", "record_id", "request")


def _landing_ref(source: str, kind: str, record_id: str, sha256: str) -> str:
    return f"{source}/{kind}/{record_id}@{sha256[:16]}"  # as landing.landing_frame builds it


def _scrub_landing_rows(
    frame: pl.DataFrame, identifiers: IdentifierSet, *, source: str, kind: str
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Scrub landing rows; returns the frame and ``{old landing_ref: new landing_ref}``."""
    candidates = prefilter(frame.get_column("payload"), identifiers)
    for column in LANDING_TEXT_COLUMNS:
        if column in frame.columns:
            candidates = candidates | prefilter(frame.get_column(column), identifiers)
    rows = candidates.arg_true().to_list()
    if not rows:
        return frame, {}
    columns = {c: frame.get_column(c).to_list() for c in ("payload", *LANDING_TEXT_COLUMNS)}
    sha = frame.get_column("payload_sha256").to_list()
    refs = frame.get_column("landing_ref").to_list()
    changed: dict[str, str] = {}
    for row in rows:
        payload = columns["payload"][row]
        new_payload = scrub_payload(payload, identifiers)
        texts = {
            c: None if columns[c][row] is None else scrub_text(columns[c][row], identifiers)
            for c in LANDING_TEXT_COLUMNS
        }
        if new_payload == payload and all(texts[c] == columns[c][row] for c in texts):
            continue
        columns["payload"][row] = new_payload
        for c, value in texts.items():
            columns[c][row] = value
        sha[row] = hashlib.sha256(new_payload.encode()).hexdigest()
        new_ref = _landing_ref(source, kind, columns["record_id"][row], sha[row])
        changed[refs[row]] = new_ref
        refs[row] = new_ref
    if not changed:
        return frame, {}
    replaced = [
        pl.Series(name, values, dtype=frame.schema[name]) for name, values in columns.items()
    ]
    replaced.append(pl.Series("payload_sha256", sha, dtype=frame.schema["payload_sha256"]))
    replaced.append(pl.Series("landing_ref", refs, dtype=frame.schema["landing_ref"]))
    return frame.with_columns(replaced), changed


def scrub_landing_frame(frame: pl.DataFrame, identifiers: IdentifierSet) -> pl.DataFrame:
    """Landing rows (as :func:`~flowsync_pipelines.landing.landing_frame` builds them) scrubbed.

    The landing-time half of an erasure: a record re-fetched from a tool that still holds an
    erased person is scrubbed before it is landed, with ``payload_sha256`` and ``landing_ref``
    recomputed, so it lands as the version ``forget`` already wrote (a no-op) or as a clean one.
    """
    if not identifiers or frame.is_empty():
        return frame
    parts = []
    numbered = frame.with_row_index("_row")
    for (source, kind), part in numbered.partition_by(["source", "kind"], as_dict=True).items():
        parts.append(_scrub_landing_rows(part, identifiers, source=str(source), kind=str(kind))[0])
    return pl.concat(parts).sort("_row").drop("_row")


def scrub_erased(frame: pl.DataFrame, store: MetadataStore | sa.Engine) -> pl.DataFrame:
    """``frame`` with erased people's identifiers scrubbed: call it on every frame before landing.

    ``store`` is the metadata store (or its engine, as the webhook queue holds it). A no-op (one
    small query) while nobody has been erased; row order is kept.
    """
    identifiers = erased_identifiers(store)
    return scrub_landing_frame(frame, identifiers) if identifiers else frame


def commit_addresses(
    landing: LandingStore, sources: Iterable[str], logins: set[str], names: set[str]
) -> tuple[set[str], set[str]]:
    """Emails and names GitHub commits show for the person: ``(emails, names)``.

    A commit made with one of ``logins`` shows its address and name; a commit linked to no
    account (``author: null``, an address GitHub does not know) is the person's when it carries
    one of their display names. The vault keeps one email per account, so without this a second
    commit address would survive an erasure. (A namesake's unlinked commits would be erased too:
    the safer error.)
    """
    emails: set[str] = set()
    found_names: set[str] = set()
    if not logins and not names:
        return emails, found_names
    for source in sources:
        lazy = landing.scan(source, "commits")
        payload = pl.col("payload")
        frame = lazy.select(
            *(
                payload.str.json_path_match(f"$.{who}.login").alias(f"{who}_login")
                for who in ("author", "committer")
            ),
            *(
                payload.str.json_path_match(f"$.commit.{who}.{what}").alias(f"{who}_{what}")
                for who in ("author", "committer")
                for what in ("email", "name")
            ),
        ).collect()
        for who in ("author", "committer"):
            login = pl.col(f"{who}_login")
            mine = frame.filter(
                login.str.to_lowercase().is_in(sorted(logins))
                | (login.is_null() & pl.col(f"{who}_name").str.to_lowercase().is_in(sorted(names)))
            )
            emails.update(mine.get_column(f"{who}_email").drop_nulls().to_list())
            found_names.update(mine.get_column(f"{who}_name").drop_nulls().to_list())
    return emails, found_names


def _files(root: Path) -> list[Path]:
    return sorted(root.glob("source=*/kind=*/*.parquet"))


def _source_kind(path: Path) -> tuple[str, str]:
    return (
        path.parent.parent.name.removeprefix("source="),
        path.parent.name.removeprefix("kind="),
    )


class LandingPrivacy:
    """Landing's side of :class:`~flowsync_pipelines.privacy.interface.PrivacyStore`."""

    raw_zone = True

    def scan(self, scan: Scan) -> None:
        """Raw zone: live identifiers counted by a vectorised substring search (informational);
        erased ones matched exactly, since the raw zone must not hold them either."""
        scan.scanned.append("landing")
        identifiers, erased, found = scan.identifiers, scan.erased, scan.found
        files = _files(scan.stores.landing)
        scan.say(f"scanning landing: {len(files)} files …")
        if not files:
            return
        live = [p for p in identifiers.patterns() if not is_erased(identifiers, p)]
        lazy = pl.scan_parquet(files, hive_partitioning=True)
        if live:
            hits = (
                lazy.select(
                    "source",
                    "kind",
                    "landing_ref",
                    pl.col("payload").str.to_lowercase().str.extract_many(live).alias("hits"),
                )
                .filter(pl.col("hits").list.len() > 0)
                .explode("hits")
                .collect()
            )
            live_kind = IdentifierKind(erased=False)
            for source, kind, ref, hit in hits.iter_rows():
                found.add("landing", f"{source}/{kind}", RAW, hit, live_kind, ref)
        if not erased:
            return
        for path in files:
            location = "/".join(_source_kind(path))
            frame = pl.read_parquet(path, hive_partitioning=False)
            columns = ["landing_ref", "payload", *LANDING_TEXT_COLUMNS]
            for ref, payload, *texts in frame.select(columns).iter_rows():
                matches = matches_in_value(payload, erased, is_json=True)
                for text in texts:
                    if text:
                        matches += matches_in_value(text, erased, is_json=False)
                for matched, kind_of in matches:
                    found.add("landing", location, RAW, matched, kind_of, ref)

    def forget(self, erasure: Erasure) -> dict[str, int]:
        """Rewrite every landing file holding an identifier; the refs it changed go to
        ``erasure.rewritten_refs``."""
        files = _files(erasure.stores.landing)
        erasure.say(f"scrubbing landing: {len(files)} files …")
        rows = changed_files = 0
        for path in files:
            source, kind = _source_kind(path)
            frame = pl.read_parquet(path, hive_partitioning=False)
            scrubbed, changed = _scrub_landing_rows(
                frame, erasure.identifiers, source=source, kind=kind
            )
            if not changed:
                continue
            replace_file(
                path,
                lambda target, data=scrubbed: data.write_parquet(
                    target, compression="zstd", compression_level=1, statistics=True
                ),
            )
            rows += len(changed)
            changed_files += 1
            erasure.rewritten_refs.update(changed)
        return {"landing_rows": rows, "landing_files": changed_files}

    def export(self, export: Export) -> Exported:
        """Records that mention the person, cited by ``landing_ref``: raw payloads also describe
        other people, so they are not copied."""
        export.say("finding landing records that mention the person …")
        refs: list[str] = []
        if export.identifiers:
            for path in _files(export.stores.landing):
                frame = pl.read_parquet(path, hive_partitioning=False)
                candidates = prefilter(frame.get_column("payload"), export.identifiers)
                selected = frame.filter(candidates).select("payload", "landing_ref")
                for payload, ref in selected.iter_rows():
                    if matches_in_value(payload, export.identifiers, is_json=True):
                        refs.append(ref)
        refs.sort()
        by_kind: dict[str, int] = {}
        for ref in refs:
            source_kind = "/".join(ref.split("/", 2)[:2])
            by_kind[source_kind] = by_kind.get(source_kind, 0) + 1
        return Exported(
            sections={"landing_records": {"by_source_kind": by_kind, "landing_refs": refs}},
            counts={"landing_records": len(refs)},
        )
