"""Candidate account pairs and the evidence features each one carries.

Every rule here is a join on a normalised key (an address, a login, a name form), so the cost
grows with the number of accounts, not with its square. A pair survives only if some evidence
fired and no rail vetoes it; what fired becomes the pair's features, which the calibrated model
(:mod:`flowsync_pipelines.identity.calibrate`) turns into a confidence.

Evidence (feature columns of :data:`FEATURES`):

* ``email_exact`` — the tools report one address (case-insensitive, ``+tag`` ignored); role
  addresses and addresses two accounts of one tool share are never used.
* ``noreply`` — ``<id>+<login>@users.noreply.github.com`` or ``<login>@users.noreply…`` names
  the GitHub account ``login``.
* ``same_login`` / ``login_core_equal`` — one login on GitHub and GitLab (or the same letters
  once separators and trailing digits are dropped: ``tom-fischer`` / ``tom.fischer``).
* ``same_full_name`` — the same accent- and case-folded full name (word order ignored).
* name forms — a login or an address's local part equals a form of a name seen on another
  account: the full name (``firstlast``, separators ignored), an initial form (``mlopez``,
  ``lopezm``, ``marial``), the surname or the first name; ``rem_*`` say whether the handle is
  exactly the form, the form plus digits (``lopez42``) or plus an affix (``mlopez-acme``);
  ``affix_common`` marks affixes many handles share (a company tag, ``dev``) against one-offs.
* co-activity — the code account opens/merges pull requests naming tickets the tracker account
  moves (``co_tickets``, ``co_share``, ``co_mutual_best``).

Rails (never features): bots and deleted accounts take no part; a form two different names
produce is no evidence; a full name two accounts of one tool carry is no evidence; two clearly
different full names, or two different addresses at one domain, veto a pair whose only evidence
is similarity; two accounts of one tool (other than commit ``email`` accounts) are never a pair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from flowsync_pipelines.sources.registry import sources_with_handles
from flowsync_pipelines.warehouse import query

if TYPE_CHECKING:
    import duckdb

NEVER_MERGED_KINDS = ("bot", "deleted")
GITHUB_NOREPLY_DOMAIN = "users.noreply.github.com"
LOGIN_SOURCES = sources_with_handles("login")
# Sources whose handle is something a person chose (a login), not an opaque id.
HANDLE_SOURCES = sources_with_handles("login", "chosen")
TICKET_SOURCES = ("jira", "linear")
CODE_ACTIONS = ("opened", "merged")
MIN_LOGIN_LENGTH = 4
MIN_FORM_LENGTH = 3
# One person rarely has more addresses with one local part (work, personal, an old employer).
MAX_ADDRESSES_PER_LOCAL = 3
# An affix (``acme``, ``dev``) at least this many handles share is a convention, not noise.
COMMON_AFFIX = 3
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
# Name forms, strongest first (the rank breaks ties when a handle matches several forms).
FORM_TYPES = ("full", "initial", "surname", "first")
REMAINDERS = ("exact", "digits", "affix")

FLAG_FEATURES = (
    "email_exact",
    "noreply",
    "same_login",
    "login_core_equal",
    "same_full_name",
    *(f"form_{t}" for t in FORM_TYPES),
    *(f"rem_{r}" for r in REMAINDERS),
    "affix_common",
    "form_from_email",
    "co_mutual_best",
)
COUNT_FEATURES = ("co_tickets", "co_share")
FEATURES = (*FLAG_FEATURES, *COUNT_FEATURES)

COACTIVITY_SCHEMA = pl.Schema(
    {
        "code_actor": pl.String,
        "ticket_actor": pl.String,
        "co_tickets": pl.Int64,
        "code_tickets": pl.Int64,
        "mover_tickets": pl.Int64,
        "mutual_best": pl.Boolean,
    }
)


# -- normalised accounts -----------------------------------------------------------------------


def prepare(accounts: pl.DataFrame) -> pl.DataFrame:
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
    tokens = name_tokens(pl.col("display_name"))
    latin = tokens.list.eval(pl.element().str.contains(r"^[a-z]+$")).list.all()
    named = (
        (tokens.list.len() >= 2)
        & latin
        & (tokens.list.first().str.len_chars() >= 2)
        & (tokens.list.last().str.len_chars() >= 2)
    )
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
        pl.when(generic | noreply).then(None).otherwise(plain_local).alias("email_local"),
        tokens.alias("name_tokens"),
        latin.alias("latin_name"),
        pl.when(named).then(tokens.list.sort().list.join(" ")).alias("full_name"),
    )


def fold(text: pl.Expr) -> pl.Expr:
    """Lower-case, accent-free text: "Zoë Müller" → "zoe muller", "Søren" → "soren"."""
    return (
        text.str.normalize("NFKD")
        .str.replace_all(r"\p{M}", "")
        .str.to_lowercase()
        .str.replace_many(list(FOLDED_LETTERS), list(FOLDED_LETTERS.values()))
    )


def name_tokens(name: pl.Expr) -> pl.Expr:
    """Folded name words; apostrophes and hyphens join ("O'Brien" → "obrien")."""
    return (
        fold(name)
        .str.replace_all(r"['’`\-]", "")
        .str.replace_all(r"[^\p{L}]+", " ")
        .str.strip_chars()
        .str.split(" ")
        .list.eval(pl.element().filter(pl.element() != ""))
    )


def names_conflict(a: pl.Expr, b: pl.Expr) -> pl.Expr:
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


# -- evidence, one join each ---------------------------------------------------------------------


def _ordered(a: str, b: str) -> list[pl.Expr]:
    return [
        pl.min_horizontal(a, b).alias("left"),
        pl.max_horizontal(a, b).alias("right"),
    ]


def _pairs_on(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """All ``left < right`` pairs of pseudonyms sharing ``by``."""
    left = frame.select(by, pl.col("pseudonym").alias("left"))
    right = frame.select(by, pl.col("pseudonym").alias("right"))
    return left.join(right, on=by).filter(pl.col("left") < pl.col("right")).select("left", "right")


def email_pairs(mergeable: pl.DataFrame) -> pl.DataFrame:
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
    pairs = _pairs_on(with_email.join(shared, on="email_key", how="anti"), "email_key")
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
        .select("left", "right", pl.lit(1).alias("email_exact"))
    )


def noreply_pairs(mergeable: pl.DataFrame) -> pl.DataFrame:
    """A ``users.noreply.github.com`` address belongs to the GitHub account it names."""
    named = mergeable.filter(pl.col("noreply_login").is_not_null()).select(
        "pseudonym", pl.col("noreply_login").alias("login")
    )
    github = mergeable.filter(pl.col("source") == "github").select(
        pl.col("pseudonym").alias("github"), pl.col("handle").str.to_lowercase().alias("login")
    )
    return (
        named.join(github, on="login")
        .filter(pl.col("pseudonym") != pl.col("github"))
        .select(*_ordered("pseudonym", "github"), pl.lit(1).alias("noreply"))
    )


def _logins(mergeable: pl.DataFrame) -> pl.DataFrame:
    """GitHub/GitLab logins, long and specific enough to be one person's."""
    login = pl.col("handle").str.to_lowercase()
    return mergeable.filter(pl.col("source").is_in(LOGIN_SOURCES)).select(
        "pseudonym",
        "source",
        login.alias("login"),
        login.str.replace_all(r"[^a-z0-9]", "").str.replace(r"\d+$", "").alias("core"),
    )


