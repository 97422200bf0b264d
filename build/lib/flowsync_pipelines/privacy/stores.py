"""The stores FlowSync keeps personal data in, each behind its own privacy module.

Order matters, and is the order ``forget`` and the scan visit them: landing first (``forget``
rewrites records there and the stores derived from landing follow the new ``landing_ref``), the
identity vault last (an interrupted erasure can be re-run and still find the person). An export
reads the raw zone last. A new store adds its module beside its code and one line here.
"""

from __future__ import annotations

from flowsync_pipelines.audit.privacy import AuditLogPrivacy
from flowsync_pipelines.delivery.outbox_privacy import OutboxPrivacy
from flowsync_pipelines.graph.neo4j_privacy import Neo4jPrivacy
from flowsync_pipelines.landing_privacy import LandingPrivacy
from flowsync_pipelines.metadata_privacy import IdentityVaultPrivacy, MetadataPrivacy
from flowsync_pipelines.privacy.interface import PrivacyStore
from flowsync_pipelines.warehouse_privacy import WarehousePrivacy

STORES: tuple[PrivacyStore, ...] = (
    LandingPrivacy(),
    WarehousePrivacy(),
    OutboxPrivacy(),
    MetadataPrivacy(),
    AuditLogPrivacy(),
    Neo4jPrivacy(),
    IdentityVaultPrivacy(),
)
