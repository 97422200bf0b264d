"""Identity resolution: tool accounts → persons, each link with a confidence and a method.

Every tool names people its own way (a GitHub login, a Jira accountId, a commit email), so the
same person arrives as several pseudonyms. This module decides which accounts are one person,
how sure it is, and why, without leaving the pseudonymous world in its output: the vault rows it
reads carry names and emails, the links it writes carry only pseudonyms.

Rules, strongest first (an account's ``method`` and ``confidence`` come from the strongest rule
that ties it to another account of its person):

=========================  ==========  ========================================================
method                     confidence  why
=========================  ==========  ========================================================
``override``               1.0         a person said so in ``identities.yaml``
``configured``             0.99        an admin listed the handles under one member of
                                       ``flowsync.yaml`` (typos and stale entries happen)
``verified_email``         0.97        the tools report the same address (case-insensitive,
                                       ``+tag`` ignored), or a ``users.noreply.github.com``
                                       address names the GitHub account. Role addresses
                                       (``noreply@``, ``team@``…) and addresses several
                                       accounts of one tool share are never used.
``same_login``             0.90        one login on both GitHub and GitLab; short or generic
                                       logins (``admin``, ``dev``…) are never used
``name_email_similarity``  0.80–0.95   display names and email local parts agree after folding
                                       accents and case ("Zoë Müller" ~ ``zoe.muller``); the
                                       score is a noisy-OR of the evidence, capped at 0.95
``singleton``              1.0         nothing tied the account to another: the account *is*
                                       its person, so the link itself is certain
=========================  ==========  ========================================================

Safety rails against over-merging: bots and deleted accounts are never merged with anything
(not even by an override); a name shared by two accounts of one tool is not evidence; a
name-derived handle form (``jdoe``) that two different names produce is not evidence; two
different addresses at the same domain, or two clearly different names, veto a similarity
match; similarity never joins two accounts of the same tool (other than ``email``).

Clustering is greedy union-find over the candidate links, strongest first, with ``split``
overrides as cannot-link constraints: a link that would put two split accounts into one person
is skipped, so a split wins over every automatic rule and over the configuration.

The person pseudonym is ``person_`` + a keyed hash of the cluster's smallest account pseudonym:
stable from run to run while the cluster keeps that account (a new account with a smaller
pseudonym joining the cluster renames the person).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa
import yaml

from flowsync_pipelines.metadata import identity_vault
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.warehouse import insert_rows

if TYPE_CHECKING:
    import duckdb

    from flowsync_pipelines.settings import Member

IDENTITIES_ENV = "FLOWSYNC_IDENTITIES"
PERSON_PREFIX = "person_"

OVERRIDE = "override"
CONFIGURED = "configured"
VERIFIED_EMAIL = "verified_email"
SAME_LOGIN = "same_login"
NAME_EMAIL_SIMILARITY = "name_email_similarity"
SINGLETON = "singleton"

# Fixed confidences of the rule-based methods (see the module docstring for the reasoning).
METHOD_CONFIDENCE: dict[str, float] = {
    OVERRIDE: 1.0,
    CONFIGURED: 0.99,
    VERIFIED_EMAIL: 0.97,
    SAME_LOGIN: 0.90,
    SINGLETON: 1.0,
}
# Which rule wins when two links of an account are equally confident, and the order links are
# applied in while clustering.
METHOD_PRIORITY: dict[str, int] = {
    OVERRIDE: 0,
    CONFIGURED: 1,
    VERIFIED_EMAIL: 2,
    SAME_LOGIN: 3,
    NAME_EMAIL_SIMILARITY: 4,
}

# Similarity evidence: (signature kind on one account, kind on the other) → (evidence, weight).
# Weights are the probability that the two accounts are one person given that evidence alone;
# evidence is combined by noisy-OR. A full-name or a first+last handle form alone passes the
# threshold; an initial form ("jdoe") or an equal local part at two domains needs company.
SIMILARITY_EVIDENCE: dict[tuple[str, str], tuple[str, float]] = {
    ("name_full", "name_full"): ("same_full_name", 0.85),
    ("name_compact", "email_compact"): ("name_is_email_local", 0.85),
    ("name_initial", "email_compact"): ("initials_in_email_local", 0.60),
    ("email_compact", "email_compact"): ("same_email_local", 0.50),
}
SIMILARITY_THRESHOLD = 0.80
SIMILARITY_CAP = 0.95

NEVER_MERGED_KINDS = ("bot", "deleted")
GITHUB_NOREPLY_DOMAIN = "users.noreply.github.com"
LOGIN_SOURCES = ("github", "gitlab")
MIN_LOGIN_LENGTH = 4
MIN_COMPACT_LENGTH = 4
# One person rarely has more addresses with one local part (work, personal, an old employer).
MAX_ADDRESSES_PER_LOCAL = 3
# Local parts of role, list and robot addresses: many people write from them.
GENERIC_LOCAL = (
    r"^(no-?reply.*|do-?not-?reply.*|mailer-daemon|postmaster|admin(istrator)?|root|info|"
    r"support|help|contact|hello|team|dev|devs|developers?|engineering|eng|ops|devops|it|hr|"
    r"security|ci|build|builds|bot|bots|git|github|gitlab|jira|jenkins|notifications?|"
    r"users?|test|tests?er|me|mail|office)$"
)
GENERIC_LOGINS = frozenset(
    {"admin", "root", "test", "tester", "user", "guest", "ghost", "build", "deploy", "robot"}
)
# Letters Unicode decomposition leaves alone (NFKD splits "é" into "e" + accent, not "ø").
FOLDED_LETTERS = {
    "ø": "o",
    "ł": "l",
    "đ": "d",
    "ð": "d",
    "ı": "i",
    "ß": "ss",
    "æ": "ae",
    "œ": "oe",
    "þ": "th",
}

RESULT_SCHEMA = pl.Schema(
    {
        "pseudonym": pl.String,
        "source": pl.String,
        "person": pl.String,
        "confidence": pl.Float64,
        "method": pl.String,
    }
)
LINK_SCHEMA = pl.Schema(
    {"left": pl.String, "right": pl.String, "method": pl.String, "confidence": pl.Float64}
)


# -- identities.yaml ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Overrides:
    """Corrections to automatic resolution, read from ``identities.yaml``.

    The file (``FLOWSYNC_IDENTITIES``, default ``$FLOWSYNC_HOME/identities.yaml``) has two
    optional lists of account groups::

        # Each merge group: accounts that are one person (method "override", confidence 1.0).
        merge:
          - [github:jdoe-acme, "jira:712020:5b10ac8d-82e0-4c7f-9a1e-0123456789ab"]
          - [github:zoe-m, email:zoe@personal.example]
        # Each split group: accounts that are never the same person, pairwise.
        split:
          - [github:jsmith, email:j.smith@acme.example]

    An account is written ``<source>:<handle>``, split at the first colon: ``source`` is the
    tool as FlowSync names it (``github``, ``gitlab``, ``jira``, ``linear``, ``figma``,
    ``sentry``, or ``email`` for commit authors known only by address) and ``handle`` is what
    that tool shows (login, accountId, user id, address), compared case-insensitively. Quote an
    entry that holds ``[``, ``]``, ``,``, ``#`` or ``": "`` (``"github:renovate[bot]"``).

    Overrides win over every other rule, with two limits: bots and deleted accounts are never
    merged, and a merge group that contradicts a split group is an error. Groups naming
    accounts FlowSync has not seen yet are kept and apply once the accounts appear.
    """

    merge: tuple[tuple[tuple[str, str], ...], ...] = ()
    split: tuple[tuple[tuple[str, str], ...], ...] = ()

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, origin: str = "identities.yaml") -> Overrides:
        """Validate the parsed YAML; errors name the group and entry, never the handle."""
        unknown = sorted(set(raw) - {"merge", "split"})
        if unknown:
            message = f"{origin}: unknown key(s) {unknown}; only 'merge' and 'split' are allowed."
            raise ValueError(message)
        return cls(
            merge=_groups(raw.get("merge"), "merge", origin),
            split=_groups(raw.get("split"), "split", origin),
        )


def _groups(raw: Any, kind: str, origin: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"{origin}: '{kind}' must be a list of account lists.")
    groups = []
    for number, group in enumerate(raw, start=1):
        if not isinstance(group, list) or len(group) < 2:
            message = f"{origin}: {kind} group {number} must list at least two accounts."
            raise ValueError(message)
        refs = []
        for position, entry in enumerate(group, start=1):
            source, _, handle = (
                str(entry).partition(":") if isinstance(entry, str) else ("", "", "")
            )
            if not source.strip() or not handle.strip():
                message = (
                    f"{origin}: {kind} group {number}, entry {position} is not written "
                    "'<source>:<handle>' (e.g. github:jdoe-acme)."
                )
                raise ValueError(message)
            refs.append((source.strip().lower(), handle.strip()))
        groups.append(tuple(refs))
    return tuple(groups)


def overrides_path(home: Path) -> Path:
    """``FLOWSYNC_IDENTITIES`` if set, else ``<home>/identities.yaml``."""
    explicit = os.environ.get(IDENTITIES_ENV)
    return Path(explicit).resolve() if explicit else home / "identities.yaml"


def load_overrides(path: Path) -> Overrides | None:
    """The overrides in ``path``; ``None`` when there is no such file (no corrections)."""
    if not path.exists():
        return None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        message = (
            f"{path}: {problem}{where}. Quote an account holding [ ] , # or ': ' "
            '(e.g. "github:dependabot[bot]").'
        )
        # Not chained: the parser's own message quotes the line, and the line names a person.
        raise ValueError(message) from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping with 'merge' and/or 'split' lists.")
    return Overrides.from_mapping(raw, origin=str(path))


# -- resolution --------------------------------------------------------------------------------


def resolve_identities(
    accounts: pl.DataFrame,
    *,
    overrides: Overrides | None,
    key: str,
    members: Sequence[Member] = (),
) -> pl.DataFrame:
    """Group accounts into persons: one row per account with its person, confidence and method.

    Args:
        accounts: vault rows (``pseudonym, source, handle, display_name, email, actor_kind``);
            a pseudonym listed twice keeps its first row.
        overrides: corrections from ``identities.yaml`` (``None``: none).
        key: the pseudonym key, to find the accounts overrides and members name, and to key
            the person pseudonym.
        members: team members from ``flowsync.yaml``; the handles of one member are one person.

    Returns:
        ``pseudonym, source, person, confidence, method`` — no handle, name or email.
    """
    accounts = _prepare(accounts)
    if accounts.is_empty():
        return pl.DataFrame(schema=RESULT_SCHEMA)
    links = candidate_links(accounts, overrides=overrides, key=key, members=members)
    cannot_link = _split_pairs(overrides, key)
    cluster_of = _cluster(accounts.get_column("pseudonym").to_list(), links, cannot_link)

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
    persons = {cluster: _person_pseudonym(key, cluster) for cluster in set(cluster_of.values())}
    return (
        accounts.select("pseudonym", "source")
        .join(clusters, on="pseudonym", how="left")
        .join(strongest, on="pseudonym", how="left")
        .with_columns(
            pl.col("cluster").replace_strict(persons, return_dtype=pl.String).alias("person"),
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
) -> pl.DataFrame:
    """Every link the rules propose between mergeable accounts, before clustering.

    Returns ``left, right, method, confidence`` with ``left < right``; similarity links only
    at or above :data:`SIMILARITY_THRESHOLD`. Exposed so tests can measure each rule alone.
    """
    accounts = _prepare(accounts)
    mergeable = accounts.filter(pl.col("mergeable"))
    known = set(mergeable.get_column("pseudonym").to_list())
    similar = similarity_pairs(accounts).filter(pl.col("score") >= SIMILARITY_THRESHOLD)
    parts = [
        _group_links(_override_groups(overrides, key), known, OVERRIDE),
        _group_links(_member_groups(members, key), known, CONFIGURED),
        _email_links(mergeable),
        _noreply_links(mergeable),
        _login_links(mergeable),
        similar.select(
            "left",
            "right",
            pl.lit(NAME_EMAIL_SIMILARITY).alias("method"),
            pl.col("score").alias("confidence"),
        ),
    ]
    return pl.concat([p.cast(dict(LINK_SCHEMA)) for p in parts]).unique(maintain_order=True)


def similarity_pairs(accounts: pl.DataFrame) -> pl.DataFrame:
    """Scored name/email-local similarity between mergeable accounts of different tools.

    Returns ``left, right, score, evidence`` for every pair with any surviving evidence, below
    the threshold too, so the score can be calibrated against known outcomes.
    """
    accounts = _prepare(accounts)
    signatures = _signatures(accounts.filter(pl.col("mergeable")))
    evidence_table = pl.DataFrame(
        {
            "kind_l": [k[0] for k in SIMILARITY_EVIDENCE],
            "kind_r": [k[1] for k in SIMILARITY_EVIDENCE],
            "evidence": [v[0] for v in SIMILARITY_EVIDENCE.values()],
            "weight": [v[1] for v in SIMILARITY_EVIDENCE.values()],
        }
    )
    left = signatures.rename({"pseudonym": "a", "kind": "kind_l", "email_key": "email_l"})
    right = signatures.rename({"pseudonym": "b", "kind": "kind_r", "email_key": "email_r"})
    matched = (
        left.join(right, on="value")
        .filter(pl.col("a") != pl.col("b"))
        # One address on both sides is the verified-email rule's evidence, not similarity.
        .filter((pl.col("email_l") != pl.col("email_r")).fill_null(True))
        .join(evidence_table, on=["kind_l", "kind_r"])
        .select(
            pl.min_horizontal("a", "b").alias("left"),
            pl.max_horizontal("a", "b").alias("right"),
            "evidence",
            "weight",
        )
        .group_by("left", "right", "evidence")
        .agg(pl.col("weight").max())
    )
    facts = accounts.select(
        "pseudonym", "source", "email_key", "email_domain", "name_tokens", "latin_name"
    )
    pairs = (
        matched.group_by("left", "right")
        .agg(
            (1 - (1 - pl.col("weight")).product()).clip(upper_bound=SIMILARITY_CAP).alias("score"),
            pl.col("evidence").sort().str.join(",").alias("evidence"),
        )
        .join(facts.rename(lambda c: f"{c}_l"), left_on="left", right_on="pseudonym_l")
        .join(facts.rename(lambda c: f"{c}_r"), left_on="right", right_on="pseudonym_r")
    )
    same_tool = (pl.col("source_l") == pl.col("source_r")) & (pl.col("source_l") != "email")
    other_address_same_domain = (
        (pl.col("email_domain_l") == pl.col("email_domain_r"))
        & (pl.col("email_key_l") != pl.col("email_key_r"))
    ).fill_null(False)
    other_names = (
        _names_conflict(pl.col("name_tokens_l"), pl.col("name_tokens_r"))
        & pl.col("latin_name_l")
        & pl.col("latin_name_r")
    ).fill_null(False)
    return (
        pairs.filter(~same_tool & ~other_address_same_domain & ~other_names)
        .select("left", "right", "score", "evidence")
        .sort("left", "right")
    )


def _prepare(accounts: pl.DataFrame) -> pl.DataFrame:
    """Deduplicate and add the normalised columns every rule reads (email key, name tokens)."""
    if "email_key" in accounts.columns:
        return accounts
    frame = accounts.select(
        pl.col("pseudonym").cast(pl.String),
        pl.col("source").cast(pl.String),
        pl.col("handle").cast(pl.String),
        pl.col("display_name").cast(pl.String),
        pl.col("email").cast(pl.String),
        pl.col("actor_kind").cast(pl.String),
    ).unique("pseudonym", keep="first", maintain_order=True)
    email = pl.col("email").str.strip_chars().str.to_lowercase()
    local = email.str.extract(r"^([^@\s]+)@[^@\s]+$")
    domain = email.str.extract(r"^[^@\s]+@([^@\s]+)$")
    noreply = domain == GITHUB_NOREPLY_DOMAIN
    # "+tag" addressing reaches the same mailbox; on GitHub's noreply domain it is the account.
    plain_local = pl.when(noreply).then(local).otherwise(local.str.replace(r"\+.*$", ""))
    generic = plain_local.str.contains(GENERIC_LOCAL) & ~noreply
    tokens = _name_tokens(pl.col("display_name"))
    return frame.with_columns(
        (
            ~pl.col("actor_kind").is_in(NEVER_MERGED_KINDS)
            & ~pl.col("handle").str.to_lowercase().str.ends_with("[bot]")
        ).alias("mergeable"),
        pl.when(generic | plain_local.is_null())
        .then(None)
        .otherwise(plain_local + "@" + domain)
        .alias("email_key"),
        domain.alias("email_domain"),
        pl.when(noreply).then(local.str.extract(r"^(?:\d+\+)?(.+)$")).alias("noreply_login"),
        pl.when(generic | noreply)
        .then(None)
        .otherwise(_fold(plain_local).str.replace_all(r"[._\-\d]", ""))
        .alias("email_compact"),
        tokens.alias("name_tokens"),
        tokens.list.eval(pl.element().str.contains(r"^[a-z]+$")).list.all().alias("latin_name"),
    )


def _fold(text: pl.Expr) -> pl.Expr:
    """Lower-case, accent-free text: "Zoë Müller" → "zoe muller", "Søren" → "soren"."""
    return (
        text.str.normalize("NFKD")
        .str.replace_all(r"\p{M}", "")
        .str.to_lowercase()
        .str.replace_many(list(FOLDED_LETTERS), list(FOLDED_LETTERS.values()))
    )


def _name_tokens(name: pl.Expr) -> pl.Expr:
    """Folded name words; apostrophes and hyphens join ("O'Brien" → "obrien")."""
    return (
        _fold(name)
        .str.replace_all(r"['’`\-]", "")
        .str.replace_all(r"[^\p{L}]+", " ")
        .str.strip_chars()
        .str.split(" ")
        .list.eval(pl.element().filter(pl.element() != ""))
    )


def _names_conflict(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """Two full names that cannot be one person: no word in common, or other first names.

    "Jon Doe" / "Jonathan Doe" do not conflict (one first name is a prefix of the other), nor
    do "Wei Li" / "Li Wei" (the same words); "Jane Doe" / "John Doe" do. Names of one word
    never conflict (they may be a nickname).
    """
    both_full = (a.list.len() >= 2) & (b.list.len() >= 2)
    first_a, first_b = a.list.first(), b.list.first()
    other_first = ~first_a.str.starts_with(first_b) & ~first_b.str.starts_with(first_a)
    common = a.list.set_intersection(b).list.len()
    same_words = (common == a.list.n_unique()) & (common == b.list.n_unique())
    return both_full & ((common == 0) | (~same_words & other_first))


def _signatures(accounts: pl.DataFrame) -> pl.DataFrame:
    """``pseudonym, kind, value, email_key`` rows similarity joins on, ambiguous ones removed."""
    named = accounts.filter(
        (pl.col("name_tokens").list.len() >= 2)
        & pl.col("latin_name")
        & (pl.col("name_tokens").list.first().str.len_chars() >= 2)
        & (pl.col("name_tokens").list.last().str.len_chars() >= 2)
    ).with_columns(
        pl.col("name_tokens").list.first().alias("first"),
        pl.col("name_tokens").list.last().alias("last"),
        pl.col("name_tokens").list.sort().list.join(" ").alias("full"),
    )
    first, last = pl.col("first"), pl.col("last")
    forms = {
        "name_full": [pl.col("full")],
        "name_compact": [first + last, last + first],
        "name_initial": [
            first.str.slice(0, 1) + last,
            last + first.str.slice(0, 1),
            first + last.str.slice(0, 1),
        ],
    }
    rows = [
        named.select(
            "pseudonym",
            "source",
            "full",
            pl.lit(kind).alias("kind"),
            form.alias("value"),
            pl.lit(None, pl.String).alias("email_key"),
        )
        for kind, exprs in forms.items()
        for form in exprs
    ]
    rows.append(
        accounts.filter(pl.col("email_compact").str.len_chars() >= MIN_COMPACT_LENGTH).select(
            "pseudonym",
            "source",
            pl.lit(None, pl.String).alias("full"),
            pl.lit("email_compact").alias("kind"),
            pl.col("email_compact").alias("value"),
            "email_key",
        )
    )
    signatures = pl.concat(rows).unique(["pseudonym", "kind", "value"])
    # A full name on two accounts of one tool belongs to two people (or one needs an override).
    shared_name = (
        signatures.filter((pl.col("kind") == "name_full") & (pl.col("source") != "email"))
        .group_by("source", "value")
        .agg(pl.col("pseudonym").n_unique().alias("accounts"))
        .filter(pl.col("accounts") > 1)
        .select(pl.lit("name_full").alias("kind"), "value")
        .unique()
    )
    # "jdoe" from both "Jane Doe" and "John Doe" says nothing about which one it is.
    shared_form = (
        signatures.filter(pl.col("kind").is_in(["name_compact", "name_initial"]))
        .group_by("value")
        .agg(pl.col("full").n_unique().alias("names"))
        .filter(pl.col("names") > 1)
        .select("value")
    )
    # A local part at many addresses ("john@…") is a common word, not a person.
    common_local = (
        signatures.filter(pl.col("kind") == "email_compact")
        .group_by("value")
        .agg(pl.col("email_key").n_unique().alias("addresses"))
        .filter(pl.col("addresses") > MAX_ADDRESSES_PER_LOCAL)
        .select(pl.lit("email_compact").alias("kind"), "value")
    )
    return (
        signatures.join(shared_name, on=["kind", "value"], how="anti")
        .join(shared_form, on="value", how="anti")
        .join(common_local, on=["kind", "value"], how="anti")
        .select("pseudonym", "kind", "value", "email_key")
    )


def _pairs_within(groups: pl.DataFrame, by: str, method: str, confidence: float) -> pl.DataFrame:
    """All ``left < right`` pairs of pseudonyms sharing ``by``."""
    left = groups.select(by, pl.col("pseudonym").alias("left"))
    right = groups.select(by, pl.col("pseudonym").alias("right"))
    return (
        left.join(right, on=by)
        .filter(pl.col("left") < pl.col("right"))
        .select(
            "left",
            "right",
            pl.lit(method).alias("method"),
            pl.lit(confidence).alias("confidence"),
        )
    )


def _email_links(mergeable: pl.DataFrame) -> pl.DataFrame:
    """Accounts the tools report with the same address (shared mailboxes excluded)."""
    with_email = mergeable.filter(pl.col("email_key").is_not_null())
    shared = (
        with_email.filter(pl.col("source") != "email")
        .group_by("email_key", "source")
        .agg(pl.len().alias("accounts"))
        .filter(pl.col("accounts") > 1)
        .select("email_key")
        .unique()
    )
    usable = with_email.join(shared, on="email_key", how="anti")
    pairs = _pairs_within(usable, "email_key", VERIFIED_EMAIL, METHOD_CONFIDENCE[VERIFIED_EMAIL])
    # An address shared by two clearly different people (a family or desk mailbox) is not theirs.
    tokens = mergeable.select("pseudonym", "name_tokens", "latin_name")
    return (
        pairs.join(tokens.rename(lambda c: f"{c}_l"), left_on="left", right_on="pseudonym_l")
        .join(tokens.rename(lambda c: f"{c}_r"), left_on="right", right_on="pseudonym_r")
        .filter(
            ~(
                (pl.col("name_tokens_l").list.len() >= 2)
                & (pl.col("name_tokens_r").list.len() >= 2)
                & pl.col("latin_name_l")
                & pl.col("latin_name_r")
                & (
                    pl.col("name_tokens_l")
                    .list.set_intersection(pl.col("name_tokens_r"))
                    .list.len()
                    == 0
                )
            ).fill_null(False)
        )
        .select(list(LINK_SCHEMA.names()))
    )


def _noreply_links(mergeable: pl.DataFrame) -> pl.DataFrame:
    """A ``<id>+<login>@users.noreply.github.com`` address belongs to GitHub account ``login``."""
    named = mergeable.filter(pl.col("noreply_login").is_not_null()).select(
        "pseudonym", pl.col("noreply_login").alias("login")
    )
    github = mergeable.filter(pl.col("source") == "github").select(
        pl.col("pseudonym").alias("github"), pl.col("handle").str.to_lowercase().alias("login")
    )
    return (
        named.join(github, on="login")
        .filter(pl.col("pseudonym") != pl.col("github"))
        .select(
            pl.min_horizontal("pseudonym", "github").alias("left"),
            pl.max_horizontal("pseudonym", "github").alias("right"),
            pl.lit(VERIFIED_EMAIL).alias("method"),
            pl.lit(METHOD_CONFIDENCE[VERIFIED_EMAIL]).alias("confidence"),
        )
    )


def _login_links(mergeable: pl.DataFrame) -> pl.DataFrame:
    """One login on GitHub and on GitLab (long and specific enough to be one person's)."""
    logins = mergeable.filter(pl.col("source").is_in(LOGIN_SOURCES)).with_columns(
        pl.col("handle").str.to_lowercase().alias("login")
    )
    logins = logins.filter(
        (pl.col("login").str.len_chars() >= MIN_LOGIN_LENGTH)
        & ~pl.col("login").is_in(list(GENERIC_LOGINS))
    )
    github = logins.filter(pl.col("source") == "github").select(
        "login", pl.col("pseudonym").alias("a")
    )
    gitlab = logins.filter(pl.col("source") == "gitlab").select(
        "login", pl.col("pseudonym").alias("b")
    )
    return github.join(gitlab, on="login").select(
        pl.min_horizontal("a", "b").alias("left"),
        pl.max_horizontal("a", "b").alias("right"),
        pl.lit(SAME_LOGIN).alias("method"),
        pl.lit(METHOD_CONFIDENCE[SAME_LOGIN]).alias("confidence"),
    )


def _override_groups(overrides: Overrides | None, key: str) -> list[list[str]]:
    if overrides is None:
        return []
    return [[pseudonym(key, s, h) for s, h in group] for group in overrides.merge]


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


def _split_pairs(overrides: Overrides | None, key: str) -> set[frozenset[str]]:
    """Pairs of account pseudonyms a split group keeps apart."""
    if overrides is None:
        return set()
    return {
        frozenset((pseudonym(key, *a), pseudonym(key, *b)))
        for group in overrides.split
        for a, b in combinations(group, 2)
        if pseudonym(key, *a) != pseudonym(key, *b)
    }


def _cluster(
    pseudonyms: list[str], links: pl.DataFrame, cannot_link: set[frozenset[str]]
) -> dict[str, str]:
    """Union-find over ``links``, strongest first; returns each account's cluster id.

    The cluster id is the cluster's smallest pseudonym. A link that would join two accounts a
    split override keeps apart is skipped; if that link is an override merge, the file
    contradicts itself and a person has to decide.
    """
    parent = {p: p for p in pseudonyms}
    members = {p: {p} for p in pseudonyms}
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
        pl.col("method").replace_strict(METHOD_PRIORITY).alias("priority")
    ).sort(["priority", "confidence", "left", "right"], descending=[False, True, False, False])
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
        if len(members[a]) < len(members[b]):
            a, b = b, a
        parent[b] = a
        members[a] |= members.pop(b)
        forbidden[a] |= forbidden.pop(b)
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
    prepared = _prepare(accounts)
    mergeable = dict(
        zip(prepared.get_column("pseudonym"), prepared.get_column("mergeable"), strict=True)
    )
    for group in overrides.merge:
        for source, handle in group:
            state = mergeable.get(pseudonym(key, source, handle))
            counts["not_seen_yet" if state is None else "applied" if state else "never_merged"] += 1
    return counts


