-- The account life cycle: whether a user proved its address, and single-use link tokens
-- (verification, password reset, email change, the mfa_token of a login), stored only as
-- the SHA-256 of the token.

ALTER TABLE users
    ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

CREATE TABLE link_tokens (
    hash       text PRIMARY KEY,
    purpose    text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email', 'mfa_login')),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The address the link went to (verification: the one it proves; change: the new one).
    email      text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX link_tokens_user_id_idx ON link_tokens (user_id);
-- The retention job deletes by expiry.
CREATE INDEX link_tokens_expires_at_idx ON link_tokens (expires_at);
