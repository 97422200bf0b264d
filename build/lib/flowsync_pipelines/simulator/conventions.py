"""The habits of a simulated organisation, separate from its people and its luck.

A link model fitted on one simulated organisation learns that organisation's habits: where
ticket keys are written, whether pull request titles repeat the ticket summary, whether team
members are listed in ``flowsync.yaml``, whether an incident always shows up before the next
deployment. :class:`Conventions` names every such habit, so worlds can differ in them:

* :data:`DEMO` is the demo organisation exactly as it always was (seed 7 gives the same world).
* :func:`sample_conventions` draws varied organisations to generate training labels from.
* :data:`HELD_OUT` is an organisation whose conventions training never sees. Some of its values
  are *held out*: :func:`sample_conventions` can never produce them (see
  :data:`HELD_OUT_TITLE_FORMATS`, :data:`HELD_OUT_BRANCH_FORMATS`,
  :data:`HELD_OUT_SENTRY_SLUG_STYLES`), and no sampled organisation equals it as a whole.

Example:
    >>> import random
    >>> from flowsync_pipelines.simulator import build_world
    >>> world = build_world(3, days=10, conventions=sample_conventions(random.Random(3)))
    >>> held_out = build_world(7, days=10, conventions=HELD_OUT)
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

# Where a ticketed pull request names its ticket (exactly one place is chosen per PR):
# in the title (and its branch), in the branch only, in the body only, in one commit message
# only, or nowhere at all.
LINK_PLACES = ("title", "branch", "body", "commit", "none")

# Pull request title formats that carry the key. ``{KEY}`` is the key as the tracker writes it
# (``PLAT-12``), ``{summary}`` the title text, ``{lsummary}`` it with a lower-case first letter
# and ``{type}`` the conventional-commit type (feat / fix / chore).
TITLE_FORMATS: dict[str, str] = {
    "key_colon": "{KEY}: {summary}",
    "key_brackets": "[{KEY}] {summary}",
    "summary_parens": "{summary} ({KEY})",
    "key_space": "{KEY} {summary}",
    "conventional_scope": "{type}({KEY}): {lsummary}",
    "summary_dash_key": "{summary} - {KEY}",
    "key_pipe": "{KEY} | {summary}",
}
# Branch formats that carry the key. ``{prefix}`` is feature / fix / chore, ``{user}`` the
# author's short name (Linear's "copy git branch name"), ``{key}`` the key in lower case,
# ``{slug}`` the summary as ``a-few-words`` and ``{slug_}`` as ``a_few_words``.
BRANCH_FORMATS: dict[str, str] = {
    "prefix_key": "{prefix}/{KEY}-{slug}",
    "prefix_key_lower": "{prefix}/{key}-{slug}",
    "user_key_lower": "{user}/{key}-{slug}",
    "key_slug": "{KEY}-{slug}",
    "key_lower_slug": "{key}-{slug}",
    "prefix_key_only": "{prefix}/{KEY}",
    "key_underscore": "{KEY}_{slug_}",
}
# GitHub login styles; ``{org}`` is the organisation slug, ``{nn}`` two random digits.
LOGIN_STYLES: dict[str, str] = {
    "initial_surname_org": "{f}{last}-{org}",
    "firstlast": "{first}{last}",
    "first_dash_initial": "{first}-{l}",
    "surname_initial": "{last}{f}",
    "first_dev": "{first}dev",
    "first_last": "{first}-{last}",
    "initial_surname": "{f}{last}",
    "surname_digits": "{last}{nn}",
    "first_org": "{first}-{org}",
}
# How a service's Sentry project is named, for repository ``payments-api`` of org ``acme``:
# ``service`` → payments-api, ``org_prefixed`` → acme-payments-api, ``env_suffixed`` →
# payments-api-prod, ``role`` → payments-backend (``-frontend`` for ``*-app`` / ``*-web``).
SENTRY_SLUG_STYLES = ("service", "org_prefixed", "env_suffixed", "role")

# Values :func:`sample_conventions` never produces; only :data:`HELD_OUT` uses them.
HELD_OUT_TITLE_FORMATS = frozenset({"key_pipe"})
HELD_OUT_BRANCH_FORMATS = frozenset({"key_underscore"})
HELD_OUT_SENTRY_SLUG_STYLES = frozenset({"role"})


@dataclass(frozen=True)
class KeyHabits:
    """How one team names its ticket in pull requests.

    Attributes:
        placement: relative weights of :data:`LINK_PLACES` (title, branch, body, commit, none)
            for a pull request made for a ticket.
        title_formats: names in :data:`TITLE_FORMATS`, picked uniformly when the key goes in
            the title.
        branch_formats: ``(name in BRANCH_FORMATS, weight)`` pairs for branches carrying the key.
        branch_with_title: chance that a PR with the key in its title also has it in its branch.
    """

    placement: tuple[float, float, float, float, float]
    title_formats: tuple[str, ...]
    branch_formats: tuple[tuple[str, float], ...]
    branch_with_title: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        if len(self.placement) != len(LINK_PLACES) or min(self.placement) < 0:
            problems.append(f"placement needs {len(LINK_PLACES)} non-negative weights")
        if sum(self.placement) <= 0:
            problems.append("placement weights sum to zero")
        unknown = [f for f in self.title_formats if f not in TITLE_FORMATS]
        unknown += [f for f, _ in self.branch_formats if f not in BRANCH_FORMATS]
        if unknown:
            problems.append(f"unknown formats {unknown}")
        if not self.title_formats or not self.branch_formats:
            problems.append("title_formats and branch_formats must not be empty")
        if problems:
            raise ValueError(f"invalid KeyHabits {self}: " + "; ".join(problems))

    def share(self, place: str) -> float:
        """The share of ticketed PRs that name their ticket in ``place`` (or ``none``)."""
        return self.placement[LINK_PLACES.index(place)] / sum(self.placement)


def _rate(name: str, value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else f"{name}={value} is not a probability"


@dataclass(frozen=True)
class Conventions:
    """Every habit of a simulated organisation that a link or identity model could learn.

    Code and tickets:
        team_habits: :class:`KeyHabits` per team, in the organisation's team order (cycled).
        linear_branch_format: branch format Linear teams use whatever ``team_habits`` say (their
            tracker's "copy git branch name"); ``None``: they follow ``team_habits`` too.
        title_echo_rate: chance a PR's title and body repeat the ticket's summary; otherwise
            they are written independently (so word overlap is no cue).
        key_lower_in_title_rate: chance a key written in a title is lower-cased.
        conventional_title_rate: chance a title without the key is ``feat: summary``-style.
        commit_key_prefix_rate: for keys in the title or branch, chance each commit message
            also starts with ``KEY:``.
    Ticket workflow:
        review_move_rate: chance the ticket is moved to In Review when its PR opens.
        review_move_by_automation: of those on Jira, the share the automation app moves.
        done_move_rate: chance the ticket is moved to Done within minutes of the merge;
            otherwise someone else (PM or lead) moves it hours to days later.
        done_move_by_automation: of the prompt Done moves on Jira, the share automation makes.
        moved_by_other_rate: of the moves a person makes, the share a PM or lead makes
            instead of the PR's author.
    Configuration:
        members_configured: whether ``flowsync.yaml`` lists each team's members (the teams'
            repositories, Jira components and Linear teams are always listed).
    Identities:
        login_styles: names in :data:`LOGIN_STYLES`, one picked per person.
        noreply_share: share of people whose commits carry a GitHub noreply address.
        personal_email_people: people who use a personal address in some tool.
        jira_email_hidden_rate: chance a Jira profile hides its email address.
    Incidents:
        sentry_slug_style: one of :data:`SENTRY_SLUG_STYLES`.
        incident_base_rate, incident_per_pr_rate, incident_max_rate: chance a production
            deployment ships a bug: ``min(max, base + per_pr × PRs shipped)`` (at least one in
            twelve deployments, and three, do).
        late_manifest_share: share of caused incidents first seen only after a later, unrelated
            production deployment of the same service (their events carry that release).
        confounder_incidents: noise incidents placed minutes to hours after unrelated deploys.
        noise_incidents_per_service: range of other noise incidents per service per 60 days.
    Code base:
        modules_per_area: modules each area of a repository has beyond its few core files
            (0: a toy tree of ~20 files; 20: ~150). The more files, the rarer a noise
            incident's file was changed by chance in the days before it.
    Tools:
        circleci_repos: names of GitHub repositories (``mobile-bff``) whose CI runs on CircleCI
            instead of GitHub Actions; none in the demo.
        pagerduty: whether the on-call engineers are paged through PagerDuty for production
            errors (its incidents, log entries and webhooks); off in the demo, whose DORA and
            link ground truth know Sentry's incidents only (``flowsync demo --pagerduty``).
    """

    name: str
    team_habits: tuple[KeyHabits, ...]
    linear_branch_format: str | None = "user_key_lower"
    title_echo_rate: float = 1.0
    key_lower_in_title_rate: float = 0.0
    conventional_title_rate: float = 0.3
    commit_key_prefix_rate: float = 0.3
    review_move_rate: float = 1.0
    review_move_by_automation: float = 0.35
    done_move_rate: float = 1.0
    done_move_by_automation: float = 0.5
    moved_by_other_rate: float = 0.0
    members_configured: bool = True
    login_styles: tuple[str, ...] = (
        "initial_surname_org",
        "firstlast",
        "first_dash_initial",
        "surname_initial",
        "first_dev",
        "first_last",
    )
    noreply_share: float = 0.1
    personal_email_people: int = 6
    jira_email_hidden_rate: float = 0.15
    sentry_slug_style: str = "service"
    incident_base_rate: float = 0.03
    incident_per_pr_rate: float = 0.01
    incident_max_rate: float = 0.15
    late_manifest_share: float = 0.0
    confounder_incidents: int = 2
    noise_incidents_per_service: tuple[int, int] = (3, 7)
    modules_per_area: int = 0
    circleci_repos: tuple[str, ...] = ()
    pagerduty: bool = False
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        problems = [
            p
            for p in (
                _rate(n, getattr(self, n))
                for n in (
                    "title_echo_rate",
                    "key_lower_in_title_rate",
                    "conventional_title_rate",
                    "commit_key_prefix_rate",
                    "review_move_rate",
                    "review_move_by_automation",
                    "done_move_rate",
                    "done_move_by_automation",
                    "moved_by_other_rate",
                    "noreply_share",
                    "jira_email_hidden_rate",
                    "incident_base_rate",
                    "incident_per_pr_rate",
                    "incident_max_rate",
                    "late_manifest_share",
                )
            )
            if p
        ]
        if not self.team_habits:
            problems.append("team_habits must name at least one team's habits")
        if self.linear_branch_format not in (None, *BRANCH_FORMATS):
            problems.append(f"unknown linear_branch_format {self.linear_branch_format!r}")
        if not self.login_styles or any(s not in LOGIN_STYLES for s in self.login_styles):
            problems.append(f"login_styles must be names in LOGIN_STYLES: {self.login_styles}")
        if self.sentry_slug_style not in SENTRY_SLUG_STYLES:
            problems.append(f"sentry_slug_style must be one of {SENTRY_SLUG_STYLES}")
        low, high = self.noise_incidents_per_service
        if not 0 <= low <= high or self.confounder_incidents < 0 or self.personal_email_people < 0:
            problems.append("counts must be non-negative and ranges ordered")
        if not 0 <= self.modules_per_area <= 20:
            problems.append(f"modules_per_area={self.modules_per_area} is not in 0..20")
        if problems:
            raise ValueError(f"invalid Conventions {self.name!r}: " + "; ".join(problems))

    def habits(self, team_index: int) -> KeyHabits:
        """The key habits of the organisation's ``team_index``-th team."""
        return self.team_habits[team_index % len(self.team_habits)]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (for ground truth)."""
        return asdict(self)


# The demo organisation's habits, exactly as the simulator always had them.
_DEMO_HABITS = KeyHabits(
    placement=(40, 18, 15, 9, 18),
    title_formats=("key_colon", "key_brackets", "summary_parens", "key_space"),
    branch_formats=(("prefix_key_lower", 0.15), ("prefix_key", 0.85)),
)
DEMO = Conventions(name="demo", team_habits=(_DEMO_HABITS,))

KEYS_IN_TITLES = Conventions(
    name="keys_in_titles",
    team_habits=(
        KeyHabits(
            placement=(85, 0, 5, 0, 10),
            title_formats=("key_colon", "key_brackets"),
            branch_formats=(("key_slug", 1.0),),
            branch_with_title=0.2,
        ),
    ),
    title_echo_rate=0.6,
    notes="keys in titles, branches rarely carry them, titles often paraphrase",
)
KEYS_IN_BRANCHES = Conventions(
    name="keys_in_branches",
    team_habits=(
        KeyHabits(
            placement=(5, 80, 5, 0, 10),
            title_formats=("summary_parens",),
            branch_formats=(("prefix_key_lower", 0.5), ("key_lower_slug", 0.5)),
        ),
    ),
    linear_branch_format=None,
    conventional_title_rate=0.6,
    notes="branch names carry keys, titles are conventional commits",
)
SPARSE = Conventions(
    name="sparse",
    team_habits=(
        KeyHabits(
            placement=(30, 20, 10, 10, 30),
            title_formats=("conventional_scope", "summary_dash_key"),
            branch_formats=(("key_slug", 0.7), ("prefix_key_only", 0.3)),
        ),
    ),
    title_echo_rate=0.3,
    review_move_rate=0.5,
    done_move_rate=0.6,
    moved_by_other_rate=0.4,
    members_configured=False,
    login_styles=("initial_surname", "surname_digits", "first_org"),
    noreply_share=0.3,
    jira_email_hidden_rate=0.4,
    sentry_slug_style="org_prefixed",
    late_manifest_share=0.2,
    confounder_incidents=5,
    notes="few keys, paraphrased titles, no members configured, late incidents",
)

# The held-out organisation (issue 10's acceptance): keys in titles for two teams, in branches
# for the other two, nowhere for ~15 % of ticketed PRs; no members configured; a fifth of
# caused incidents first seen after a later unrelated deployment; the held-out title format
# (``KEY | summary``), branch format (``KEY_slug``) and Sentry slug style (``payments-backend``
# for repository ``payments-api``).
_HELD_OUT_TITLE_TEAM = KeyHabits(
    placement=(80, 0, 5, 0, 15),
    title_formats=("key_pipe",),
    branch_formats=(("key_underscore", 1.0),),
    branch_with_title=0.0,
)
_HELD_OUT_BRANCH_TEAM = KeyHabits(
    placement=(0, 80, 5, 0, 15),
    title_formats=("key_pipe",),
    branch_formats=(("key_underscore", 1.0),),
)
HELD_OUT = Conventions(
    name="held_out",
    team_habits=(_HELD_OUT_TITLE_TEAM, _HELD_OUT_BRANCH_TEAM),
    linear_branch_format=None,
    title_echo_rate=0.5,
    key_lower_in_title_rate=0.0,
    conventional_title_rate=0.2,
    commit_key_prefix_rate=0.1,
    review_move_rate=0.8,
    review_move_by_automation=0.2,
    done_move_rate=0.8,
    done_move_by_automation=0.3,
    moved_by_other_rate=0.2,
    members_configured=False,
    login_styles=("initial_surname", "first_last", "surname_digits"),
    noreply_share=0.2,
    personal_email_people=8,
    jira_email_hidden_rate=0.3,
    sentry_slug_style="role",
    incident_base_rate=0.04,
    late_manifest_share=0.3,
    confounder_incidents=4,
    modules_per_area=12,
    notes="issue 10's held-out organisation",
)
NAMED: dict[str, Conventions] = {
    c.name: c for c in (DEMO, KEYS_IN_TITLES, KEYS_IN_BRANCHES, SPARSE, HELD_OUT)
}

_SAMPLED_TITLE_FORMATS = tuple(f for f in TITLE_FORMATS if f not in HELD_OUT_TITLE_FORMATS)
_SAMPLED_BRANCH_FORMATS = tuple(f for f in BRANCH_FORMATS if f not in HELD_OUT_BRANCH_FORMATS)
_SAMPLED_SLUG_STYLES = tuple(s for s in SENTRY_SLUG_STYLES if s not in HELD_OUT_SENTRY_SLUG_STYLES)


def _sample_habits(rng: random.Random) -> KeyHabits:
    # A team leans on one or two places; "none" is always possible.
    weights = [rng.uniform(0, 10) for _ in LINK_PLACES]
    weights[rng.randrange(3)] += rng.uniform(20, 80)  # title, branch or body dominates
    weights[LINK_PLACES.index("none")] = rng.uniform(3, 30)
    titles = rng.sample(_SAMPLED_TITLE_FORMATS, rng.randint(1, 3))
    branches = rng.sample(_SAMPLED_BRANCH_FORMATS, rng.randint(1, 2))
    return KeyHabits(
        placement=(weights[0], weights[1], weights[2], weights[3], weights[4]),
        title_formats=tuple(titles),
        branch_formats=tuple((b, rng.uniform(0.2, 1.0)) for b in branches),
        branch_with_title=rng.choice([1.0, 1.0, rng.uniform(0, 1)]),
    )


def sample_conventions(rng: random.Random, *, name: str | None = None) -> Conventions:
    """Draw a training organisation's habits.

    Never produces a value in :data:`HELD_OUT_TITLE_FORMATS`, :data:`HELD_OUT_BRANCH_FORMATS`
    or :data:`HELD_OUT_SENTRY_SLUG_STYLES`, so nothing sampled equals :data:`HELD_OUT`.
    Deterministic for a given ``rng`` state.

    Args:
        rng: the source of randomness (seed it for reproducible training sets).
        name: the organisation's name; by default ``sampled-<6 hex digits>``.

    Returns:
        a validated :class:`Conventions`.
    """
    label = name or f"sampled-{rng.getrandbits(24):06x}"
    teams = tuple(_sample_habits(rng) for _ in range(rng.randint(1, 4)))
    low = rng.randint(1, 5)
    return Conventions(
        name=label,
        team_habits=teams,
        linear_branch_format=rng.choice(["user_key_lower", None]),
        title_echo_rate=rng.choice([1.0, rng.uniform(0.2, 0.95)]),
        key_lower_in_title_rate=rng.choice([0.0, rng.uniform(0, 0.3)]),
        conventional_title_rate=rng.uniform(0, 0.6),
        commit_key_prefix_rate=rng.uniform(0, 0.6),
        review_move_rate=rng.uniform(0.4, 1.0),
        review_move_by_automation=rng.uniform(0, 0.6),
        done_move_rate=rng.uniform(0.5, 1.0),
        done_move_by_automation=rng.uniform(0, 0.7),
        moved_by_other_rate=rng.uniform(0, 0.4),
        members_configured=rng.random() < 0.6,
        login_styles=tuple(rng.sample(list(LOGIN_STYLES), rng.randint(2, 5))),
        noreply_share=rng.uniform(0, 0.35),
        personal_email_people=rng.randint(0, 12),
        jira_email_hidden_rate=rng.uniform(0, 0.4),
        sentry_slug_style=rng.choice(_SAMPLED_SLUG_STYLES),
        incident_base_rate=rng.uniform(0.01, 0.06),
        incident_per_pr_rate=rng.uniform(0, 0.02),
        incident_max_rate=rng.uniform(0.1, 0.25),
        late_manifest_share=rng.choice([0.0, rng.uniform(0, 0.35)]),
        confounder_incidents=rng.randint(0, 6),
        noise_incidents_per_service=(low, low + rng.randint(0, 5)),
        modules_per_area=rng.randint(0, 20),
    )


def uses_held_out_value(conventions: Conventions) -> list[str]:
    """The held-out values ``conventions`` uses (empty for every sampled organisation)."""
    found = [
        f"title format {f}"
        for h in conventions.team_habits
        for f in h.title_formats
        if f in HELD_OUT_TITLE_FORMATS
    ]
    found += [
        f"branch format {b}"
        for h in conventions.team_habits
        for b, _ in h.branch_formats
        if b in HELD_OUT_BRANCH_FORMATS
    ]
    if conventions.linear_branch_format in HELD_OUT_BRANCH_FORMATS:
        found.append(f"branch format {conventions.linear_branch_format}")
    if conventions.sentry_slug_style in HELD_OUT_SENTRY_SLUG_STYLES:
        found.append(f"sentry slug style {conventions.sentry_slug_style}")
    return found


def sentry_slug(style: str, service: str, org_slug: str) -> str:
    """The Sentry project slug of ``service`` under slug ``style`` (see SENTRY_SLUG_STYLES)."""
    if style == "service":
        return service
    if style == "org_prefixed":
        return f"{org_slug}-{service}"
    if style == "env_suffixed":
        return f"{service}-prod"
    if style == "role":
        stem, _, last = service.rpartition("-")
        role = "frontend" if last in ("app", "web") else "backend"
        return f"{stem or service}-{role}"
    raise ValueError(f"unknown Sentry slug style {style!r}; use one of {SENTRY_SLUG_STYLES}")
