"""What the context graph is made of: node kinds, edge types and the inferred link types.

Every inferred link type names the SQL file that proposes its candidates
(``sql/duckdb/graph_candidates_<name>.sql``), the relationship it becomes in the graph, and the
features its calibrated model reads. Link types are listed in dependency order: a linker may read
the links of the types before it (``pr_ticket`` reads ``commit_pr`` to find keys in the commit
messages of a pull request).
"""

from __future__ import annotations

from dataclasses import dataclass, field

NODE_KINDS = (
    "person",
    "team",
    "repo",
    "pull_request",
    "commit",
    "ticket",
    "epic",
    "sprint",
    "ci_run",
    "deployment",
    "incident",
    "design_comment",
)

# Node ids are "<kind>:<entity id>" (``ticket:PLAT-12``, ``pull_request:acme/api#3``), except
# people, keyed by their bare pseudonym so that an erasure finds them (see graph_entity_nodes.sql).

# Relationship types; Neo4j needs them literally (constraints), so the list is closed.
EDGE_TYPES = (
    "AUTHORED",
    "REVIEWED",
    "IN_REPO",
    "OWNS",
    "MEMBER_OF",
    "REFERENCES",
    "PART_OF",
    "IN_SPRINT",
    "BUILT",
    "DEPLOYED",
    "FOLLOWED_BY_INCIDENT",
    "ABOUT",
)

# Candidates below this confidence are not kept as edges (they are almost surely not links).
MIN_CONFIDENCE = 0.10


@dataclass(frozen=True)
class LinkType:
    """One kind of inferred link.

    Attributes:
        name: the link type, also the suffix of its candidate SQL file and labels file.
        edge_type: the relationship it becomes (one of :data:`EDGE_TYPES`).
        src_kind / dst_kind: node kinds at either end (``ticket`` ends may be epics).
        features: numeric columns of the candidate frame the model reads.
        monotone: per feature, +1 when more of it can only raise the confidence, -1 when it
            can only lower it (unnamed features are free). Strong, convention-free evidence (a
            key in the title, a culprit file the deployment changed) is constrained this way so
            that no combination of weaker cues learnt in one world can override it.
    """

    name: str
    edge_type: str
    src_kind: str
    dst_kind: str
    features: tuple[str, ...]
    description: str
    monotone: dict[str, int] = field(default_factory=dict)
    unseen_by_webhooks: tuple[str, ...] = ()


