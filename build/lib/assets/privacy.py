"""``pii_scan``: after digests are written, check that no personal identifier leaked.

Runs :func:`flowsync_pipelines.gdpr.pii_scan` outside the raw zone (landing is raw by design and
the slowest store to read; ``flowsync gdpr scan`` covers it): the warehouse, the outbox, the
metadata store and, when ``NEO4J_URI`` is set, Neo4j. It fails on any identifier outside the
vault — display names in delivered digests excepted — and on any trace of an erased person.
Non-blocking: a leak is a finding to fix, not a reason to hold back other teams' digests.
"""

from pathlib import Path

import dagster as dg

from flowsync_pipelines.gdpr import (
    Stores,
    pii_scan,
)
from resources.neo4j import Neo4jResource
from resources.stores import (
    LandingResource,
    MetadataResource,
    OrganisationResource,
    OutboxResource,
    WarehouseResource,
)


@dg.asset_check(
    asset="team_digests",
    name="pii_scan",
    blocking=False,
    description=(
        "No login, email or account id outside the identity vault and the raw zone, no display "
        "name outside delivered digests, and nothing of an erased person anywhere."
    ),
)
def pii_scan_check(
    landing: LandingResource,
    warehouse: WarehouseResource,
    metadata: MetadataResource,
    outbox: OutboxResource,
    organisation: OrganisationResource,
    neo4j: Neo4jResource,
) -> dg.AssetCheckResult:
    stores = Stores(
        landing=Path(landing.root),
        duckdb=Path(warehouse.path),
        outbox=outbox.path(),
        metadata_url=metadata.url,
        config_file=Path(organisation.config_path),
        neo4j_uri=neo4j.uri or None,
        neo4j_auth=(neo4j.user, neo4j.password) if neo4j.user else None,
    )
    report = pii_scan(stores, include_raw_zone=False)
    violations = report.violations
    table = "\n".join(
        f"| {f.store} | {f.location} | {f.zone} | {'yes' if f.erased else 'no'} | {f.matches} "
        f"| {', '.join(f.identifiers)} | {'; '.join(f.samples)} |"
        for f in sorted(report.findings, key=lambda f: (not f.violation, f.store, f.location))
    )
    return dg.AssetCheckResult(
        passed=not violations,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "violations": len(violations),
            "matches_outside_the_vault": report.total(violations_only=True),
            "stores_scanned": ", ".join(report.stores_scanned),
            "known_identifiers": report.known_identifiers,
            "erased_identifiers": report.erased_identifiers,
            "seconds": round(report.seconds, 2),
            "findings": dg.MetadataValue.md(
                "| store | location | zone | erased person | matches | e.g. (masked) | where |\n"
                "|---|---|---|---|---|---|---|\n" + table
                if table
                else "_nothing found_"
            ),
        },
    )
