"""The statement kinds FlowSync makes: what each claims, for whom, and its words per band.

A *fact* is read straight from the tools' records (confidence 1.0, always High). An *inferred*
claim follows the context graph's calibrated links and carries their combined probability; its
words follow its band: High states the claim, Medium says "likely", Low says "possibly".
"""

from __future__ import annotations

from dataclasses import dataclass

ENGINEER = "engineer"
MANAGER = "engineering_manager"
PRODUCT = "product_manager"
EXECUTIVE = "executive"

# The hedge each band puts into an inferred claim's sentence (High states it plainly).
HEDGES = {"medium": "likely", "low": "possibly"}


@dataclass(frozen=True)
class Kind:
    """One kind of statement.

    Attributes:
        name: the kind, as stored in ``statements.kind`` (a contract: keep the names).
        category: ``fact``, ``inferred`` or ``predicted``.
        audience: the roles the claim is for.
        stated: the sentence at High band, ``str.format`` over ``subject``, ``object`` and params.
        hedged: the sentence at Medium / Low band, with ``{hedge}`` where "likely" / "possibly"
            goes (facts have none: they are always High).
        description: what the claim means and how it is computed, for people.
    """

    name: str
    category: str
    audience: tuple[str, ...]
    stated: str
    description: str
    hedged: str = ""
    learner: str = "sklearn:gbt_calibrated"  # what a predicted kind's model is

    @property
    def model(self) -> str:
        return {"fact": f"rule:{self.name}", "inferred": "graph_paths"}.get(
            self.category, self.learner
        )


