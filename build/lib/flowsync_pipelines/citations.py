"""Where each source's citations point: its web base URL, by source *name*.

Two sources of one type (github.com and GitHub Enterprise) are told apart by name everywhere
state lives (landing partitions, cursors, circuit breakers) and in what their events cite. A
source's ``web_url`` in ``flowsync.yaml`` is the web address its citation links are built on; it
defaults to the tool's public web address (:data:`PUBLIC_WEB_URLS`), else the source's
``base_url`` (self-hosted tools such as Jira or Jenkins serve API and web on one host).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from flowsync_pipelines.sources.registry import SOURCES

if TYPE_CHECKING:
    from flowsync_pipelines.settings import FlowSyncConfig, SourceConfig

# The public web address of each hosted tool (its source spec's ``web_base_url``): links a
# normaliser builds or finds there are rebased onto the source's own web URL when it names another.
PUBLIC_WEB_URLS: Mapping[str, str] = {
    t: s.web_base_url for t, s in SOURCES.items() if s.web_base_url is not None
}


@dataclass(frozen=True)
class SourceRoute:
    """What normalising a source's records needs to know about it beyond its name."""

    type: str
    web_url: str | None  # the web base its citations are built on; None: leave links alone


def web_url(source: SourceConfig) -> str | None:
    """The web base URL ``source``'s citations are built on (see the module docstring)."""
    chosen = source.web_url or PUBLIC_WEB_URLS.get(source.type) or source.base_url or None
    return chosen.rstrip("/") if chosen else None


def routes(config: FlowSyncConfig) -> dict[str, SourceRoute]:
    """Each configured source's type and web base URL, by source name."""
    return {s.name: SourceRoute(type=s.type, web_url=web_url(s)) for s in config.sources}


def moves_links(route: SourceRoute) -> bool:
    """Whether :func:`rebase` changes anything for ``route`` (most sources: no)."""
    public = PUBLIC_WEB_URLS.get(route.type)
    return public is not None and route.web_url is not None and route.web_url != public


def rebase(urls: pl.Expr, route: SourceRoute) -> pl.Expr:
    """``urls`` with the tool's public web address replaced by the source's web base URL.

    A no-op for a source on the public tool (or with no web URL): links read from the tool's own
    payloads (``html_url``) already name the right host, and only links built on the public
    default, or a tool that reports the public host behind a proxy, move.
    """
    if not moves_links(route):
        return urls
    public = PUBLIC_WEB_URLS[route.type]
    on_public = urls.str.starts_with(public + "/") | (urls == public)
    return (
        pl.when(on_public).then(pl.lit(route.web_url) + urls.str.slice(len(public))).otherwise(urls)
    )
