"""Who a person is: every vault row, ``flowsync.yaml`` entry and tool address that identifies them.

See :func:`find_person`; the package docstring (:mod:`flowsync_pipelines.privacy`) tells the story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from flowsync_pipelines.identity import identity_links
from flowsync_pipelines.landing import LandingStore
from flowsync_pipelines.landing_privacy import commit_addresses
from flowsync_pipelines.metadata import MetadataStore, identity_vault
from flowsync_pipelines.privacy.identifiers import PLACEHOLDERS, IdentifierKind, IdentifierSet, fold
from flowsync_pipelines.privacy.interface import Progress, Stores
from flowsync_pipelines.pseudonym import pseudonym
from flowsync_pipelines.settings import FlowSyncConfig
from flowsync_pipelines.sources.registry import member_handle_fields

# Member fields of flowsync.yaml that hold a tool handle, by source type.
MEMBER_HANDLE_FIELDS = member_handle_fields()


@dataclass(frozen=True)
class VaultEntry:
    pseudonym: str
    source: str
    handle: str
    display_name: str | None
    email: str | None
    actor_kind: str
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Membership:
    team: str
    name: str
    email: str | None
    handles: dict[str, str]


@dataclass(frozen=True)
class Person:
    """Everything that identifies one person across the vault, the config and the tools."""

    request: str
    vault_entries: tuple[VaultEntry, ...]
    memberships: tuple[Membership, ...]
    discovered: frozenset[str] = frozenset()  # e.g. a second commit address of their login
    computed_pseudonyms: frozenset[str] = frozenset()

    @property
    def found(self) -> bool:
        return bool(self.vault_entries or self.memberships)

    @property
    def pseudonyms(self) -> tuple[str, ...]:
        return tuple(
            sorted({e.pseudonym for e in self.vault_entries} | set(self.computed_pseudonyms))
        )

    @property
    def names(self) -> frozenset[str]:
        names = {e.display_name for e in self.vault_entries if e.display_name}
        names |= {m.name for m in self.memberships}
        return frozenset(n for n in names if n.strip())

    @property
    def identifiers(self) -> frozenset[str]:
        """Handles, account ids, emails and display names, as found (case kept)."""
        found: set[str] = set(self.discovered) | set(self.names)
        for entry in self.vault_entries:
            found.add(entry.handle)
            if entry.email:
                found.add(entry.email)
        for membership in self.memberships:
            found.update(membership.handles.values())
            if membership.email:
                found.add(membership.email)
        # An address's local part identifies its owner on its own too: Jenkins shows user ids
        # like "41895518+login" (a GitHub no-reply address without its domain).
        found |= {e.partition("@")[0] for e in found if "@" in e}
        return frozenset(i for i in found if i and fold(i.strip()) not in PLACEHOLDERS)

    def identifier_set(self, *, with_pseudonyms: bool = False) -> IdentifierSet:
        """The person's identifiers in clear, short ones included (they are known to be theirs)."""
        plain = {i: IdentifierKind(erased=True, name=i in self.names) for i in self.identifiers}
        if with_pseudonyms:
            plain.update({p: IdentifierKind(erased=True) for p in self.pseudonyms})
        return IdentifierSet(plain, min_length=1)