def login_pairs(mergeable: pl.DataFrame) -> pl.DataFrame:
    """One login (or one login core) on GitHub and on GitLab."""
    logins = _logins(mergeable).filter(
        (pl.col("login").str.len_chars() >= MIN_LOGIN_LENGTH)
        & ~pl.col("login").is_in(list(GENERIC_LOGINS))
        & (pl.col("core").str.len_chars() >= MIN_LOGIN_LENGTH)
    )
    github = logins.filter(pl.col("source") == "github").select(
        "login", "core", pl.col("pseudonym").alias("a")
    )
    gitlab = logins.filter(pl.col("source") == "gitlab").select(
        "login", "core", pl.col("pseudonym").alias("b"), pl.col("login").alias("login_b")
    )
    return github.join(gitlab, on="core").select(
        *_ordered("a", "b"),
        (pl.col("login") == pl.col("login_b")).cast(pl.Int32).alias("same_login"),
        pl.lit(1).alias("login_core_equal"),
    )


def full_name_pairs(mergeable: pl.DataFrame) -> pl.DataFrame:
    """The same folded full name on accounts of two tools (unless one tool has it twice)."""
    named = mergeable.filter(pl.col("full_name").is_not_null())
    shared = (
        named.filter(pl.col("source") != "email")
        .group_by("source", "full_name")
        .agg(pl.len().alias("accounts"))
        .filter(pl.col("accounts") > 1)
        .select("full_name")
        .unique()
    )
    return _pairs_on(named.join(shared, on="full_name", how="anti"), "full_name").with_columns(
        pl.lit(1).alias("same_full_name")
    )