# -- storage -----------------------------------------------------------------------------------

_meta = sa.MetaData()

# Vault side: which person each account belongs to, how sure FlowSync is, and why.
identity_links = sa.Table(
    "identity_links",
    _meta,
    sa.Column("pseudonym", sa.String, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("person", sa.String, nullable=False, index=True),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("method", sa.String, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

IDENTITIES_DDL = """
CREATE TABLE IF NOT EXISTS identities (
    pseudonym  VARCHAR PRIMARY KEY,  -- account pseudonym, as in signals.actor
    source     VARCHAR NOT NULL,
    person     VARCHAR NOT NULL,     -- person pseudonym shared by all accounts of one person
    confidence DOUBLE NOT NULL,      -- 0..1, that this account belongs to this person
    method     VARCHAR NOT NULL      -- override | configured | verified_email | same_login |
                                     -- name_email_similarity | singleton
)
"""


def read_vault(engine: sa.Engine) -> pl.DataFrame:
    """Every identity-vault row, as the frame :func:`resolve_identities` takes."""
    columns = ["pseudonym", "source", "handle", "display_name", "email", "actor_kind"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*(identity_vault.c[c] for c in columns))).all()
    return pl.DataFrame(
        [tuple(r) for r in rows], schema={c: pl.String for c in columns}, orient="row"
    )


def save_identity_links(engine: sa.Engine, links: pl.DataFrame) -> int:
    """Replace ``identity_links`` with ``links`` in one transaction (re-runs change nothing)."""
    _meta.create_all(engine)
    now = datetime.now(UTC)
    rows = [{**row, "updated_at": now} for row in links.select(RESULT_SCHEMA.names()).to_dicts()]
    with engine.begin() as conn:
        conn.execute(identity_links.delete())
        if rows:
            conn.execute(identity_links.insert(), rows)
    return len(rows)


def write_identities(con: duckdb.DuckDBPyConnection, links: pl.DataFrame) -> int:
    """Replace the DuckDB ``identities`` table: pseudonyms, persons, confidence, method only."""
    pseudonymous = links.select(list(RESULT_SCHEMA.names()))
    con.execute(IDENTITIES_DDL)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM identities")
        insert_rows(con, "identities", pseudonymous)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return pseudonymous.height
