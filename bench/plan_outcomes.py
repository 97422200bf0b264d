"""Sprint and epic outcomes of simulated organisations, from the simulator's ground truth alone
(no pipeline): how often plans miss, and how strongly scope and scope added mid-sprint go with
a miss -- what ``sprint_at_risk`` and ``epic_at_risk`` have to learn from.

    .venv/bin/python bench/plan_outcomes.py [--days 180] [--seeds 7 8 9]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import roc_auc_score

from flowsync_pipelines.simulator import build_world


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    args = parser.parse_args(argv)
    sprints, epics = [], []
    for seed in args.seeds:
        truth = build_world(seed, days=args.days).ground_truth()
        sprints += [s for s in truth["sprints"] if s["missed"] is not None]
        epics += [e for e in truth["epics"] if e["missed"] is not None]
    print(f"{len(args.seeds)} organisations x {args.days} days")
    for tracker in ("jira", "linear"):
        plans = [s for s in sprints if s["tracker"] == tracker]
        if plans:
            print(
                f"{tracker} sprints: {len(plans)} settled, "
                f"missed {np.mean([s['missed'] for s in plans]):.3f}, "
                f"mean scope {np.mean([s['scope'] for s in plans]):.1f}, "
                f"mean added {np.mean([s['added'] for s in plans]):.1f}"
            )
    if epics:
        print(
            f"epics: {len(epics)} settled, missed {np.mean([e['missed'] for e in epics]):.3f}, "
            f"mean scope {np.mean([e['scope'] for e in epics]):.1f}, "
            f"mean added {np.mean([e['added'] for e in epics]):.1f}"
        )
    for name, plans in (("sprints", sprints), ("epics", epics)):
        missed = np.array([p["missed"] for p in plans], dtype=float)
        if len(set(missed)) < 2:
            print(f"{name}: {len(plans)} settled, all {'missed' if missed.all() else 'met'}")
            continue
        for feature in ("scope", "added"):
            x = np.array([p[feature] for p in plans], dtype=float)
            print(f"{name}: AUC of {feature} for a miss {roc_auc_score(missed, x):.3f}")
        added = np.array([p["added"] > 0 for p in plans])
        print(
            f"{name}: missed with scope added {missed[added].mean():.3f} ({added.sum()}), "
            f"without {missed[~added].mean() if (~added).any() else float('nan'):.3f} "
            f"({(~added).sum()})"
        )


if __name__ == "__main__":
    main()
