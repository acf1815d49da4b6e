-- Undoes "assistant": its tables and its permission (with the grants of it).
DROP TABLE IF EXISTS ai_usage_daily;
DROP TABLE IF EXISTS chat_messages;
DROP TABLE IF EXISTS conversations;
DELETE FROM permissions WHERE name = 'ai:use';