LINK_TYPES: tuple[LinkType, ...] = (
    LinkType(
        name="ci_commit",
        edge_type="BUILT",
        src_kind="ci_run",
        dst_kind="commit",
        features=("f_commit_seen",),
        description="a CI run built the commit it reports (head sha)",
    ),
    LinkType(
        name="commit_pr",
        edge_type="PART_OF",
        src_kind="commit",
        dst_kind="pull_request",
        features=(
            "f_merge_sha",
            "f_merge_title",
            "f_head_sha",
            "f_ci_branch",
            "f_same_author",
            "f_gap_next_push_h",
            "f_no_push_after",
            "f_before_open",
            "f_key_overlap",
            "f_n_candidates",
            "f_best_gap",
        ),
        description="a commit belongs to a pull request (merge sha, branch CI head, author+time)",
        monotone={
            f: 1
            for f in (
                "f_merge_sha",
                "f_merge_title",
                "f_head_sha",
                "f_ci_branch",
                "f_same_author",
                "f_key_overlap",
            )
        },
    ),
    LinkType(
        name="ci_pr",
        edge_type="BUILT",
        src_kind="ci_run",
        dst_kind="pull_request",
        features=("f_pr_number", "f_branch", "f_merge_sha", "f_in_window", "f_n_candidates"),
        description="a CI run ran for a pull request (its number, its branch, its merge commit)",
        monotone={f: 1 for f in ("f_pr_number", "f_branch", "f_merge_sha", "f_in_window")},
    ),
    LinkType(
        name="pr_ticket",
        edge_type="REFERENCES",
        src_kind="pull_request",
        dst_kind="ticket",
        features=(
            "f_title",
            "f_branch",
            "f_branch_leading",
            "f_body",
            "f_commit",
            "f_explicit",
            "f_ticket_seen",
            "f_prefix_keys",
            "f_title_sim",
            "f_best_title_sim",
            "f_assignee_author",
            "f_review_gap_h",
            "f_has_review_move",
            "f_done_gap_h",
            "f_has_done_move",
            "f_mover_author",
            "f_same_team",
            "f_n_implicit",
            "f_other_explicit",
        ),
        description="a pull request implements a ticket (key in title, branch, body or commits; "
        "else the same person moving the ticket as the pull request opens and merges)",
        monotone={
            "f_title": 1,
            "f_branch": 1,
            "f_branch_leading": 1,
            "f_body": 1,
            "f_commit": 1,
            "f_explicit": 1,
            "f_ticket_seen": 1,
            "f_title_sim": 1,
            "f_best_title_sim": 1,
            "f_assignee_author": 1,
            "f_review_gap_h": -1,
            "f_done_gap_h": -1,
            "f_mover_author": 1,
            "f_same_team": 1,
            "f_n_implicit": -1,
            "f_other_explicit": -1,
        },
    ),
    LinkType(
        name="deployment_commit",
        edge_type="DEPLOYED",
        src_kind="deployment",
        dst_kind="commit",
        features=(
            "f_direct",
            "f_commit_pr_conf",
            "f_first_deploy",
            "f_success",
            "f_range_size",
        ),
        description="a deployment shipped a commit (range since the environment's last deploy)",
        monotone={"f_direct": 1, "f_commit_pr_conf": 1, "f_success": 1},
    ),
    LinkType(
        name="incident_deployment",
        edge_type="FOLLOWED_BY_INCIDENT",
        src_kind="deployment",
        dst_kind="incident",
        features=(
            "f_file_match",
            "f_culprit_match",
            "f_latest_culprit_change",
            "f_release_match",
            "f_same_service",
            "f_service_ties",
            "f_hours_since",
            "f_is_latest",
            "f_later_deploys",
            "f_novel",
            "f_level_error",
            "f_has_files",
            "f_other_file_match",
            "f_intensity",
            "f_has_count",
            "f_has_release",
        ),
        description="an incident caused by a production deploy: the incident's culprit or "
        "stack-frame files among the deploy's changed files, its release naming the deployed "
        "sha, the same service, time since the deploy (every deploy of the window is a "
        "candidate, not only the last)",
        monotone={
            "f_file_match": 1,
            "f_culprit_match": 1,
            "f_latest_culprit_change": 1,
            "f_release_match": 1,
            "f_same_service": 1,
            "f_service_ties": -1,
            "f_hours_since": -1,
            "f_is_latest": 1,
            "f_later_deploys": -1,
            "f_novel": 1,
            "f_level_error": 1,
            "f_other_file_match": -1,
            "f_intensity": 1,
        },
        # Webhook-only sources see a new incident with a count of 1 and no release.
        unseen_by_webhooks=("f_intensity", "f_has_count", "f_release_match", "f_has_release"),
    ),
    LinkType(
        name="design_ticket",
        edge_type="ABOUT",
        src_kind="design_comment",
        dst_kind="ticket",
        features=("f_tag", "f_ticket_seen", "f_reply", "f_n_keys"),
        description="a design comment is about a ticket (#flowsync plus a key)",
    ),
    LinkType(
        name="person_team",
        edge_type="MEMBER_OF",
        src_kind="person",
        dst_kind="team",
        features=("f_configured", "f_activity_share", "f_log_events", "f_top_team"),
        description="a person works in a team (flowsync.yaml membership, where they work)",
        monotone={"f_configured": 1, "f_activity_share": 1, "f_top_team": 1},
    ),
    LinkType(
        name="ticket_epic",
        edge_type="PART_OF",
        src_kind="ticket",
        dst_kind="epic",
        features=("f_parent_field", "f_parent_is_epic", "f_parent_seen"),
        description="a ticket belongs to an epic (the tracker's parent field)",
    ),
    LinkType(
        name="ticket_sprint",
        edge_type="IN_SPRINT",
        src_kind="ticket",
        dst_kind="sprint",
        features=("f_sprint_field", "f_sprint_seen", "f_latest_sprint"),
        description="a ticket was planned into a sprint (the tracker's sprint field)",
    ),
)

LINKS_BY_NAME = {link.name: link for link in LINK_TYPES}
