"""Deterministic demo-organisation simulator.

``build_world(seed)`` simulates 60 days of a software company ("Acme") and renders every
record in the real API shape of the tool it came from (GitHub, GitLab, Jira, Linear, Sentry,
Figma, Jenkins), as of any instant, together with the ground truth needed to score FlowSync.
Pure Python and seeded: the same seed always gives byte-identical output.
"""

from .conventions import (
    DEMO,
    HELD_OUT,
    NAMED,
    Conventions,
    KeyHabits,
    sample_conventions,
)
from .org import Person, Team
from .world import World, build_world

__all__ = [
    "DEMO",
    "HELD_OUT",
    "NAMED",
    "Conventions",
    "KeyHabits",
    "Person",
    "Team",
    "World",
    "build_world",
    "sample_conventions",
]
