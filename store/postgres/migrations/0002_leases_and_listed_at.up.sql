-- +goose Up
-- Exclusive accounts, newer-wins content, run kinds, retired dead letters,
-- handover state, and a schema version any migration tool keeps.

-- Fail rather than queue behind a long transaction, and every query behind
-- this one: run the migration again when the database is quieter.
SET LOCAL lock_timeout = '10s';

-- When the platform listed each row's content: a write never replaces
-- content listed later. Rows written before this migration read as listed
-- at the start of the year 1 (Go's zero time), older than any listing.
-- A constant default adds the column without rewriting the table.
ALTER TABLE campaigns ADD COLUMN listed_at timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00+00';

-- An unchanged campaign is recognised by comparing its columns, which also
-- repairs a row edited by hand; the stored hash could not.
ALTER TABLE campaigns DROP COLUMN content_hash;

-- A sync run or a retry pass; only sync runs are resumed. The run a fresh
-- one replaced is interrupted, and no longer the newest sync run: nothing
-- needs to remember it was replaced.
ALTER TABLE runs ADD COLUMN kind text NOT NULL DEFAULT 'sync';
ALTER TABLE runs DROP COLUMN replaced;
-- An account's newest run of a kind, and its last completed sync run.
CREATE INDEX runs_account_kind_newest ON runs (account_id, kind, seq DESC);

-- A dead letter given up on is kept, with why, and no longer retried.
ALTER TABLE dead_letters
    ADD COLUMN retired_at timestamptz NULL,
    ADD COLUMN retired_reason text NOT NULL DEFAULT '';

-- One row per account: the key of its advisory lock, the generation every
-- Acquire bumps (a holder whose connection died takes the account back
-- only if it is unchanged), and the handover state.
CREATE TABLE accounts (
    account_id     text COLLATE "C" PRIMARY KEY,
    -- The advisory lock of an account is (the schema's oid, lock_key):
    -- unique in the database, so two accounts never share a lock.
    lock_key       integer GENERATED ALWAYS AS IDENTITY UNIQUE,
    generation     bigint NOT NULL DEFAULT 0,
    acquired_at    timestamptz NULL,
    state          bytea NULL,
    state_saved_at timestamptz NULL
);

-- The schema's version, whoever applied the migrations (adsync's Migrate,
-- goose, golang-migrate, Atlas): the store checks it before its first use.
CREATE TABLE schema_version (version integer NOT NULL);
INSERT INTO schema_version (version) VALUES (2);
