-- 0001_schema.sql: the whole Evently schema (PostgreSQL 15, schema evently).
--
-- Applied once by the migrate script, as the app role that owns the
-- database, inside the script's transaction together with the insert into
-- evently.schema_migrations. This file therefore has no BEGIN/COMMIT of its
-- own and nothing that cannot run in a transaction block (no CONCURRENTLY).
--
-- Conventions used by every table (see docs/architecture.md):
--   * id uuid PRIMARY KEY DEFAULT gen_random_uuid() (core since PG 13);
--   * created_at / updated_at timestamptz NOT NULL DEFAULT now(); there is
--     no updated_at trigger: API functions set updated_at = now() themselves;
--   * money is numeric(12,2), currency char(3) (ISO 4217, default INR);
--   * enumerations are text + CHECK (UPPER_CASE values, except events.status
--     which keeps the contract's lower-case values);
--   * optional free text (description, reason, ...) is NULL when absent;
--   * CHECK constraints mirror the limits of shared/api-contract.md so that a
--     bug in a caller cannot store what the API would refuse;
--   * every list/filter/sort of the contract has an index behind it.

-- Harmless when the superuser has already created them (the normal case);
-- both are trusted extensions, so the database owner may create them too.
CREATE EXTENSION IF NOT EXISTS pgcrypto;    -- gen_random_bytes()
CREATE EXTENSION IF NOT EXISTS pg_trgm;     -- gin_trgm_ops for ILIKE search

CREATE SCHEMA IF NOT EXISTS evently;

-- gin_trgm_ops lives in the extensions' schema (normally public); make sure
-- it resolves even if the caller's search_path is narrower. LOCAL: reverts
-- at the end of the migration transaction.
SET LOCAL search_path = evently, public;


-- ---------------------------------------------------------------------------
-- The result row of every API function (see sql/functions/00_common.sql).
-- A type cannot be CREATE OR REPLACE'd, hence it lives here.
CREATE TYPE evently.api_result AS (
    status   int,       -- HTTP status, NULL = the op's default success status
    code     text,      -- NULL on success, UPPER_SNAKE error code on failure
    message  text,      -- NULL = the op's default message
    data     json,      -- success payload, or extra error fields
    etag     text       -- resource version for the ETag header, or NULL
);


-- ---------------------------------------------------------------------------
-- Users and authentication

CREATE TABLE evently.users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    first_name     text NOT NULL
                   CHECK (char_length(first_name) BETWEEN 2 AND 100),
    last_name      text NOT NULL
                   CHECK (char_length(last_name) BETWEEN 2 AND 100),
    email          text NOT NULL
                   CHECK (char_length(email) BETWEEN 3 AND 254
                          AND email = lower(email)
                          AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    password_hash  text NOT NULL CHECK (password_hash <> ''),
    role           text NOT NULL DEFAULT 'USER'
                   CHECK (role IN ('USER', 'ADMIN')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email)
);
-- analytics: user counts / sign-ups per period
CREATE INDEX users_created_at_idx ON evently.users (created_at);


-- Refresh tokens are stored only as sha256(token) in lower-case hex.
-- A family is the chain of rotations from one login; reuse of a revoked
-- token revokes the whole family.
CREATE TABLE evently.refresh_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL
                 REFERENCES evently.users (id) ON DELETE CASCADE,
    family_id    uuid NOT NULL,
    token_hash   text NOT NULL CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    replaced_by  uuid REFERENCES evently.refresh_tokens (id)
                 ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_user_idx ON evently.refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_idx ON evently.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_replaced_by_idx
    ON evently.refresh_tokens (replaced_by) WHERE replaced_by IS NOT NULL;
-- purge of expired tokens
CREATE INDEX refresh_tokens_expires_at_idx
    ON evently.refresh_tokens (expires_at);


-- ---------------------------------------------------------------------------
-- Tags

CREATE TABLE evently.tags (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL CHECK (char_length(name) BETWEEN 2 AND 100),
    -- derived from name by evently.slugify(): [a-z0-9] words joined by '-'
    slug         text NOT NULL
                 CHECK (char_length(slug) BETWEEN 1 AND 100
                        AND slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    description  text CHECK (char_length(description) <= 500),
    color        text NOT NULL DEFAULT '#6B7280'
                 CHECK (color ~ '^#[0-9A-Fa-f]{6}$'),
    is_active    boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tags_slug_key UNIQUE (slug)
);
-- unique case-insensitively (TAG_EXISTS)
CREATE UNIQUE INDEX tags_name_lower_key ON evently.tags (lower(name));
-- search=: name ILIKE '%term%'
CREATE INDEX tags_name_trgm_idx ON evently.tags USING gin (name gin_trgm_ops);
-- sort_by=name (and the active list, by name, filtered on is_active)
CREATE INDEX tags_name_idx ON evently.tags (name);
CREATE INDEX tags_active_name_idx ON evently.tags (is_active, name);
-- sort_by=created_at|updated_at
CREATE INDEX tags_created_at_idx ON evently.tags (created_at);
CREATE INDEX tags_updated_at_idx ON evently.tags (updated_at);


-- ---------------------------------------------------------------------------
-- Venues: templates, sections, seats

CREATE TABLE evently.venue_templates (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                   text NOT NULL
                           CHECK (char_length(name) BETWEEN 3 AND 255),
    description            text CHECK (char_length(description) <= 1000),
    default_rows           int NOT NULL CHECK (default_rows BETWEEN 1 AND 50),
    default_seats_per_row  int NOT NULL
                           CHECK (default_seats_per_row BETWEEN 1 AND 100),
    layout_type            text NOT NULL
                           CHECK (layout_type IN ('THEATER', 'STADIUM',
                                                  'CONFERENCE', 'GENERAL')),
    version                int NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
-- unique case-insensitively (TEMPLATE_EXISTS)
CREATE UNIQUE INDEX venue_templates_name_lower_key
    ON evently.venue_templates (lower(name));
CREATE INDEX venue_templates_name_trgm_idx
    ON evently.venue_templates USING gin (name gin_trgm_ops);
CREATE INDEX venue_templates_name_idx ON evently.venue_templates (name);
CREATE INDEX venue_templates_layout_type_idx
    ON evently.venue_templates (layout_type, name);
CREATE INDEX venue_templates_created_at_idx
    ON evently.venue_templates (created_at);
CREATE INDEX venue_templates_updated_at_idx
    ON evently.venue_templates (updated_at);


-- Rows are either single letters A..Z or numbers 1..9999 (no leading zero,
-- so the generated labels equal what was stored); row_start <= row_end;
-- total_seats = rows x seats_per_row (the same arithmetic as
-- evently.section_row_count()). CASE guards the casts.
CREATE TABLE evently.venue_sections (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    template_id    uuid NOT NULL
                   REFERENCES evently.venue_templates (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    description    text CHECK (char_length(description) <= 500),
    row_start      text NOT NULL,
    row_end        text NOT NULL,
    seats_per_row  int NOT NULL CHECK (seats_per_row BETWEEN 1 AND 100),
    total_seats    int NOT NULL CHECK (total_seats > 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT venue_sections_rows_check CHECK (
        CASE
        WHEN row_start ~ '^[A-Z]$' AND row_end ~ '^[A-Z]$'
            THEN ascii(row_start) <= ascii(row_end)
        WHEN row_start ~ '^[1-9][0-9]{0,3}$'
             AND row_end ~ '^[1-9][0-9]{0,3}$'
            THEN row_start::int <= row_end::int
        ELSE false
        END),
    CONSTRAINT venue_sections_total_seats_rows_check CHECK (
        CASE
        WHEN row_start ~ '^[A-Z]$' AND row_end ~ '^[A-Z]$'
            THEN total_seats
                 = (ascii(row_end) - ascii(row_start) + 1) * seats_per_row
        WHEN row_start ~ '^[1-9][0-9]{0,3}$'
             AND row_end ~ '^[1-9][0-9]{0,3}$'
            THEN total_seats
                 = (row_end::int - row_start::int + 1) * seats_per_row
        ELSE false
        END)
);
-- unique per template, case-insensitively; also serves "sections of a
-- template" lookups and the ON DELETE CASCADE from templates
CREATE UNIQUE INDEX venue_sections_template_name_key
    ON evently.venue_sections (template_id, lower(name));
-- "sections by name"
CREATE INDEX venue_sections_template_name_idx
    ON evently.venue_sections (template_id, name);


-- A seat of a section. Its status is the template-level one (BLOCKED seats
-- are never bookable); HELD/BOOKED are per event and computed (holds in
-- Redis, bookings in booking_seats).
-- seat_number is "{row}{n}" for letter rows ("A12") and "{row}-{n}" for
-- number rows ("11-1"): plain concatenation would be ambiguous there
-- (row 11 seat 1 and row 1 seat 11 would both be "111").
CREATE TABLE evently.seats (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    section_id   uuid NOT NULL
                 REFERENCES evently.venue_sections (id) ON DELETE CASCADE,
    seat_number  text NOT NULL,            -- "A12", or "11-1"
    row_label    text NOT NULL
                 CHECK (row_label ~ '^([A-Z]|[1-9][0-9]{0,3})$'),
    row_index    int NOT NULL CHECK (row_index >= 1),   -- A=1.., or number
    position     int NOT NULL CHECK (position BETWEEN 1 AND 100),
    status       text NOT NULL DEFAULT 'AVAILABLE'
                 CHECK (status IN ('AVAILABLE', 'BLOCKED')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT seats_seat_number_check
        CHECK (seat_number = row_label
                             || CASE WHEN row_label ~ '^[0-9]' THEN '-'
                                     ELSE '' END
                             || position::text),
    CONSTRAINT seats_section_seat_number_key UNIQUE (section_id, seat_number)
);
-- layout order; unique: one seat per (row, position) of a section
CREATE UNIQUE INDEX seats_section_row_position_key
    ON evently.seats (section_id, row_index, position);


-- ---------------------------------------------------------------------------
-- Events

CREATE TABLE evently.events (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name               text NOT NULL
                       CHECK (char_length(name) BETWEEN 3 AND 255),
    description        text CHECK (char_length(description) <= 2000),
    venue              text NOT NULL
                       CHECK (char_length(venue) BETWEEN 3 AND 255),
    venue_template_id  uuid NOT NULL
                       REFERENCES evently.venue_templates (id)
                       ON DELETE RESTRICT,
    date_time          timestamptz NOT NULL,
    base_price         numeric(12,2) NOT NULL CHECK (base_price >= 0),
    currency           char(3) NOT NULL DEFAULT 'INR'
                       CHECK (currency ~ '^[A-Z]{3}$'),
    status             text NOT NULL DEFAULT 'published'
                       CHECK (status IN ('draft', 'published', 'cancelled',
                                         'completed')),
    image_url          text CHECK (char_length(image_url) BETWEEN 1 AND 2048),
    version            int NOT NULL DEFAULT 1 CHECK (version >= 1),
    cancelled_at       timestamptz,
    created_by         uuid REFERENCES evently.users (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- public list / upcoming: status = 'published' ORDER BY date_time
CREATE INDEX events_status_date_time_idx
    ON evently.events (status, date_time);
-- admin list (all statuses) by date_time, date_from/date_to ranges
CREATE INDEX events_date_time_idx ON evently.events (date_time);
-- venue= filter (ILIKE '%v%' via trigram, equality via lower())
CREATE INDEX events_venue_trgm_idx
    ON evently.events USING gin (venue gin_trgm_ops);
CREATE INDEX events_venue_lower_idx ON evently.events (lower(venue));
-- search=: name ILIKE '%s%' OR venue ILIKE ... OR description ILIKE ...
-- (one trigram index per column; the planner BitmapOr's them)
CREATE INDEX events_name_trgm_idx
    ON evently.events USING gin (name gin_trgm_ops);
CREATE INDEX events_description_trgm_idx
    ON evently.events USING gin (description gin_trgm_ops);
-- "template used by an event" (409 on template delete, FK RESTRICT check)
CREATE INDEX events_venue_template_idx
    ON evently.events (venue_template_id);
CREATE INDEX events_created_by_idx
    ON evently.events (created_by) WHERE created_by IS NOT NULL;


-- Per-event price multiplier of a section of the event's template (a
-- missing row means 1.0). The API checks the section belongs to the
-- event's template.
CREATE TABLE evently.event_section_pricing (
    event_id          uuid NOT NULL
                      REFERENCES evently.events (id) ON DELETE CASCADE,
    section_id        uuid NOT NULL
                      REFERENCES evently.venue_sections (id)
                      ON DELETE CASCADE,
    price_multiplier  numeric(6,2) NOT NULL DEFAULT 1.00
                      CHECK (price_multiplier BETWEEN 0.1 AND 10),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, section_id)
);
CREATE INDEX event_section_pricing_section_idx
    ON evently.event_section_pricing (section_id);


-- Deleting a tag that an event uses fails (RESTRICT): 409 TAG_IN_USE.
CREATE TABLE evently.event_tags (
    event_id    uuid NOT NULL
                REFERENCES evently.events (id) ON DELETE CASCADE,
    tag_id      uuid NOT NULL
                REFERENCES evently.tags (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, tag_id)
);
-- tags= filter (events having a tag), tag in use, tag analytics
CREATE INDEX event_tags_tag_idx ON evently.event_tags (tag_id, event_id);


-- ---------------------------------------------------------------------------
-- Bookings and payments

CREATE TABLE evently.bookings (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_ref      text NOT NULL
                     CHECK (booking_ref ~ '^EVT-[0-9]{8}-[A-Z0-9]{6}$'),
    user_id          uuid NOT NULL REFERENCES evently.users (id),
    event_id         uuid NOT NULL
                     REFERENCES evently.events (id) ON DELETE RESTRICT,
    -- the consumed hold: a retried confirm of the same hold finds this row
    hold_id          uuid,
    -- Idempotency-Key of the confirm, scoped to the user
    idempotency_key  text CHECK (char_length(idempotency_key)
                                 BETWEEN 1 AND 255),
    total_seats      int NOT NULL CHECK (total_seats > 0),
    total_price      numeric(12,2) NOT NULL CHECK (total_price >= 0),
    currency         char(3) NOT NULL DEFAULT 'INR'
                     CHECK (currency ~ '^[A-Z]{3}$'),
    status           text NOT NULL DEFAULT 'CONFIRMED'
                     CHECK (status IN ('CONFIRMED', 'CANCELLED')),
    version          int NOT NULL DEFAULT 1 CHECK (version >= 1),
    cancelled_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bookings_booking_ref_key UNIQUE (booking_ref),
    CONSTRAINT bookings_hold_id_key UNIQUE (hold_id),
    CONSTRAINT bookings_user_idempotency_key UNIQUE (user_id, idempotency_key),
    -- target of booking_seats' (booking_id, event_id) foreign key
    CONSTRAINT bookings_id_event_key UNIQUE (id, event_id),
    CONSTRAINT bookings_cancelled_at_check
        CHECK ((status = 'CANCELLED') = (cancelled_at IS NOT NULL))
);
-- GET /users/bookings, newest first
CREATE INDEX bookings_user_created_idx
    ON evently.bookings (user_id, created_at DESC);
-- GET /admin/events/{id}/bookings, admin list by event_id
CREATE INDEX bookings_event_created_idx
    ON evently.bookings (event_id, created_at DESC);
-- admin list by status; analytics series
CREATE INDEX bookings_status_created_idx
    ON evently.bookings (status, created_at DESC);
-- admin list without filter, newest first
CREATE INDEX bookings_created_idx ON evently.bookings (created_at DESC);


-- The seats of a booking, with a snapshot of what was sold. A cancelled
-- booking keeps its rows with active = false (history); only active rows
-- take part in the anti-overselling unique index.
CREATE TABLE evently.booking_seats (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id    uuid NOT NULL,
    event_id      uuid NOT NULL
                  REFERENCES evently.events (id) ON DELETE RESTRICT,
    seat_id       uuid NOT NULL
                  REFERENCES evently.seats (id) ON DELETE RESTRICT,
    section_id    uuid NOT NULL
                  REFERENCES evently.venue_sections (id) ON DELETE RESTRICT,
    seat_number   text NOT NULL,
    row_label     text NOT NULL,
    section_name  text NOT NULL,
    price         numeric(12,2) NOT NULL CHECK (price >= 0),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- a booking's seats belong to the booking's event
    CONSTRAINT booking_seats_booking_fkey FOREIGN KEY (booking_id, event_id)
        REFERENCES evently.bookings (id, event_id) ON DELETE CASCADE,
    -- one row per seat per booking (also the index by booking_id)
    CONSTRAINT booking_seats_booking_seat_key UNIQUE (booking_id, seat_id)
);
-- THE guard against overselling: a seat is in at most one live booking per
-- event. A concurrent second insert fails with unique_violation (23505).
CREATE UNIQUE INDEX booking_seats_event_seat_active_key
    ON evently.booking_seats (event_id, seat_id) WHERE active;
-- seat delete / section regeneration (RESTRICT checks), "seat has bookings"
CREATE INDEX booking_seats_seat_idx ON evently.booking_seats (seat_id);
-- per-event, per-section counts (availability, analytics); event FK check
CREATE INDEX booking_seats_event_section_idx
    ON evently.booking_seats (event_id, section_id);
CREATE INDEX booking_seats_section_idx ON evently.booking_seats (section_id);


CREATE TABLE evently.payments (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id      uuid NOT NULL
                    REFERENCES evently.bookings (id) ON DELETE CASCADE,
    amount          numeric(12,2) NOT NULL CHECK (amount >= 0),
    currency        char(3) NOT NULL DEFAULT 'INR'
                    CHECK (currency ~ '^[A-Z]{3}$'),
    status          text NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'COMPLETED', 'FAILED',
                                      'REFUNDED')),
    payment_method  text NOT NULL
                    CHECK (char_length(payment_method) BETWEEN 1 AND 50),
    transaction_id  text CHECK (char_length(transaction_id) BETWEEN 1 AND 255),
    processed_at    timestamptz,
    refunded_at     timestamptz,
    refund_amount   numeric(12,2)
                    CHECK (refund_amount >= 0 AND refund_amount <= amount),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_transaction_id_key UNIQUE (transaction_id),
    CONSTRAINT payments_refund_check
        CHECK (status <> 'REFUNDED'
               OR (refunded_at IS NOT NULL AND refund_amount IS NOT NULL))
);
CREATE INDEX payments_booking_idx ON evently.payments (booking_id);
-- revenue analytics by period (from/to, group_by)
CREATE INDEX payments_processed_at_idx
    ON evently.payments (processed_at) WHERE processed_at IS NOT NULL;
CREATE INDEX payments_refunded_at_idx
    ON evently.payments (refunded_at) WHERE refunded_at IS NOT NULL;


-- ---------------------------------------------------------------------------
-- Cancellation policies and cancellations

-- One policy per event; no policy = not cancellable. There is deliberately
-- no default for allow_cancellation (false must be storable, and the caller
-- must say it). cancellation_deadline NULL = no deadline before the event
-- itself; the API checks deadline <= the event's date_time.
CREATE TABLE evently.cancellation_policies (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id                uuid NOT NULL
                            REFERENCES evently.events (id) ON DELETE CASCADE,
    allow_cancellation      boolean NOT NULL,
    cancellation_deadline   timestamptz,
    fee_type                text NOT NULL DEFAULT 'NONE'
                            CHECK (fee_type IN ('NONE', 'FIXED',
                                                'PERCENTAGE')),
    fee_amount              numeric(12,2) NOT NULL DEFAULT 0
                            CHECK (fee_amount >= 0),
    refund_processing_days  int NOT NULL DEFAULT 5
                            CHECK (refund_processing_days BETWEEN 0 AND 30),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cancellation_policies_event_key UNIQUE (event_id),
    CONSTRAINT cancellation_policies_fee_check CHECK (
        CASE fee_type
        WHEN 'NONE'       THEN fee_amount = 0
        WHEN 'FIXED'      THEN fee_amount > 0
        WHEN 'PERCENTAGE' THEN fee_amount <= 100
        END)
);


-- One cancellation per booking (the single cancel path writes it in the
-- same transaction that marks the booking CANCELLED).
CREATE TABLE evently.cancellations (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id        uuid NOT NULL
                      REFERENCES evently.bookings (id) ON DELETE CASCADE,
    user_id           uuid NOT NULL REFERENCES evently.users (id),
    requested_at      timestamptz NOT NULL DEFAULT now(),
    processed_at      timestamptz,
    cancellation_fee  numeric(12,2) NOT NULL DEFAULT 0
                      CHECK (cancellation_fee >= 0),
    refund_amount     numeric(12,2) NOT NULL DEFAULT 0
                      CHECK (refund_amount >= 0),
    refund_due_by     timestamptz,
    reason            text CHECK (char_length(reason) <= 500),
    status            text NOT NULL DEFAULT 'PROCESSED'
                      CHECK (status IN ('PENDING', 'PROCESSED', 'REFUNDED',
                                        'REJECTED')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cancellations_booking_key UNIQUE (booking_id)
);
-- GET /users/cancellations (newest first)
CREATE INDEX cancellations_user_created_idx
    ON evently.cancellations (user_id, created_at DESC);
-- cancellation / refund analytics by period
CREATE INDEX cancellations_created_idx ON evently.cancellations (created_at);


-- ---------------------------------------------------------------------------
-- Waitlist

-- FIFO by seq; positions are computed live (count of earlier ACTIVE
-- entries), never stored. A NOTIFIED entry owns an offer: offer_hold_id is
-- the hold (in Redis) reserving offer_seat_ids for the user until
-- expires_at.
CREATE TABLE evently.waitlist_entries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id        uuid NOT NULL
                    REFERENCES evently.events (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL
                    REFERENCES evently.users (id) ON DELETE CASCADE,
    seq             bigserial NOT NULL,
    quantity        int NOT NULL CHECK (quantity BETWEEN 1 AND 10),
    status          text NOT NULL DEFAULT 'ACTIVE'
                    CHECK (status IN ('ACTIVE', 'NOTIFIED', 'CONVERTED',
                                      'EXPIRED', 'CANCELLED')),
    preferences     jsonb NOT NULL DEFAULT '{}'
                    CHECK (jsonb_typeof(preferences) = 'object'),
    offer_hold_id   uuid,
    offer_seat_ids  uuid[],
    joined_at       timestamptz NOT NULL DEFAULT now(),
    notified_at     timestamptz,
    expires_at      timestamptz,
    converted_at    timestamptz,
    left_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT waitlist_entries_seq_key UNIQUE (seq)
);
-- one live entry per (event, user); rejoining after leaving/expiry is fine
CREATE UNIQUE INDEX waitlist_entries_live_key
    ON evently.waitlist_entries (event_id, user_id)
    WHERE status IN ('ACTIVE', 'NOTIFIED');
-- FIFO head, live positions, admin list by position, stats
CREATE INDEX waitlist_entries_event_status_seq_idx
    ON evently.waitlist_entries (event_id, status, seq);
-- admin list of all statuses by position
CREATE INDEX waitlist_entries_event_seq_idx
    ON evently.waitlist_entries (event_id, seq);
CREATE INDEX waitlist_entries_user_idx ON evently.waitlist_entries (user_id);
-- the offer sweeper: NOTIFIED entries whose offer has expired
CREATE INDEX waitlist_entries_offer_expiry_idx
    ON evently.waitlist_entries (expires_at) WHERE status = 'NOTIFIED';
-- confirm with an offered hold -> the entry to convert
CREATE UNIQUE INDEX waitlist_entries_offer_hold_key
    ON evently.waitlist_entries (offer_hold_id)
    WHERE offer_hold_id IS NOT NULL;


-- ---------------------------------------------------------------------------
-- Outbox of domain events, relayed to Kafka topic <prefix><topic> by the
-- module (at-least-once). Written by evently.emit() only.

CREATE TABLE evently.outbox (
    id             bigserial PRIMARY KEY,
    message_id     uuid NOT NULL,             -- = payload's "id"
    topic          text NOT NULL
                   CHECK (topic IN ('bookings', 'waitlist', 'events',
                                    'notifications')),
    event_key      text,                      -- Kafka key: the event_id
    event_type     text NOT NULL CHECK (event_type <> ''),
    payload        json NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    claimed_until  timestamptz,               -- relay lease
    sent_at        timestamptz,
    attempts       int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error     text
);
-- the relay's queue: unsent rows in id order
CREATE INDEX outbox_unsent_idx ON evently.outbox (id) WHERE sent_at IS NULL;
-- purge of old sent rows
CREATE INDEX outbox_sent_at_idx
    ON evently.outbox (sent_at) WHERE sent_at IS NOT NULL;


-- ---------------------------------------------------------------------------
-- Idempotency-Key store (scoped to the caller). completed_at NULL = the
-- first request is still in flight. user_id is not a foreign key so that a
-- public route may use the nil UUID as its scope.

CREATE TABLE evently.idempotency_keys (
    user_id          uuid NOT NULL,
    idem_key         text NOT NULL CHECK (char_length(idem_key)
                                          BETWEEN 1 AND 255),
    request_hash     text NOT NULL,
    response_status  int CHECK (response_status BETWEEN 100 AND 599),
    response_body    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    PRIMARY KEY (user_id, idem_key)
);
-- expiry sweep
CREATE INDEX idempotency_keys_created_at_idx
    ON evently.idempotency_keys (created_at);
