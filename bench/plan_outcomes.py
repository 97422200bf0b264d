"""Sprint and epic outcomes of simulated organisations, from the simulator's ground truth alone
(no pipeline): how often plans miss, and how strongly scope and scope added mid-sprint go with
a miss -- what ``sprint_at_risk`` and ``epic_at_risk`` have to learn from -- and whether the
miss rate holds over the period (by third, by due date: a model is fitted on the first two
thirds and scored on the last, so a drifting rate miscalibrates it).

    .venv/bin/python bench/plan_outcomes.py [--days 180] [--seeds 7 8 9] [--start 2023-11-01]
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import numpy as np
from sklearn.metrics import roc_auc_score

from flowsync_pipelines.simulator import build_world


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--start", type=datetime.fromisoformat, help="default: ends today")
    args = parser.parse_args(argv)
    sprints, epics = [], []
    for n, seed in enumerate(args.seeds, 1):
        if args.start:
            world = build_world(seed, args.start.replace(tzinfo=UTC), args.days)
        else:
            world = build_world(seed, days=args.days)
        third = (world.end - world.start) / 3
        truth = world.ground_truth()
        for plan in truth["sprints"] + truth["epics"]:
            due = datetime.fromisoformat(plan["due_at"].replace("Z", "+00:00"))
            plan["third"] = min(2, int((due - world.start) / third))
        sprints += [s for s in truth["sprints"] if s["missed"] is not None]
        epics += [e for e in truth["epics"] if e["missed"] is not None]
        print(f"  simulated {n}/{len(args.seeds)} (seed {seed})", flush=True)
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
        by_third = [[p["missed"] for p in plans if p["third"] == i] for i in range(3)]
        print(
            f"{name}: missed by third of the period "
            + ", ".join(f"{np.mean(m):.3f} ({len(m)})" if m else "- (0)" for m in by_third)
        )
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
