"""Identity resolution: tool accounts → persons, each link with a confidence and a method.

Every tool names people its own way (a GitHub login, a Jira accountId, a commit email), so the
same person arrives as several pseudonyms. This module decides which accounts are one person,
how sure it is, and why, without leaving the pseudonymous world in its output: the vault rows it
reads carry names and emails, the links it writes carry only pseudonyms.

Two kinds of link:

* **stated** — ``override`` (``identities.yaml``, confidence 1.0) and ``configured`` (the
  handles of one ``flowsync.yaml`` member, 0.99: typos and stale entries happen);
* **inferred** — every candidate pair :mod:`~flowsync_pipelines.identity.evidence` finds gets
  the confidence of the calibrated model (:mod:`~flowsync_pipelines.identity.calibrate`) for
  its features, and the name of its strongest evidence as its method: ``verified_email``,
  ``noreply_email``, ``same_login``, ``same_name``, ``login_name_form``,
  ``name_email_similarity`` or ``co_activity``. Pairs below :data:`KEEP_THRESHOLD` are dropped.

An account tied to nobody is a ``singleton`` (confidence 1.0: the account *is* its person).

Clustering is greedy union-find over the links, stated ones first, then by confidence, with
two constraints: ``split`` overrides (a split wins over every rule and over the configuration)
and *one account per tool*: an inferred link that would give a person two accounts of one tool
(commit ``email`` accounts aside) is skipped. Bots and deleted accounts are never linked.

The person pseudonym is ``person_`` + a keyed hash of the cluster's smallest account pseudonym:
stable from run to run while the cluster keeps that account.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import TYPE_CHECKING

import polars as pl

from flowsync_pipelines.identity.calibrate import IdentityModel, fitted_model
from flowsync_pipelines.identity.evidence import pair_features, prepare
from flowsync_pipelines.identity.overrides import Overrides, override_groups, split_pairs
from flowsync_pipelines.identity.store import RESULT_SCHEMA
from flowsync_pipelines.pseudonym import pseudonym

if TYPE_CHECKING:
    from flowsync_pipelines.settings import Member

PERSON_PREFIX = "person_"

OVERRIDE = "override"
CONFIGURED = "configured"
VERIFIED_EMAIL = "verified_email"
NOREPLY_EMAIL = "noreply_email"
SAME_LOGIN = "same_login"
SAME_NAME = "same_name"
LOGIN_NAME_FORM = "login_name_form"
NAME_EMAIL_SIMILARITY = "name_email_similarity"
CO_ACTIVITY = "co_activity"
SINGLETON = "singleton"

# Confidences of the stated links and of a singleton.
METHOD_CONFIDENCE: dict[str, float] = {OVERRIDE: 1.0, CONFIGURED: 0.99, SINGLETON: 1.0}
# Which evidence names an inferred link (first that fired), and the tie order of methods.
INFERRED_METHODS: tuple[tuple[str, pl.Expr], ...] = (
    (VERIFIED_EMAIL, pl.col("email_exact") == 1),
    (NOREPLY_EMAIL, pl.col("noreply") == 1),
    (SAME_LOGIN, (pl.col("same_login") == 1) | (pl.col("login_core_equal") == 1)),
    (SAME_NAME, pl.col("same_full_name") == 1),
    (
        LOGIN_NAME_FORM,
        (pl.sum_horizontal(pl.col("^form_(full|initial|surname|first)$")) > 0)
        & (pl.col("form_from_email") == 0),
    ),
    (NAME_EMAIL_SIMILARITY, pl.sum_horizontal(pl.col("^form_(full|initial|surname|first)$")) > 0),
    (CO_ACTIVITY, pl.col("co_tickets") > 0),
)
METHOD_PRIORITY: dict[str, int] = {
    m: i for i, m in enumerate([OVERRIDE, CONFIGURED, *(m for m, _ in INFERRED_METHODS)])
}
STATED = (OVERRIDE, CONFIGURED)
# An inferred link is kept when its calibrated confidence reaches this.
KEEP_THRESHOLD = 0.5
# Sources of which one person may hold several accounts (commit addresses).
MULTI_ACCOUNT_SOURCES = frozenset({"email"})

LINK_SCHEMA = pl.Schema(
    {"left": pl.String, "right": pl.String, "method": pl.String, "confidence": pl.Float64}
)


def resolve_identities(
    accounts: pl.DataFrame,
    *,
    overrides: Overrides | None,
    key: str,
    members: Sequence[Member] = (),
    coactivity: pl.DataFrame | None = None,
    model: IdentityModel | None = None,
) -> pl.DataFrame:
    """Group accounts into persons: one row per account with its person, confidence and method.

    Args:
        accounts: vault rows (``pseudonym, source, handle, display_name, email, actor_kind``);
            a pseudonym listed twice keeps its first row.
        overrides: corrections from ``identities.yaml`` (``None``: none).
        key: the pseudonym key, to find the accounts overrides and members name, and to key
            the person pseudonym.
        members: team members from ``flowsync.yaml``; the handles of one member are one person.
        coactivity: code ↔ tracker co-activity (``evidence.coactivity``); ``None``: not used.
        model: the calibrated pair model; default the one fitted on the shipped labels.

    Returns:
        ``pseudonym, source, person, confidence, method`` — no handle, name or email.
    """
    accounts = prepare(accounts)
    if accounts.is_empty():
        return pl.DataFrame(schema=RESULT_SCHEMA)
    links = candidate_links(
        accounts,
        overrides=overrides,
        key=key,
        members=members,
        coactivity=coactivity,
        model=model,
    )
    links = links.filter(pl.col("method").is_in(STATED) | (pl.col("confidence") >= KEEP_THRESHOLD))
    sources = dict(accounts.select("pseudonym", "source").iter_rows())
    cluster_of = _cluster(
        accounts.get_column("pseudonym").to_list(),
        links,
        split_pairs(overrides, key),
        sources,
    )
    clusters = pl.DataFrame(
        {"pseudonym": list(cluster_of), "cluster": list(cluster_of.values())},
        schema={"pseudonym": pl.String, "cluster": pl.String},
    )
    in_person = (
        links.join(clusters.rename({"pseudonym": "left", "cluster": "lc"}), on="left")
        .join(clusters.rename({"pseudonym": "right", "cluster": "rc"}), on="right")
        .filter(pl.col("lc") == pl.col("rc"))
    )
    strongest = (
        pl.concat(
            [
                in_person.select(pl.col("left").alias("pseudonym"), "method", "confidence"),
                in_person.select(pl.col("right").alias("pseudonym"), "method", "confidence"),
            ]
        )
        .with_columns(pl.col("method").replace_strict(METHOD_PRIORITY).alias("priority"))
        .sort(["pseudonym", "confidence", "priority"], descending=[False, True, False])
        .group_by("pseudonym", maintain_order=True)
        .first()
        .select("pseudonym", "method", "confidence")
    )
    anchors = clusters.select("cluster").unique()
    persons = anchors.with_columns(
        pl.col("cluster")
        .map_batches(
            lambda s: pl.Series([_person_pseudonym(key, a) for a in s.to_list()], dtype=pl.String),
            return_dtype=pl.String,
        )
        .alias("person")
    )
    return (
        accounts.select("pseudonym", "source")
        .join(clusters, on="pseudonym", how="left")
        .join(persons, on="cluster", how="left")
        .join(strongest, on="pseudonym", how="left")
        .with_columns(
            pl.col("confidence").fill_null(METHOD_CONFIDENCE[SINGLETON]),
            pl.col("method").fill_null(SINGLETON),
        )
        .select(list(RESULT_SCHEMA.names()))
        .cast(dict(RESULT_SCHEMA))
        .sort("pseudonym")
    )


def candidate_links(
    accounts: pl.DataFrame,
    *,
    overrides: Overrides | None,
    key: str,
    members: Sequence[Member] = (),
    coactivity: pl.DataFrame | None = None,
    model: IdentityModel | None = None,
) -> pl.DataFrame:
    """Every link proposed between mergeable accounts, before the threshold and clustering.

    Returns ``left, right, method, confidence`` with ``left < right``: stated links and every
    scored candidate pair (below :data:`KEEP_THRESHOLD` too). Exposed so tests can measure each
    method alone.
    """
    accounts = prepare(accounts)
    mergeable = accounts.filter(pl.col("mergeable"))
    known = set(mergeable.get_column("pseudonym").to_list())
    inferred = score_pairs(pair_features(accounts, coactivity), model or fitted_model())
    parts = [
        _group_links(override_groups(overrides, key), known, OVERRIDE),
        _group_links(_member_groups(members, key), known, CONFIGURED),
        inferred.select(list(LINK_SCHEMA.names())),
    ]
    return pl.concat([p.cast(dict(LINK_SCHEMA)) for p in parts]).unique(maintain_order=True)


def score_pairs(pairs: pl.DataFrame, model: IdentityModel) -> pl.DataFrame:
    """Candidate pairs with their method (strongest evidence) and calibrated confidence."""
    method = pl.lit(None, pl.String)
    for name, fired in reversed(INFERRED_METHODS):
        method = pl.when(fired).then(pl.lit(name)).otherwise(method)
    return pairs.with_columns(
        method.alias("method"),
        pl.Series("confidence", model.predict(pairs), dtype=pl.Float64),
    )


def _member_groups(members: Sequence[Member], key: str) -> list[list[str]]:
    """Each configured member's accounts: per-tool handles and the ``email`` account."""
    groups = []
    for member in members:
        refs = [
            (tool, handle)
            for tool, handle in member.model_dump(exclude={"name", "email"}).items()
            if handle
        ]
        if member.email:
            refs.append(("email", member.email))
        groups.append([pseudonym(key, tool, handle) for tool, handle in refs])
    return groups


