"""Measuring identity resolution against a simulated organisation's ground truth.

For tests, benchmarks and ``tools/identity_labels.py`` only: pipeline code never reads ground
truth. Works on any :class:`~flowsync_pipelines.simulator.World`, whatever its conventions.
"""

from __future__ import annotations

from collections import Counter
from math import comb
from typing import TYPE_CHECKING, Any

import polars as pl

from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.sources.registry import sources_with_handles

if TYPE_CHECKING:
    from flowsync_pipelines.simulator import World

# Sources whose webhook deliveries know an account by its login alone (GitHub, GitLab).
WEBHOOK_LOGIN_SOURCES = sources_with_handles("login")
WEBHOOK_TRACKER_SOURCES = ("jira", "linear")


def truth_persons(world: World, key: str) -> dict[str, tuple[str, bool]]:
    """Account pseudonym → (person id, is a bot), for every account the simulator knows."""
    out: dict[str, tuple[str, bool]] = {}
    for person in world.organisation.people:
        refs = [(tool, handle) for tool, handle in person.accounts.items() if handle]
        refs += [("email", address) for address in person.emails]
        for tool, handle in refs:
            out[pseudonym(key, tool, handle)] = (person.person_id, person.is_bot)
    return out


def label_pairs(pairs: pl.DataFrame, world: World, key: str) -> pl.DataFrame:
    """``pairs`` with ``label`` (1 = one person); pairs with an uncovered or bot account dropped."""
    truth = truth_persons(world, key)
    humans = pl.DataFrame(
        [(p, person) for p, (person, bot) in truth.items() if not bot],
        schema={"pseudonym": pl.String, "person": pl.String},
        orient="row",
    )
    return (
        pairs.join(humans.rename({"pseudonym": "left", "person": "pl"}), on="left")
        .join(humans.rename({"pseudonym": "right", "person": "pr"}), on="right")
        .with_columns((pl.col("pl") == pl.col("pr")).cast(pl.Int32).alias("label"))
        .drop("pl", "pr")
    )


def evaluate_identities(world: World, links: pl.DataFrame, *, key: str) -> dict[str, Any]:
    """Pairwise precision and recall of resolved identities against the world's ground truth.

    Args:
        world: the simulated organisation the accounts came from.
        links: :func:`~flowsync_pipelines.identity.resolve_identities` output
            (``pseudonym, person, method`` at least).
        key: the pseudonym key of the run (to recognise the simulator's accounts).

    Returns:
        ``precision``, ``recall``, ``predicted_pairs``, ``true_pairs``, ``correct_pairs``,
        ``accounts`` measured, ``uncovered_accounts`` (outside the ground truth, e.g. Jenkins
        users), ``bot_accounts`` (left out: bots are never merged by design), ``false_pairs`` and
        ``missed_pairs`` (pseudonym pairs, for diagnosis) and ``accounts_by_method``.
    """
    truth = truth_persons(world, key)
    rows = links.select("pseudonym", "person", "method").to_dicts()
    measured = [r for r in rows if r["pseudonym"] in truth and not truth[r["pseudonym"]][1]]
    predicted = {r["pseudonym"]: r["person"] for r in measured}
    actual = {p: truth[p][0] for p in predicted}
    predicted_pairs = sum(comb(n, 2) for n in Counter(predicted.values()).values())
    true_pairs = sum(comb(n, 2) for n in Counter(actual.values()).values())
    correct = sum(
        comb(n, 2) for n in Counter((predicted[a], actual[a]) for a in predicted).values()
    )
    by_person: dict[str, list[str]] = {}
    for account, person in predicted.items():
        by_person.setdefault(person, []).append(account)
    false_pairs = [
        (a, b)
        for group in by_person.values()
        for i, a in enumerate(group)
        for b in group[i + 1 :]
        if actual[a] != actual[b]
    ]
    by_truth: dict[str, list[str]] = {}
    for account, person in actual.items():
        by_truth.setdefault(person, []).append(account)
    missed_pairs = [
        (a, b)
        for group in by_truth.values()
        for i, a in enumerate(group)
        for b in group[i + 1 :]
        if predicted[a] != predicted[b]
    ]
    return {
        "precision": correct / predicted_pairs if predicted_pairs else 1.0,
        "recall": correct / true_pairs if true_pairs else 1.0,
        "predicted_pairs": predicted_pairs,
        "true_pairs": true_pairs,
        "correct_pairs": correct,
        "accounts": len(measured),
        "uncovered_accounts": sum(r["pseudonym"] not in truth for r in rows),
        "bot_accounts": sum(r["pseudonym"] in truth and truth[r["pseudonym"]][1] for r in rows),
        "false_pairs": false_pairs,
        "missed_pairs": missed_pairs,
        "accounts_by_method": dict(Counter(r["method"] for r in measured)),
    }


def webhook_view(accounts: pl.DataFrame) -> pl.DataFrame:
    """Vault rows as webhook deliveries alone would give them.

    GitHub and GitLab accounts are known by their login only (a pull request delivery carries
    no name or address); Jira and Linear accounts by id and display name (addresses hidden);
    commit authors keep their name and address (``push`` deliveries carry them).
    """
    login_only = pl.col("source").is_in(WEBHOOK_LOGIN_SOURCES)
    tracker = pl.col("source").is_in(WEBHOOK_TRACKER_SOURCES)
    return accounts.with_columns(
        pl.when(login_only).then(None).otherwise(pl.col("display_name")).alias("display_name"),
        pl.when(login_only | tracker).then(None).otherwise(pl.col("email")).alias("email"),
    )
