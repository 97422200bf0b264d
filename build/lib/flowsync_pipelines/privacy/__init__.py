"""Privacy (GDPR): export what FlowSync holds about a person, erase them, scan every store.

A pure core (no Dagster): ``flowsync gdpr …`` (:mod:`flowsync_pipelines.gdpr_cli`) and the
``pii_scan`` asset check (:mod:`assets.privacy`) are thin wrappers around these functions.

Who a person is
---------------
:func:`~.person.find_person` starts from one email address or tool handle and collects, until
nothing new turns up: every identity vault row whose handle or email matches; the team-member
entry of ``flowsync.yaml`` that names them (all its handles); vault rows sharing any of those
emails; the accounts identity resolution linked to the same person (``identity_links``, e.g. a
Figma account known only by its display name); and the addresses GitHub commits show next to
their login or, unlinked, next to their name (the vault keeps one email per account, so a second
commit address would otherwise survive an erasure). An address's local part counts as an
identifier too (Jenkins shows ``41895518+login`` as a user id). Bot accounts are never part of a
person.

How an identifier is matched
----------------------------
Case-insensitively, and only on word boundaries: ``jdoe`` matches in ``jdoe``,
``https://github.com/jdoe/followers`` and ``jdoe-patch-1`` but not in ``jdoelle``. Inside JSON,
matching runs on decoded string values (and keys), never on the raw text, so escapes cannot hide
an identifier and a replacement can never break the document. Identifiers shorter than
:data:`~.identifiers.MIN_IDENTIFIER_LENGTH` characters are too common to search for in text; they
are only matched as the entire value of an account field (``login``, ``accountId``, ``email``…).

What ``forget`` does, store by store
------------------------------------
- **erasure record** first: salted digests of the person's identifiers go into the metadata
  store (table ``erased_identifiers``; the identifiers themselves are never stored), so any sync
  that runs from then on scrubs re-fetched records at landing time
  (:func:`~flowsync_pipelines.landing_privacy.scrub_erased`) — the tools still hold the data,
  and the next sync would land it again. ``erasures`` keeps the
  erasure id, times, erased pseudonyms and counts per store.
- **landing** (raw zone): every Parquet file holding an identifier is rewritten atomically
  (temporary file, fsync, rename). In JSON payloads an account field that *is* the identifier
  becomes what the tool itself sends for an account that no longer exists — ``login`` /
  ``username`` become GitHub's and GitLab's ``ghost``, ``accountId`` and email fields become
  null, and the account object's ``id``/``node_id``/avatar become null (also when the object
  is recognised by the person's display name, as Figma's ``{id, handle}``) — so re-normalising
  the scrubbed landing yields no pseudonym at all. Any other occurrence (URLs, names, free
  text) becomes ``[erased]``. ``payload_sha256`` and ``landing_ref`` are recomputed for changed
  rows, and the ``landing_ref`` of derived DuckDB rows is updated, so every citation resolves.
- **DuckDB**: a column equal to an erased pseudonym becomes NULL (``signals.actor`` with
  ``actor_kind = 'erased'``, so an analyst sees why the actor is missing rather than a silent
  gap; NOT NULL columns such as ``team_members.actor`` lose the row), a JSON value equal to it
  becomes null (``attributes.assignee``), and identifiers or pseudonyms inside any text are
  replaced by ``[erased]``. Events and counts stay: they are facts about the team's work, only
  the link to the person is cut (NULL, not a shared "erased" pseudonym, so the erased person's
  events cannot be grouped back together). When that changed any row, the stored models of the
  predicted statements (``statement_models``) are dropped: their features hold no pseudonym,
  but they were fitted on data that held the person; the next run refits on the scrubbed data.
- **outbox**: identifiers and display names in rendered digests become ``[erased]`` (JSON files
  are rewritten as JSON, in their own layout).
- **metadata store**: the person's vault rows are deleted — last, so an interrupted erasure can
  be re-run and still find the person; rows keyed by an erased pseudonym in other tables go
  (``identity_links``); identifiers in other tables (e.g. webhook bodies) are scrubbed like
  landing payloads, with their ``*_sha256`` recomputed.
- **Neo4j** (when ``NEO4J_URI`` is set): person nodes keyed by an erased pseudonym are
  detach-deleted, other properties equal to it are removed, identifiers in strings scrubbed.

Running ``forget`` again for the same person changes nothing and records nothing. If
``flowsync.yaml`` still lists the person as a team member, the next run re-creates their vault
rows and names them in digests: remove the entry (FlowSync does not edit the admin's file);
:func:`~.scan.pii_scan` reports an erased person found in the vault as a violation.

The PII scan
------------
Known identifiers are the vault's handles, emails and display names plus the members'
names, emails and handles in ``flowsync.yaml`` (bots and strings under 4 characters skipped),
and the salted digests of every erased identifier. :func:`~.scan.pii_scan` searches landing, every
VARCHAR/JSON/list column of every DuckDB table, the outbox, every metadata-store table but the
vault, and Neo4j node and relationship string properties. Zones:

- *raw zone (allowed)*: landing payloads, quarantine payloads and webhook bodies hold
  identifiers of people not erased — that is what "raw" means;
- *delivered digests (names allowed)*: digests name people to the roles allowed to see them;
  display names there are expected, logins and emails are not;
- everything else must be clean, and an erased person's identifiers are a violation anywhere
  (the vault included) — only ``flowsync.yaml``, the admin's own input, is merely reported.

Findings never show an identifier in full (``j***@acme.example``).

Rotating the pseudonymisation key (``FLOWSYNC_PSEUDONYM_KEY``)
------------------------------------------------------------
A pseudonym is ``HMAC(key, "<source>:<handle>")``: whoever holds the key and guesses a login can
confirm its pseudonym. Rotate when the key may have leaked, when someone who held it leaves, or
on a schedule. Because landing is raw (it holds handles, not pseudonyms), everything keyed by the
old key can be re-derived without asking the tools again:

1. Pause schedules and sensors and let running runs finish; back up the DuckDB file and the
   metadata store.
2. Generate a new key (``python -c "import secrets; print(secrets.token_hex(32))"``) and put it
   in the secret store as the new ``FLOWSYNC_PSEUDONYM_KEY``.
3. Re-key the vault: for every ``identity_vault`` row insert ``pseudonym(new_key, source,
   handle)`` with the same columns and delete the old row, in one transaction (the vault holds
   the handle, so this needs neither the old key nor landing).
4. Rebuild everything derived: remove the DuckDB file (signals, quarantine, identities, role
   views, current-state tables) and re-materialise every partition from landing in one backfill
   (``BackfillPolicy.single_run``); clear the FlowSync graph in Neo4j and re-mirror it. The same
   run rebuilds ``team_members`` from ``flowsync.yaml`` and ``identity_links`` (person
   pseudonyms are keyed too) in the metadata store.
5. Destroy the old key (delete the secret version and any copies). From then on, old
   pseudonyms in backups, exports or logs can no longer be linked to anyone.

What stays valid: landing and its ``landing_ref`` citations, event ids (they hold no actor),
statement evidence and digest citations, sync cursors, the outbox (it holds names, not
pseudonyms), and the erasure record — its digests use their own salt, not the pseudonym key, so
erased people stay erased. What changes: every pseudonym (``signals.actor``,
``attributes.assignee``, ``@p_…`` mentions in titles, role views, graph person nodes); the
pseudonyms listed in ``erasures`` and in earlier exports become unlinkable, as intended.

Where the code is
-----------------
This package knows no store. Each store implements one small interface,
:class:`~.interface.PrivacyStore` (``scan``, ``forget``, ``export``), beside its own code, and
:data:`.stores.STORES` lists them in the order ``forget`` and the scan visit them:

- :mod:`flowsync_pipelines.landing_privacy` — landing (the raw zone), and landing-time scrubbing;
- :mod:`flowsync_pipelines.warehouse_privacy` — DuckDB, and the statement models stored there;
- :mod:`flowsync_pipelines.delivery.outbox_privacy` — rendered digests;
- :mod:`flowsync_pipelines.metadata_privacy` — metadata tables and the identity vault;
- :mod:`flowsync_pipelines.audit.privacy` — the signed audit log: scanned, never rewritten;
- :mod:`flowsync_pipelines.graph.neo4j_privacy` — Neo4j (``sql/neo4j/privacy_*.cypher``).

The package itself: :mod:`.identifiers` (matching, masking, scrubbing), :mod:`.person` (who a
person is), :mod:`.registry` (the erasure record, audit entries), :mod:`.findings` (what a scan
reports), and the three operations :mod:`.export`, :mod:`.forget`, :mod:`.scan`.
:mod:`flowsync_pipelines.gdpr` is the public face the CLI, the asset check and the pipeline use.
"""
