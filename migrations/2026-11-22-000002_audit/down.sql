-- Undoes the audit migration.
DROP TABLE IF EXISTS audit_log;
