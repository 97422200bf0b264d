"""Typed Dagster resources: the edges between FlowSync and the outside world."""