def name_forms(mergeable: pl.DataFrame) -> pl.DataFrame:
    """``pseudonym, full_name, form_type, value``: the handle forms a full name produces.

    Forms two different names produce ("jdoe" for Jane and John Doe) are dropped: they say
    nothing about which of the two a handle belongs to.
    """
    named = mergeable.filter(pl.col("full_name").is_not_null()).select(
        "pseudonym",
        "full_name",
        pl.col("name_tokens").list.first().alias("f"),
        pl.col("name_tokens").list.last().alias("l"),
    )
    f, l = pl.col("f"), pl.col("l")  # noqa: E741
    forms = {
        "full": [f + l, l + f],
        "initial": [f.str.slice(0, 1) + l, l + f.str.slice(0, 1), f + l.str.slice(0, 1)],
        "surname": [l],
        "first": [f],
    }
    rows = pl.concat(
        [
            named.select(
                "pseudonym", "full_name", pl.lit(kind).alias("form_type"), form.alias("value")
            )
            for kind, exprs in forms.items()
            for form in exprs
        ]
    ).filter(pl.col("value").str.len_chars() >= MIN_FORM_LENGTH)
    # Ambiguous: two different names give the form, or two accounts of one tool (namesakes).
    sources = mergeable.select("pseudonym", "source")
    ambiguous = pl.concat(
        [
            rows.group_by("value")
            .agg(pl.col("full_name").n_unique().alias("n"))
            .filter(pl.col("n") > 1)
            .select("value"),
            rows.join(sources, on="pseudonym")
            .filter(pl.col("source") != "email")
            .group_by("value", "source")
            .agg(pl.col("pseudonym").n_unique().alias("n"))
            .filter(pl.col("n") > 1)
            .select("value"),
        ]
    ).unique()
    rank = {t: i for i, t in enumerate(FORM_TYPES)}
    return (
        rows.join(ambiguous, on="value", how="anti")
        .with_columns(pl.col("form_type").replace_strict(rank, return_dtype=pl.Int32).alias("rank"))
        .sort("rank")
        .unique(["pseudonym", "value"], keep="first")
    )


