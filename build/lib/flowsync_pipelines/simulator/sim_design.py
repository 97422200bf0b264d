"""Figma design files and their comment threads; some are tagged ``#flowsync`` with a key."""

from __future__ import annotations

import random
import string
from datetime import datetime, timedelta

from .clock import align_to_work, work_delay
from .ids import int_from, uuid_from
from .model import FigmaComment, FigmaFile, Ticket
from .org import ROLE_DESIGNER, ROLE_PRODUCT, Organisation

_FILES = {
    "payments": "Checkout v3 — Payments",
    "mobile": "Mobile Onboarding 2026",
    "growth": "Growth Experiments Q4",
}
_TAGGED = [
    "#flowsync {key} spacing on the CTA is off by 4px",
    "{key}: #flowsync please confirm the empty state before we build it",
    "#flowsync copy for {key} approved ✅",
    "Updated the error states for {key} #flowsync",
    "#flowsync {key} — should this use the warning token instead?",
]
_TAGGED_NO_KEY = [
    "#flowsync general: new icon set is in the library",
    "#flowsync reminder: design crit Thursday",
]
_UNTAGGED = [
    "Can we try the darker variant?",
    "Love this direction 😍",
    "Should the error state use the red token?",
    "This frame is outdated, see page 2.",
    "Nit: align the labels to the 8pt grid.",
    "Looks great on small screens too.",
    "Does this work in right-to-left languages?",
]
_REPLIES = [
    "Good catch, fixed.",
    "Agreed 👍",
    "Let's discuss in crit.",
    "Done — please re-check.",
    "Not sure, asking PM.",
]


def _file_key(seed: int, team: str) -> str:
    rng = random.Random(f"{seed}:figma-key:{team}")
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(22))


def simulate_design(
    org: Organisation, tickets: list[Ticket], seed: int, start: datetime, end: datetime
) -> tuple[list[FigmaFile], list[FigmaComment]]:
    rng = random.Random(f"{seed}:figma")
    files: list[FigmaFile] = []
    drafts: list[dict] = []
    scale = (end - start).days / 60
    for team_key, name in _FILES.items():
        key = _file_key(seed, team_key)
        files.append(
            FigmaFile(
                key=key,
                name=name,
                team=team_key,
                created_at=start - timedelta(days=rng.randint(20, 90)),
                thumbnail_url="https://s3-alpha.figma.com/thumbnails/"
                + uuid_from(seed, "thumb", key),
            )
        )
        team = org.team(team_key)
        people = [org.person(pid) for pid in team.members if "figma" in org.person(pid).accounts]
        designers = [p for p in people if p.role == ROLE_DESIGNER]
        pms = [p for p in people if p.role == ROLE_PRODUCT]
        others = [p for p in people if p.role not in (ROLE_DESIGNER, ROLE_PRODUCT)] or people
        team_tickets = [t for t in tickets if t.team == team_key and t.kind != "Epic"]
        top_level: list[dict] = []
        for _ in range(round(rng.randint(38, 52) * scale)):
            roll = rng.random()
            author = rng.choice(designers if roll < 0.4 else pms if roll < 0.65 else others)
            at = align_to_work(start + (end - start) * rng.random(), author.tz, rng)
            if at >= end or (author.left_at and at >= author.left_at):
                continue
            parent = None
            earlier = [c for c in top_level if c["at"] < at - timedelta(minutes=10)]
            if earlier and rng.random() < 0.3:
                parent = rng.choice(earlier[-6:])
            ticket_key = None
            if parent is not None:
                message = rng.choice(_REPLIES)
            elif rng.random() < 0.38:
                existing = [t for t in team_tickets if t.created_at <= at]
                if existing and rng.random() > 0.06:
                    busy = [t for t in existing if t.status_at(at) in ("In Progress", "In Review")]
                    ticket_key = rng.choice(busy or existing).key
                    message = rng.choice(_TAGGED).format(key=ticket_key)
                else:
                    message = rng.choice(_TAGGED_NO_KEY)
            else:
                message = rng.choice(_UNTAGGED)
            draft = {
                "file_key": key,
                "author": author.person_id,
                "at": at,
                "message": message,
                "parent": parent,
                "ticket_key": ticket_key,
                "resolved": None,
                "client_meta": None,
            }
            if parent is None:
                if rng.random() < 0.7:
                    draft["client_meta"] = {
                        "node_id": f"{rng.randint(1, 40)}:{rng.randint(1, 900)}",
                        "node_offset": {
                            "x": round(rng.uniform(0, 400), 2),
                            "y": round(rng.uniform(0, 900), 2),
                        },
                    }
                else:
                    draft["client_meta"] = {
                        "x": round(rng.uniform(0, 3000), 2),
                        "y": round(rng.uniform(0, 2000), 2),
                    }
                if rng.random() < 0.4:
                    resolved = work_delay(at, author.tz, rng, 1, 96)
                    draft["resolved"] = resolved if resolved < end else None
                top_level.append(draft)
            drafts.append(draft)

    drafts.sort(key=lambda d: (d["at"], d["file_key"]))
    next_id = int_from(8_000_000, 40_000_000, seed, "figma-comment-id")
    order: dict[str, int] = {}
    comments: list[FigmaComment] = []
    for n, d in enumerate(drafts):
        next_id += int_from(1, 5000, seed, "figma-id-gap", n)
        d["id"] = str(next_id)
        order_id = None
        if d["parent"] is None:
            order[d["file_key"]] = order.get(d["file_key"], 0) + 1
            order_id = str(order[d["file_key"]])
        comments.append(
            FigmaComment(
                id=d["id"],
                file_key=d["file_key"],
                parent_id=d["parent"]["id"] if d["parent"] else "",
                author=d["author"],
                at=d["at"],
                message=d["message"],
                resolved_at=d["resolved"],
                ticket_key=d["ticket_key"],
                order_id=order_id,
                client_meta=d["client_meta"],
            )
        )
    return files, comments
