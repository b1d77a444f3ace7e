-- genims schema version: one row per numbered migration (sql/migrations/) the database has
-- taken, written by `genims schema apply` in the transaction that applies it. A new
-- database made by this genims records every migration at once: its DDL already is the
-- latest shape.
CREATE TABLE IF NOT EXISTS genims_schema_version (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

COMMENT ON TABLE genims_schema_version IS 'Numbered schema migrations this database has taken (genims schema apply); the highest is its schema version.';