def handle_stems(mergeable: pl.DataFrame) -> pl.DataFrame:
    """``pseudonym, from_email, stem, remainder``: every prefix and suffix of each handle.

    Handles are logins (GitHub, GitLab, Jenkins) and the local parts of addresses, compacted to
    letters and digits; a stem is at least :data:`MIN_FORM_LENGTH` long and the remainder is
    what is left of the handle (``""`` when the stem is all of it).
    """
    compact = fold(pl.col("raw")).str.replace_all(r"[^a-z0-9]", "")
    handles = pl.concat(
        [
            mergeable.filter(pl.col("source").is_in(HANDLE_SOURCES)).select(
                "pseudonym", pl.col("handle").alias("raw"), pl.lit(0).alias("from_email")
            ),
            mergeable.filter(pl.col("email_local").is_not_null()).select(
                "pseudonym", pl.col("email_local").alias("raw"), pl.lit(1).alias("from_email")
            ),
            mergeable.filter(pl.col("noreply_login").is_not_null()).select(
                "pseudonym", pl.col("noreply_login").alias("raw"), pl.lit(0).alias("from_email")
            ),
        ]
    ).select("pseudonym", "from_email", compact.alias("c"))
    handles = handles.filter(pl.col("c").str.len_chars() >= MIN_FORM_LENGTH).unique()
    length = pl.col("c").str.len_chars()
    cuts = handles.with_columns(pl.int_ranges(MIN_FORM_LENGTH, length + 1).alias("k")).explode("k")
    prefixes = cuts.select(
        "pseudonym",
        "from_email",
        pl.col("c").str.slice(0, pl.col("k")).alias("stem"),
        pl.col("c").str.slice(pl.col("k")).alias("remainder"),
    )
    suffixes = cuts.filter(pl.col("k") < length).select(
        "pseudonym",
        "from_email",
        pl.col("c").str.slice(length - pl.col("k")).alias("stem"),
        pl.col("c").str.slice(0, length - pl.col("k")).alias("remainder"),
    )
    return pl.concat([prefixes, suffixes])


def form_pairs(mergeable: pl.DataFrame) -> pl.DataFrame:
    """A handle that is a name form of another account's full name (``mlopez`` ↔ Maria Lopez)."""
    forms = name_forms(mergeable)
    stems = handle_stems(mergeable)
    matched = stems.join(forms.rename({"pseudonym": "named", "value": "stem"}), on="stem").filter(
        pl.col("pseudonym") != pl.col("named")
    )
    remainder = (
        pl.when(pl.col("remainder") == "")
        .then(pl.lit("exact"))
        .when(pl.col("remainder").str.contains(r"^\d+$"))
        .then(pl.lit("digits"))
        .otherwise(pl.lit("affix"))
    )
    matched = matched.with_columns(
        remainder.alias("rem"),
        pl.col("remainder").str.replace_all(r"\d", "").alias("affix"),
    )
    # How many handles carry the same affix around a name form: a convention ("acme", "dev")
    # when several do, a coincidence when one does.
    support = (
        matched.filter(pl.col("rem") == "affix")
        .group_by("affix")
        .agg(pl.col("pseudonym").n_unique().alias("support"))
    )
    rem_rank = {r: i for i, r in enumerate(REMAINDERS)}
    best = (
        matched.join(support, on="affix", how="left")
        .with_columns(
            pl.col("rem").replace_strict(rem_rank, return_dtype=pl.Int32).alias("rem_rank"),
            (pl.col("support").fill_null(0) >= COMMON_AFFIX).cast(pl.Int32).alias("affix_common"),
        )
        .with_columns(*_ordered("pseudonym", "named"))
        .sort("rank", "rem_rank", pl.col("affix_common"), descending=[False, False, True])
        .unique(["left", "right"], keep="first")
    )
    return best.select(
        "left",
        "right",
        *((pl.col("form_type") == t).cast(pl.Int32).alias(f"form_{t}") for t in FORM_TYPES),
        *((pl.col("rem") == r).cast(pl.Int32).alias(f"rem_{r}") for r in REMAINDERS),
        pl.when(pl.col("rem") == "affix")
        .then(pl.col("affix_common"))
        .otherwise(0)
        .alias("affix_common"),
        pl.col("from_email").alias("form_from_email"),
    )