KINDS: tuple[Kind, ...] = (
    Kind(
        name="pr_waiting_for_review",
        category="fact",
        audience=(ENGINEER, MANAGER),
        stated="{subject} has waited {working_hours} working hours for a first review.",
        description="open at the end of the day, no human review after N working hours",
    ),
    Kind(
        name="pr_merged_without_review",
        category="fact",
        audience=(MANAGER,),
        stated="{subject} was merged without a review.",
        description="merged during the day with no human review by someone else before",
    ),
    Kind(
        name="pr_large",
        category="fact",
        audience=(ENGINEER, MANAGER),
        stated="{subject} changes {files_changed} files (more than {threshold}).",
        description="open or merged that day; distinct files its linked commits changed",
    ),
    Kind(
        name="ci_failing_default_branch",
        category="fact",
        audience=(ENGINEER, MANAGER),
        stated="CI on the default branch of {subject} has been failing since {since}.",
        description="the latest finished default-branch run of a pipeline failed",
    ),
    Kind(
        name="ticket_reopened",
        category="fact",
        audience=(MANAGER, PRODUCT),
        stated="{subject} was reopened (now {status}).",
        description="moved from a done status back to an open one during the day",
    ),
    Kind(
        name="deployment_shipped",
        category="fact",
        audience=(ENGINEER, MANAGER, PRODUCT),
        stated="{subject} shipped to production with {pull_requests} and {tickets}.",
        description="a production deployment succeeded; what it carried through High links",
    ),
    Kind(
        name="incident_open",
        category="fact",
        audience=(ENGINEER, MANAGER, EXECUTIVE),
        stated="{subject} is open since {first_seen_at}.",
        description="first seen before the end of the day and not resolved or ignored",
    ),
    Kind(
        name="ticket_shipped",
        category="inferred",
        audience=(MANAGER, PRODUCT),
        stated="{subject} shipped to production in {object}.",
        hedged="{subject} {hedge} shipped to production in {object}.",
        description="best path deployment -> commit -> pull request -> ticket, product of the "
        "links' confidences, for production deployments that succeeded that day",
    ),
    Kind(
        name="incident_caused_by_deployment",
        category="inferred",
        audience=(ENGINEER, MANAGER, EXECUTIVE),
        stated="{subject} was caused by {object}.",
        hedged="{subject} was {hedge} caused by {object}.",
        description="the incident's most likely deployment (the incident_deployment link)",
    ),
    Kind(
        name="ticket_blocked",
        category="inferred",
        audience=(MANAGER, PRODUCT),
        stated="{subject} is stalled: no linked activity for {idle_days} days.",
        hedged="{subject} is {hedge} stalled: no linked activity for {idle_days} days.",
        description="in progress with no activity on it or its linked work for N days, or "
        "blocked by a Jira link from a ticket not done",
    ),
    Kind(
        name="work_without_ticket",
        category="inferred",
        audience=(MANAGER,),
        stated="{subject} was merged without a ticket.",
        hedged="{subject} was {hedge} merged without a ticket.",
        description="merged by a person; probability none of its candidate ticket links is real",
    ),
    Kind(
        name="pr_will_stall",
        category="predicted",
        audience=(ENGINEER, MANAGER),
        stated="{subject} will stall: not merged or closed within {horizon_days} days of opening.",
        hedged="{subject} will {hedge} stall: not merged or closed within {horizon_days} days "
        "of opening.",
        description="calibrated gradient-boosted trees on the organisation's own pull requests "
        "whose outcome was known before the day (flowsync_pipelines/statements/predict.py)",
    ),
    Kind(
        name="sprint_at_risk",
        category="predicted",
        audience=(MANAGER, PRODUCT),
        stated="{subject} will miss its end date ({ends_on}): {not_done} of {scope} tickets "
        "not done.",
        hedged="{subject} will {hedge} miss its end date ({ends_on}): {not_done} of {scope} "
        "tickets not done.",
        description="an active Jira sprint / Linear cycle whose scope (tickets planned into it, "
        "created before its end) will not all be done by its end date; calibrated logistic "
        "regression on the organisation's ended sprints (scope, scope added since the start, "
        "time elapsed, days left, tickets not started, load, each open ticket's chance of "
        "being done in time from how the board's tickets in its state fared), shrunk towards "
        "the base rate while sprints are few (flowsync_pipelines/statements/risk.py)",
        learner="sklearn:logistic_calibrated",
    ),
    Kind(
        name="epic_at_risk",
        category="predicted",
        audience=(MANAGER, PRODUCT),
        stated="{subject} will miss its due date ({ends_on}): {not_done} of {scope} tickets "
        "not done.",
        hedged="{subject} will {hedge} miss its due date ({ends_on}): {not_done} of {scope} "
        "tickets not done.",
        description="an epic (Jira: duedate) or Linear project (targetDate) with a due date "
        "whose tickets (its children created before the end of the due date) will not all be "
        "done by then; the same calibrated logistic regression and features as sprint_at_risk "
        "on the organisation's epics that reached their due date, shrunk towards the base rate "
        "while they are few (flowsync_pipelines/statements/risk.py)",
        learner="sklearn:logistic_calibrated",
    ),
    Kind(
        name="incident_slow_to_restore",
        category="predicted",
        audience=(ENGINEER, MANAGER, EXECUTIVE),
        stated="{subject} will not be restored within {restore_hours:g} hours of first seen "
        "({first_seen_at}).",
        hedged="{subject} will {hedge} not be restored within {restore_hours:g} hours of first "
        "seen ({first_seen_at}).",
        description="an open incident not resolved within N hours (default 24) of first seen; "
        "restored = a dated resolved event (Sentry's issue activity or webhook). Sentry's issue "
        "list gives no resolution time: incidents resolved without one are left out, and "
        "nothing is claimed until the history holds enough dated resolutions. Calibrated "
        "logistic regression on level, events so far, age, a deployment of the project since "
        "first seen, the project's open incidents and past slow restores "
        "(flowsync_pipelines/statements/risk.py)",
        learner="sklearn:logistic_calibrated",
    ),
)

KINDS_BY_NAME = {k.name: k for k in KINDS}
# The blocked_by variant of ticket_blocked names its blocker (a recorded Jira link: a fact).
BLOCKED_BY = "{subject} is blocked by {object}, which is not done."
