"""Dagster assets: thin wiring from resources to the pure core, returning metadata."""