def _group_links(groups: Iterable[list[str]], known: set[str], method: str) -> pl.DataFrame:
    pairs = [
        (min(a, b), max(a, b), method, METHOD_CONFIDENCE[method])
        for group in groups
        for a, b in combinations(sorted({p for p in group if p in known}), 2)
    ]
    return pl.DataFrame(pairs, schema=LINK_SCHEMA, orient="row")


def _cluster(
    pseudonyms: list[str],
    links: pl.DataFrame,
    cannot_link: set[frozenset[str]],
    sources: dict[str, str],
) -> dict[str, str]:
    """Union-find over ``links``, stated first, then strongest; each account's cluster id.

    The cluster id is the cluster's smallest pseudonym. A link that would join two accounts a
    split override keeps apart is skipped (if it is an override merge, the file contradicts
    itself and a person has to decide); an inferred link that would give a person two accounts
    of one tool is skipped.
    """
    parent = {p: p for p in pseudonyms}
    members = {p: {p} for p in pseudonyms}
    tools = {p: {sources[p]} - MULTI_ACCOUNT_SOURCES for p in pseudonyms}
    forbidden: dict[str, set[str]] = {p: set() for p in pseudonyms}
    for pair in cannot_link:
        a, b = tuple(pair)
        if a in forbidden and b in forbidden:
            forbidden[a].add(b)
            forbidden[b].add(a)

    def find(p: str) -> str:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    ordered = links.with_columns(
        pl.col("method").replace_strict(METHOD_PRIORITY).alias("priority"),
        pl.col("method").is_in(STATED).alias("stated"),
    ).sort(
        ["stated", "confidence", "priority", "left", "right"],
        descending=[True, True, False, False, False],
    )
    for left, right, method in ordered.select("left", "right", "method").iter_rows():
        a, b = find(left), find(right)
        if a == b:
            continue
        if forbidden[a] & members[b]:
            if method == OVERRIDE:
                message = (
                    "identities.yaml: a merge group joins accounts that a split group keeps "
                    "apart; remove the account from one of the two groups."
                )
                raise ValueError(message)
            continue
        if method not in STATED and tools[a] & tools[b]:
            continue
        if len(members[a]) < len(members[b]):
            a, b = b, a
        parent[b] = a
        members[a] |= members.pop(b)
        forbidden[a] |= forbidden.pop(b)
        tools[a] |= tools.pop(b)
    return {p: min(members[find(p)]) for p in pseudonyms}


def _person_pseudonym(key: str, anchor: str) -> str:
    digest = hmac.new(key.encode(), f"person:{anchor}".encode(), hashlib.sha256).hexdigest()
    return PERSON_PREFIX + digest[:24]


def override_coverage(
    overrides: Overrides | None, accounts: pl.DataFrame, key: str
) -> dict[str, int]:
    """How many override entries name a known mergeable account, an unseen one, or a bot.

    Counts only: the entries themselves are personal data and stay out of run metadata.
    """
    counts = {"applied": 0, "not_seen_yet": 0, "never_merged": 0}
    if overrides is None:
        return counts
    prepared = prepare(accounts)
    mergeable = dict(
        zip(prepared.get_column("pseudonym"), prepared.get_column("mergeable"), strict=True)
    )
    for group in overrides.merge:
        for source, handle in group:
            state = mergeable.get(pseudonym(key, source, handle))
            counts["not_seen_yet" if state is None else "applied" if state else "never_merged"] += 1
    return counts
