-- The second factor: a TOTP secret (pending until confirmed), the last time step whose
-- code was accepted (each code works once), and single-use recovery codes (SHA-256).

ALTER TABLE users
    ADD COLUMN mfa_enabled boolean NOT NULL DEFAULT false,
    ADD COLUMN totp_secret text,
    ADD COLUMN totp_last_step bigint;

CREATE TABLE recovery_codes (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash    text NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (user_id, hash)
);
