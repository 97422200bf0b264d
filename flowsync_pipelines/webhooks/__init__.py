"""The webhook gateway: tools push deliveries, FlowSync lands them like polled records.

The path of one delivery, and the module that owns each step:

1. :mod:`~flowsync_pipelines.webhooks.app` — ``POST /webhooks/<source name>`` (or the type's
   path while one source of the type receives webhooks) checks size, content type and the
   signature with that source's secret (:mod:`~flowsync_pipelines.webhooks.providers`), then hands
   the delivery to a group-commit writer (:mod:`~flowsync_pipelines.webhooks.writer`) and answers
   2xx only after the transaction holding it has committed.
2. :mod:`~flowsync_pipelines.webhooks.queue` — the durable queue in the metadata store (SQLite
   WAL or PostgreSQL, one SQLAlchemy Core code path); a unique ``(source, delivery_id)`` makes a
   redelivery a no-op; ``source`` is the source's name, ``source_type`` its type.
3. :mod:`~flowsync_pipelines.webhooks.drain` — pending deliveries become landing records with
   the same provenance columns as polled data (``request = delivery:<id>``), each dated by the
   newest event it holds: the day a delivery is *about*; under the source's name, read by its
   type's provider and normalisers.
4. :mod:`~flowsync_pipelines.webhooks.sensor` and :mod:`~flowsync_pipelines.webhooks.assets` —
   a sensor reads the queue by cursor and requests a ``webhook_landing``-and-downstream run over
   each stretch of days the new deliveries are about (re-running days already materialised);
   ``webhook_landing`` for a day lands the deliveries about it.

Nothing here imports Dagster except ``sensor`` and ``assets``, so the gateway process starts fast.
"""
