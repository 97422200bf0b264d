"""Sources: one package per tool type, each registered once in :mod:`.registry`.

``sources/<tool>/__init__.py`` declares the tool's :class:`~.spec.SourceSpec` — typed scopes,
Dagster resource, normalisers, webhook provider, team-member handle field, account keys, record
identity, web address — from the modules that implement them (connectors stay in ``resources/``,
normalisers in ``normalise/``). Nothing is imported here, so a source package stays cheap to import.
"""
