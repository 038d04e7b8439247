-- Runs once, when the postgres container starts with an empty data volume.
CREATE TABLE IF NOT EXISTS visits (
  id     serial PRIMARY KEY,
  at     timestamptz NOT NULL DEFAULT now(),
  source text NOT NULL DEFAULT 'api'
);
INSERT INTO visits (source) VALUES ('init.sql');
