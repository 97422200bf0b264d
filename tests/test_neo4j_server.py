"""A real Neo4j Community server (Maven Central jars) takes a constraint and an idempotent MERGE."""

from __future__ import annotations

from collections.abc import Iterator

import neo4j
import pytest

ROWS = [{"id": f"person-{i:04d}", "name": f"Person {i}"} for i in range(1_000)]
MERGE = """
UNWIND $rows AS r
MERGE (p:Person {id: r.id})
SET p.name = r.name
"""


@pytest.fixture(scope="module")
def driver(neo4j_uri: str) -> Iterator[neo4j.Driver]:
    with neo4j.GraphDatabase.driver(neo4j_uri) as driver:
        driver.execute_query("MATCH (p:Person) DETACH DELETE p")
        yield driver


def _person_count(driver: neo4j.Driver) -> int:
    records, _, _ = driver.execute_query("MATCH (p:Person) RETURN count(p) AS n")
    return int(records[0]["n"])


def test_server_is_community_5_26(driver: neo4j.Driver) -> None:
    records, _, _ = driver.execute_query("CALL dbms.components() YIELD versions, edition")
    assert records[0]["edition"] == "community"
    assert records[0]["versions"][0].startswith("5.26.")


def test_constraint_and_idempotent_merge(driver: neo4j.Driver) -> None:
    constraint = "CREATE CONSTRAINT person_id IF NOT EXISTS FOR (p:Person) REQUIRE p.id IS UNIQUE"
    driver.execute_query(constraint)
    driver.execute_query(constraint)  # IF NOT EXISTS: a second run is a no-op

    summary = driver.execute_query(MERGE, rows=ROWS).summary
    assert summary.counters.nodes_created == 1_000
    assert _person_count(driver) == 1_000

    summary = driver.execute_query(MERGE, rows=ROWS).summary
    assert summary.counters.nodes_created == 0
    assert _person_count(driver) == 1_000

    records, _, _ = driver.execute_query(
        "SHOW CONSTRAINTS YIELD name, type WHERE name = 'person_id' RETURN type"
    )
    assert [r["type"] for r in records] == ["UNIQUENESS"]
