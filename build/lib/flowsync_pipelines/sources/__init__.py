"""Sources: one package per tool type, each registered once in :mod:`.registry`.

``sources/<tool>/__init__.py`` declares the tool's :class:`~.spec.SourceSpec` — typed scopes,
Dagster resource, normalisers, webhook provider, team-member handle field, account keys, record
identity, web address — from the modules that implement them (connectors stay in ``resources/``,
normalisers in ``normalise/``). Nothing is imported here, so a source package stays cheap to import.

Adding a source ``<tool>``:

1. ``sources/<tool>/__init__.py``: its ``<Tool>Scopes(ScopeModel)`` and
   ``SPEC = register(SourceSpec(type="<tool>", ...))``; keep it light (pydantic and its own small
   modules): heavy pieces are ``"module:attribute"`` references, loaded on first use.
2. ``sources/<tool>/records.py`` (record id templates, one per landing kind; the connector names
   its records with them) and, if it sends webhooks, ``sources/<tool>/webhooks.py`` with its
   ``PROVIDER`` (authentication, event names, delivery id, scope, signer for the harness).
3. The connector (``resources/<tool>.py``, a ``ToolResource`` with ``from_source``) and the
   normalisers (``normalise/<tool>.py``: the polled kinds' functions and a ``WEBHOOKS`` map).
4. One import line in :mod:`.registry`. Settings, Definitions, the normaliser map, the webhook
   gateway, drain and harness, identity, privacy, graph inputs and role views then know it.
"""
