// The context graph's schema in Neo4j: every node is a :Node with a unique id (plus a label for
// its kind), every relationship type has a unique id, and nodes are found by partition day.
// Idempotent (IF NOT EXISTS): run before every write.
CREATE CONSTRAINT node_id IF NOT EXISTS FOR (n:Node) REQUIRE n.id IS UNIQUE;
CREATE INDEX node_partition IF NOT EXISTS FOR (n:Node) ON (n.partition);
CREATE INDEX node_kind IF NOT EXISTS FOR (n:Node) ON (n.kind);
CREATE CONSTRAINT authored_id IF NOT EXISTS FOR ()-[e:AUTHORED]-() REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT reviewed_id IF NOT EXISTS FOR ()-[e:REVIEWED]-() REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT in_repo_id IF NOT EXISTS FOR ()-[e:IN_REPO]-() REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT owns_id IF NOT EXISTS FOR ()-[e:OWNS]-() REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT member_of_id IF NOT EXISTS FOR ()-[e:MEMBER_OF]-() REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT references_id IF NOT EXISTS FOR ()-[e:REFERENCES]-() REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT part_of_id IF NOT EXISTS FOR ()-[e:PART_OF]-() REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT in_sprint_id IF NOT EXISTS FOR ()-[e:IN_SPRINT]-() REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT built_id IF NOT EXISTS FOR ()-[e:BUILT]-() REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT deployed_id IF NOT EXISTS FOR ()-[e:DEPLOYED]-() REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT followed_by_incident_id IF NOT EXISTS
    FOR ()-[e:FOLLOWED_BY_INCIDENT]-() REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT about_id IF NOT EXISTS FOR ()-[e:ABOUT]-() REQUIRE e.id IS UNIQUE
