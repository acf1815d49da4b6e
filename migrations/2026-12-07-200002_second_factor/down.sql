DROP TABLE recovery_codes;
ALTER TABLE users DROP COLUMN mfa_enabled, DROP COLUMN totp_secret, DROP COLUMN totp_last_step;
