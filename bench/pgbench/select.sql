-- pgbench: one single-row primary-key SELECT per transaction (what `pgbench -S` runs).
\set aid random(1, 100000 * :scale)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
