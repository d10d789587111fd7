-- Initial schema.
--
-- Times are UTC text in one fixed-width form, 2025-01-31T12:00:00.000000Z, so that text
-- comparison orders them correctly and the indexes below serve range queries.
-- Each statement ends at the end of a line; the migration runner splits on that.

CREATE TABLE storage_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE telegram_users (
    telegram_user_id INTEGER PRIMARY KEY,
    username TEXT,
    first_name TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);

-- One row per Telegram user who connected an Instagram account. The same Instagram user
-- may appear in several rows, each with its own token.
-- AUTOINCREMENT keeps ids of deleted accounts from being reused, because button callback
-- data in old Telegram messages can still point at them.
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    telegram_user_id INTEGER NOT NULL UNIQUE
        REFERENCES telegram_users (telegram_user_id) ON DELETE CASCADE,
    instagram_user_id TEXT NOT NULL,
    username TEXT NOT NULL,
    account_type TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'needs_reconnect', 'disconnected')),
    access_token_encrypted TEXT,
    token_issued_at TEXT,
    token_expires_at TEXT,
    connected_at TEXT NOT NULL,
    status_changed_at TEXT NOT NULL,
    last_refresh_attempt_at TEXT,
    last_refresh_error TEXT,
    refresh_failures INTEGER NOT NULL DEFAULT 0 CHECK (refresh_failures >= 0),
    next_refresh_at TEXT,
    expiry_warned_at TEXT,
    CHECK (status <> 'active' OR access_token_encrypted IS NOT NULL)
);

-- The refresh sweep: active accounts whose token expires inside a window, soonest first.
CREATE INDEX accounts_status_expiry ON accounts (status, token_expires_at);
CREATE INDEX accounts_instagram_user ON accounts (instagram_user_id);

CREATE TABLE oauth_states (
    state TEXT PRIMARY KEY,
    telegram_user_id INTEGER NOT NULL
        REFERENCES telegram_users (telegram_user_id) ON DELETE CASCADE,
    chat_id INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);

CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);
CREATE INDEX oauth_states_user ON oauth_states (telegram_user_id);

CREATE TABLE browsing_sessions (
    id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 16),
    telegram_user_id INTEGER NOT NULL
        REFERENCES telegram_users (telegram_user_id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    cursors TEXT NOT NULL,
    page INTEGER NOT NULL CHECK (page >= 0),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX browsing_sessions_updated ON browsing_sessions (updated_at);
CREATE INDEX browsing_sessions_account ON browsing_sessions (account_id);
CREATE INDEX browsing_sessions_user ON browsing_sessions (telegram_user_id);

-- Telegram file_id of each sent media item. The owner's Instagram user id lets a deletion
-- remove the rows of that user.
CREATE TABLE file_cache (
    media_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    file_id TEXT NOT NULL,
    instagram_user_id TEXT NOT NULL,
    cached_at TEXT NOT NULL,
    PRIMARY KEY (media_id, kind)
) WITHOUT ROWID;

CREATE INDEX file_cache_instagram_user ON file_cache (instagram_user_id);

CREATE TABLE subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    subscribed_by INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL,
    baseline_done INTEGER NOT NULL DEFAULT 0 CHECK (baseline_done IN (0, 1)),
    last_delivered_media_id TEXT,
    last_delivered_at TEXT,
    deactivated_reason TEXT,
    UNIQUE (chat_id, account_id)
);

-- The poller: active subscriptions grouped by account.
CREATE INDEX subscriptions_active_account ON subscriptions (active, account_id);
CREATE INDEX subscriptions_account ON subscriptions (account_id);
CREATE INDEX subscriptions_subscribed_by ON subscriptions (subscribed_by);

-- One row per post that reached a chat; the primary key makes delivery at most once.
CREATE TABLE deliveries (
    chat_id INTEGER NOT NULL,
    media_id TEXT NOT NULL,
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    delivered_at TEXT NOT NULL,
    PRIMARY KEY (chat_id, media_id)
) WITHOUT ROWID;

CREATE INDEX deliveries_subscription ON deliveries (subscription_id);

CREATE TABLE deletion_requests (
    confirmation_code TEXT PRIMARY KEY,
    instagram_user_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'completed')),
    requested_at TEXT NOT NULL,
    completed_at TEXT
);

CREATE INDEX deletion_requests_status ON deletion_requests (status, requested_at);

CREATE TABLE job_runs (
    job_name TEXT PRIMARY KEY,
    last_run_at TEXT NOT NULL
);
