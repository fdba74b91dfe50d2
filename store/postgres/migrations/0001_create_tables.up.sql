-- +goose Up
-- adsync's tables. Ids are COLLATE "C": compared byte by byte, the order of
-- Go strings, and faster than a linguistic collation in every index lookup.

-- Fail rather than queue behind a long transaction, and every query behind
-- this one: run the migration again when the database is quieter.
SET LOCAL lock_timeout = '10s';

CREATE TABLE campaigns (
    account_id   text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    name         text NOT NULL,
    status       text NOT NULL,
    budget       numeric NOT NULL,
    impressions  bigint NOT NULL,
    clicks       bigint NOT NULL,
    conversions  bigint NOT NULL,
    created_at   timestamptz NULL,
    synced_at    timestamptz NULL,
    updated_at   timestamptz NOT NULL,
    -- SHA-256 of the content, computed by adsync: an unchanged campaign is
    -- recognised without comparing every column, and is not rewritten.
    content_hash bytea NOT NULL,
    -- Both ids are at most store.MaxIDBytes (1024): an index entry stays
    -- under PostgreSQL's limit of about 2.7 kB.
    PRIMARY KEY (account_id, id)
) WITH (fillfactor = 70);
-- Counts change on every listing, so most upserts update most rows.
-- fillfactor 70 leaves room on each page for the new versions: many
-- updates are then HOT (no new index entry), about 20% faster in
-- BenchmarkUpsertChanged than at 85 and 40% than at 100, for 30% more pages.

CREATE TABLE runs (
    id          text COLLATE "C" PRIMARY KEY,
    -- seq orders an account's runs: the newest run is the one with the
    -- highest seq, even when two started in the same microsecond.
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    account_id  text COLLATE "C" NOT NULL,
    status      text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NULL,
    seen        bigint NOT NULL DEFAULT 0,
    synced      bigint NOT NULL DEFAULT 0,
    skipped     bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT '',
    -- set when a fresh run replaced this unfinished one: it stays
    -- interrupted, and FinishRun refuses it.
    replaced    boolean NOT NULL DEFAULT false
);

-- An account's newest run.
CREATE INDEX runs_account_newest ON runs (account_id, seq DESC);

-- A dead letter's campaign id may be longer than a campaign's: the record
-- of a campaign refused for its over-long id is kept too. So the key is
-- the SHA-256 of (account_id, campaign_id), computed by adsync, and pages
-- in campaign_id order come from an index on the id's first 256
-- characters (at most 1 kB), the rest ordered by an incremental sort.
CREATE TABLE dead_letters (
    key             bytea PRIMARY KEY,
    account_id      text COLLATE "C" NOT NULL,
    campaign_id     text COLLATE "C" NOT NULL,
    run_id          text NOT NULL,
    -- the record as the platform listed it, byte for byte.
    data            bytea NOT NULL,
    error           text NOT NULL,
    attempts        integer NOT NULL,
    first_failed_at timestamptz NOT NULL,
    last_failed_at  timestamptz NOT NULL
);

CREATE INDEX dead_letters_account_order ON dead_letters (account_id, substring(campaign_id FOR 256));
