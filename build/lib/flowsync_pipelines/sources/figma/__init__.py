"""Figma: REST connector (tagged file comments), normaliser, webhooks."""

from __future__ import annotations

from pydantic import Field

from flowsync_pipelines.sources.spec import AccountKeys, ScopeModel, SourceSpec, register


class FigmaScopes(ScopeModel):
    files: list[str] = Field(default_factory=list)  # file keys


SPEC = register(
    SourceSpec(
        type="figma",
        title="Figma",
        scopes=FigmaScopes,
        resource="resources.figma:FigmaResource",
        normalisers="flowsync_pipelines.normalise.figma",
        polled={"comments": "comments"},
        provider="flowsync_pipelines.sources.figma.webhooks:PROVIDER",
        member_handle="figma",
        # A Figma user is only {id, handle, img_url}, with the display name as ``handle``.
        account_keys=AccountKeys(names=frozenset({"handle"}), details=frozenset({"id", "img_url"})),
        web_base_url="https://www.figma.com",
        tombstones={"comments": ("design_comment", "figma:{scope}/comments/{id}")},
    )
)
