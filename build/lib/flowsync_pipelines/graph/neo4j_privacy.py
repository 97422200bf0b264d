"""Neo4j's privacy (when ``NEO4J_URI`` is set): every string property of the mirrored graph.

``forget`` detach-deletes person nodes keyed by an erased pseudonym, removes other properties
equal to one, and scrubs identifiers inside strings. Cypher in ``sql/neo4j/privacy_*.cypher``;
``neo4j`` is imported only when a graph is configured.
"""

from __future__ import annotations

from typing import Any

from flowsync_pipelines.privacy.findings import OUTSIDE
from flowsync_pipelines.privacy.identifiers import IdentifierSet, scrub_text
from flowsync_pipelines.privacy.interface import Erasure, Export, Exported, Scan, Stores


def _driver(stores: Stores) -> Any:
    import neo4j

    return neo4j.GraphDatabase.driver(stores.neo4j_uri, auth=stores.neo4j_auth)


def _cypher(name: str) -> str:
    from flowsync_pipelines.graph.neo4j_sync import one

    return one(f"privacy_{name}")


def _strings(driver: Any, identifiers: IdentifierSet) -> list[dict[str, Any]]:
    """String properties that may hold an identifier (all of them when some are digests)."""
    needles = sorted({p.lower() for p in identifiers.patterns()})
    records, _, _ = driver.execute_query(
        _cypher("string_properties"), {"everything": identifiers.has_digests, "needles": needles}
    )
    return [record.data() for record in records]


class Neo4jPrivacy:
    """Neo4j's side of :class:`~flowsync_pipelines.privacy.interface.PrivacyStore`."""

    raw_zone = False

    def scan(self, scan: Scan) -> None:
        if not scan.stores.neo4j_uri:
            return
        scan.scanned.append("neo4j")
        scan.say("scanning Neo4j …")
        with _driver(scan.stores) as driver:
            rows = _strings(driver, scan.identifiers)
        for row in rows:
            texts = [row["value"]] if isinstance(row["value"], str) else row["value"]
            location = f"{row['element']}:{'/'.join(row['labels'])}.{row['key']}"
            for text in texts:
                for match in scan.identifiers.find(text):
                    matched = text[match.start : match.end]
                    sample = f"elementId {row['element_id']}"
                    scan.found.add("neo4j", location, OUTSIDE, matched, match.kind, sample)

    def forget(self, erasure: Erasure) -> dict[str, int]:
        if not erasure.stores.neo4j_uri:
            return {}
        erasure.say("scrubbing Neo4j …")
        identifiers, pseudonyms = erasure.with_pseudonyms, erasure.pseudonyms
        changed = 0
        with _driver(erasure.stores) as driver:
            if pseudonyms:
                records, _, _ = driver.execute_query(
                    _cypher("delete_person_nodes"), {"pseudonyms": list(pseudonyms)}
                )
                changed += records[0]["deleted"] if records else 0
            for row in _strings(driver, identifiers):
                value = row["value"]
                if isinstance(value, str):
                    new: Any = None if value in pseudonyms else scrub_text(value, identifiers)
                else:
                    new = [scrub_text(v, identifiers) for v in value if v not in pseudonyms]
                if new == value:
                    continue
                query = _cypher("set_node" if row["element"] == "node" else "set_relationship")
                driver.execute_query(
                    query, {"element_id": row["element_id"], "properties": {row["key"]: new}}
                )
                changed += 1
        return {"neo4j_properties": changed}

    def export(self, export: Export) -> Exported:
        # The graph mirrors the warehouse's graph tables, keyed by the pseudonyms the export
        # lists: nothing the export does not already hold.
        return Exported()
