-- pgbench: one single-row INSERT ... RETURNING per transaction (autocommit: one commit each).
\set aid random(1, 100000 * :scale)
INSERT INTO bench_inserts (aid, note) VALUES (:aid, 'bench') RETURNING id;