def read_vault(store: MetadataStore) -> list[VaultEntry]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(identity_vault)).all()
    return [
        VaultEntry(
            pseudonym=r.pseudonym,
            source=r.source,
            handle=r.handle,
            display_name=r.display_name,
            email=r.email,
            actor_kind=r.actor_kind,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


def read_links(store: MetadataStore) -> dict[str, str]:
    """Account pseudonym → person pseudonym, as identity resolution last linked them."""
    if not sa.inspect(store.engine).has_table(identity_links.name):
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(identity_links.c.pseudonym, identity_links.c.person))
        return {r.pseudonym: r.person for r in rows}


def config_memberships(config: FlowSyncConfig) -> list[Membership]:
    return [
        Membership(
            team=team.key,
            name=member.name,
            email=member.email,
            handles={f: getattr(member, f) for f in MEMBER_HANDLE_FIELDS if getattr(member, f)},
        )
        for team in config.teams
        for member in team.members
    ]


def find_person(stores: Stores, request: str, *, progress: Progress | None = None) -> Person:
    """Every vault row, config entry and commit address that identifies the requested person.

    Args:
        stores: where to look.
        request: an email address or a tool handle (login, account id), any case.

    Returns:
        the person; ``person.found`` is False when nothing matches (e.g. already erased).
    """
    say = progress or (lambda _: None)
    config = stores.config()
    store = MetadataStore(stores.metadata_url)
    try:
        vault = [e for e in read_vault(store) if e.actor_kind != "bot"]
        links = read_links(store)
    finally:
        store.dispose()
    members = config_memberships(config)
    handles = {fold(request.strip())}
    emails = {fold(request.strip())}
    matched_rows: dict[str, VaultEntry] = {}
    matched_members: dict[int, Membership] = {}
    discovered: set[str] = set()
    github_sources = [s.name for s in config.sources if s.type == "github"] or ["github"]
    landing = LandingStore(stores.landing)
    searched_logins: set[str] = set()
    searched_names: set[str] = set()
    persons: set[str] = set()
    # Grow the set until nothing new turns up: a config entry names handles, a handle's vault
    # row names an email, that email is another account's, identity resolution linked another
    # account (a Figma account by its name) to the same person, a login's commits show addresses.
    for _ in range(10):
        before = (len(matched_rows), len(matched_members), len(emails), len(handles))
        persons |= {links[p] for p in matched_rows if p in links}
        for index, member in enumerate(members):
            member_handles = {fold(h) for h in member.handles.values()}
            if (member.email and fold(member.email) in emails) or member_handles & handles:
                matched_members[index] = member
                handles |= member_handles
                if member.email:
                    emails.add(fold(member.email))
        for entry in vault:
            linked = links.get(entry.pseudonym) in persons
            if (
                linked
                or fold(entry.handle) in handles
                or (entry.email and fold(entry.email) in emails)
            ):
                matched_rows[entry.pseudonym] = entry
                handles.add(fold(entry.handle))
                if entry.email:
                    emails.add(fold(entry.email))
                if entry.source == "email":
                    emails.add(fold(entry.handle))
        logins = {fold(e.handle) for e in matched_rows.values() if e.source == "github"}
        logins |= {
            fold(m.handles["github"]) for m in matched_members.values() if "github" in m.handles
        }
        names = {fold(e.display_name) for e in matched_rows.values() if e.display_name}
        names |= {fold(m.name) for m in matched_members.values()}
        if (logins - searched_logins) or (names - searched_names):
            say("looking for the person's commit addresses in landing …")
            found_emails, found_names = commit_addresses(landing, github_sources, logins, names)
            searched_logins |= logins
            searched_names |= names
            discovered |= found_emails | found_names
            emails |= {fold(e) for e in found_emails}
        if (len(matched_rows), len(matched_members), len(emails), len(handles)) == before:
            break
    memberships = tuple(matched_members[i] for i in sorted(matched_members))
    # The person pseudonyms themselves (DuckDB ``identities.person``) name the person too.
    computed: set[str] = {links[p] for p in matched_rows if p in links}
    if stores.pseudonym_key:
        # What role views hold for a config member even when the vault never had the row.
        key = stores.pseudonym_key
        computed |= {pseudonym(key, s, h) for m in memberships for s, h in m.handles.items()}
    return Person(
        request=request,
        vault_entries=tuple(sorted(matched_rows.values(), key=lambda e: (e.source, e.pseudonym))),
        memberships=memberships,
        discovered=frozenset(discovered),
        computed_pseudonyms=frozenset(computed),
    )
