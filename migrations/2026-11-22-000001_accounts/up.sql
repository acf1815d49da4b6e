-- Accounts: roles and their grants, users, sessions (one login on one device) and the
-- refresh tokens of each session's family.

CREATE TABLE roles (
    name        text PRIMARY KEY,
    description text NOT NULL DEFAULT '',
    builtin     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The fixed catalogue the code checks (storefront_domain::Permission).
CREATE TABLE permissions (
    name        text PRIMARY KEY,
    description text NOT NULL
);

CREATE TABLE role_permissions (
    role_name  text REFERENCES roles (name) ON DELETE CASCADE,
    permission text REFERENCES permissions (name) ON DELETE CASCADE,
    PRIMARY KEY (role_name, permission)
);

INSERT INTO permissions (name, description) VALUES
    ('products:create', 'Create products (and manage one''s own)'),
    ('products:update_any', 'Update any user''s products'),
    ('products:delete_any', 'Delete any user''s products'),
    ('categories:manage', 'Create, rename and delete categories'),
    ('reviews:moderate', 'Delete any review'),
    ('orders:read_all', 'Read every user''s orders'),
    ('orders:manage', 'Change the status of and cancel any order'),
    ('users:read', 'List and read user accounts'),
    ('users:manage', 'Change, deactivate and delete user accounts'),
    ('roles:manage', 'Manage roles, their grants and read the audit log'),
    ('analytics:read', 'Read business statistics and event dead letters');

INSERT INTO roles (name, description, builtin) VALUES
    ('user', 'Every new account', true),
    ('moderator', 'Moderates reviews; reads users, orders and statistics', true),
    ('admin', 'Holds every permission, always', true);

-- Default grants (RoleName::default_grants); admin's are implied by the code anyway, but
-- stored too so that listings show them.
INSERT INTO role_permissions (role_name, permission) VALUES
    ('user', 'products:create'),
    ('moderator', 'products:create'),
    ('moderator', 'reviews:moderate'),
    ('moderator', 'users:read'),
    ('moderator', 'orders:read_all'),
    ('moderator', 'analytics:read');

INSERT INTO role_permissions (role_name, permission)
SELECT 'admin', name FROM permissions;

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL REFERENCES roles (name),
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- Unique regardless of case, even if a writer forgets to normalise.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_role_idx ON users (role);
CREATE INDEX users_created_at_idx ON users (created_at);

CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    -- The newest refresh token's expiry: the session ends with its family.
    expires_at   timestamptz NOT NULL,
    user_agent   text NULL,
    ip           text NULL,
    revoked_at   timestamptz NULL
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash text PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz NULL
);

CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
