"""The metadata store's schema, owned in one place: every table in one SQLAlchemy ``MetaData``
(:mod:`~flowsync_pipelines.metastore.tables`), changed only by the Alembic migrations shipped
in the package (``metastore/migrations``) and applied to head whenever a store is opened
(:func:`~flowsync_pipelines.metastore.migrate.upgrade`)."""

from flowsync_pipelines.metastore.migrate import current_revision, head_revision, upgrade
from flowsync_pipelines.metastore.tables import METADATA

__all__ = ["METADATA", "current_revision", "head_revision", "upgrade"]
