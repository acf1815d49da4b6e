-- The assistant (#18): the permission to use it, granted to the built-in roles that every
-- shopper and moderator holds; conversations and their messages, owned by a user and
-- deleted with the account; and what each user spent per day (UTC), which the daily token
-- budget is checked against.

INSERT INTO permissions (name, description) VALUES
    ('ai:use', 'Chat with the shopping assistant and keep conversations with it');

INSERT INTO role_permissions (role_name, permission) VALUES
    ('user', 'ai:use'),
    ('moderator', 'ai:use'),
    ('admin', 'ai:use')
ON CONFLICT DO NOTHING;

CREATE TABLE conversations (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    title         text NULL,
    created_at    timestamptz NOT NULL,
    -- When its last message was stored: lists are most recently updated first.
    updated_at    timestamptz NOT NULL,
    message_count bigint NOT NULL DEFAULT 0
);

-- The owner's list, in its order.
CREATE INDEX conversations_user_updated_idx ON conversations (user_id, updated_at DESC, id DESC);

CREATE TABLE chat_messages (
    id                uuid PRIMARY KEY,
    conversation_id   uuid NOT NULL REFERENCES conversations ON DELETE CASCADE,
    role              text NOT NULL CHECK (role IN ('user', 'assistant')),
    -- Redacted before it was stored.
    content           text NOT NULL,
    status            text NOT NULL CHECK (status IN ('complete', 'interrupted', 'failed')),
    provider          text NULL,
    model             text NULL,
    -- All three or none: a reply's usage, from the provider or estimated.
    prompt_tokens     bigint NULL,
    completion_tokens bigint NULL,
    usage_estimated   boolean NULL,
    created_at        timestamptz NOT NULL,
    CHECK ((prompt_tokens IS NULL) = (completion_tokens IS NULL) AND (prompt_tokens IS NULL) = (usage_estimated IS NULL))
);

-- A conversation's messages, oldest first (and its newest, for the history).
CREATE INDEX chat_messages_conversation_idx ON chat_messages (conversation_id, created_at, id);

CREATE TABLE ai_usage_daily (
    user_id           uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    day               date NOT NULL,
    requests          bigint NOT NULL DEFAULT 0,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