def coactivity(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Code ↔ tracker account pairs that work the same tickets (``identity_coactivity.sql``)."""

    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'signals'"
    ).fetchone()
    if not exists or not exists[0]:
        return pl.DataFrame(schema=COACTIVITY_SCHEMA)
    frame = query(
        con,
        "identity_coactivity",
        ticket_sources=list(TICKET_SOURCES),
        code_actions=list(CODE_ACTIONS),
    )
    return frame.select(list(COACTIVITY_SCHEMA.names())).cast(dict(COACTIVITY_SCHEMA))


def coactivity_pairs(coact: pl.DataFrame, mergeable: pl.DataFrame) -> pl.DataFrame:
    """Co-activity as pair features (accounts both mergeable)."""
    known = mergeable.select("pseudonym")
    return (
        coact.join(known, left_on="code_actor", right_on="pseudonym", how="semi")
        .join(known, left_on="ticket_actor", right_on="pseudonym", how="semi")
        .select(
            *_ordered("code_actor", "ticket_actor"),
            pl.col("co_tickets").cast(pl.Float64),
            (
                pl.col("co_tickets")
                / pl.max_horizontal("code_tickets", "mover_tickets").cast(pl.Float64)
            ).alias("co_share"),
            pl.col("mutual_best").cast(pl.Int32).alias("co_mutual_best"),
        )
    )


# -- all together ----------------------------------------------------------------------------------


def pair_features(accounts: pl.DataFrame, coact: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every candidate pair of mergeable accounts with its evidence features.

    Args:
        accounts: vault rows (``pseudonym, source, handle, display_name, email, actor_kind``).
        coact: co-activity rows (:data:`COACTIVITY_SCHEMA`, from :func:`coactivity`), or none.

    Returns:
        ``left, right`` (``left < right``) and one column per name in :data:`FEATURES`.
    """
    accounts = prepare(accounts)
    mergeable = accounts.filter(pl.col("mergeable"))
    parts = [
        email_pairs(mergeable),
        noreply_pairs(mergeable),
        login_pairs(mergeable),
        full_name_pairs(mergeable),
        form_pairs(mergeable),
    ]
    if coact is not None and not coact.is_empty():
        parts.append(coactivity_pairs(coact, mergeable))
    pairs = (
        pl.concat(parts, how="diagonal_relaxed")
        .group_by("left", "right")
        .agg(*(pl.col(c).max() for c in FEATURES if any(c in p.columns for p in parts)))
    )
    for column in FEATURES:
        if column not in pairs.columns:
            pairs = pairs.with_columns(pl.lit(0).alias(column))
    pairs = pairs.with_columns(
        *(pl.col(c).fill_null(0).cast(pl.Int32) for c in FLAG_FEATURES),
        *(pl.col(c).fill_null(0.0).cast(pl.Float64) for c in COUNT_FEATURES),
    )
    facts = accounts.select(
        "pseudonym", "source", "email_key", "email_domain", "name_tokens", "latin_name"
    )
    pairs = pairs.join(
        facts.rename(lambda c: f"{c}_l"), left_on="left", right_on="pseudonym_l"
    ).join(facts.rename(lambda c: f"{c}_r"), left_on="right", right_on="pseudonym_r")
    same_tool = (pl.col("source_l") == pl.col("source_r")) & (pl.col("source_l") != "email")
    verified = (pl.col("email_exact") == 1) | (pl.col("noreply") == 1)
    other_address_same_domain = (
        (pl.col("email_domain_l") == pl.col("email_domain_r"))
        & (pl.col("email_key_l") != pl.col("email_key_r"))
    ).fill_null(False)
    other_names = (
        names_conflict(pl.col("name_tokens_l"), pl.col("name_tokens_r"))
        & pl.col("latin_name_l")
        & pl.col("latin_name_r")
    ).fill_null(False)
    return (
        pairs.filter(~same_tool & (verified | ~(other_address_same_domain | other_names)))
        .select("left", "right", *FEATURES)
        .sort("left", "right")
    )
