"""Identity resolution at scale: 50,000 synthetic accounts in the vault's shape.

.venv/bin/python bench/identity_scale.py [--accounts 50000] [--seed 1]

A population (``identity/synthetic.py``: logins in a dozen conventions, company affixes,
namesakes, work / personal / GitHub noreply commit addresses, Jira accounts with and without
addresses, ~2 % bots) is resolved with no members configured. Prints the time of each step
(model fit, once per process; candidate pairs; scoring; clustering) and pairwise precision and
recall against the population's truth. Target: resolution < 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from math import comb

import polars as pl

from flowsync_pipelines.identity import fitted_model, pair_features, resolve_identities
from flowsync_pipelines.identity.synthetic import population

KEY = "bench-key"
ACCOUNTS_PER_PERSON = 3.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    accounts, truth = population(int(args.accounts / ACCOUNTS_PER_PERSON), seed=args.seed, key=KEY)
    print(f"generate {accounts.height} accounts: {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    model = fitted_model()
    print(f"fit the model (once per process): {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    pairs = pair_features(accounts)
    print(f"candidate pairs: {pairs.height} in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    links = resolve_identities(accounts, overrides=None, key=KEY, model=model)
    seconds = time.perf_counter() - started
    print(f"resolve_identities (pairs, scoring, clustering): {seconds:.1f} s")

    humans = {p for p, person in truth.items() if not person.startswith("bot")}
    measured = links.filter(pl.col("pseudonym").is_in(list(humans)))
    predicted = dict(measured.select("pseudonym", "person").iter_rows())
    actual = {p: truth[p] for p in predicted}
    predicted_pairs = sum(comb(n, 2) for n in Counter(predicted.values()).values())
    true_pairs = sum(comb(n, 2) for n in Counter(actual.values()).values())
    both = sum(comb(n, 2) for n in Counter((predicted[a], actual[a]) for a in predicted).values())
    print(
        f"persons {links.get_column('person').n_unique()}; pairs predicted {predicted_pairs}, "
        f"true {true_pairs}, correct {both}: precision {both / max(predicted_pairs, 1):.4f} "
        f"recall {both / max(true_pairs, 1):.4f}"
    )
    print(f"methods: {dict(Counter(links.get_column('method').to_list()))}")
    print(f"target: resolution < 60 s — {'met' if seconds < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
