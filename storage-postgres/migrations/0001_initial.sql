-- Herald's schema, version 1.
--
-- Ids, tenants and event types are `COLLATE "C"`: lists are ordered by their
-- bytes, as every other backend orders them, whatever the database's locale.
-- Times are milliseconds since the Unix epoch (`bigint`, `_ms`), exactly the
-- engine's `Timestamp`. Enumerations are their API spelling (`text`).
--
-- Version 2 (0002_cluster.sql) adds what several nodes on one database need.

CREATE TABLE endpoints (
    id                      text COLLATE "C" PRIMARY KEY,
    tenant                  text COLLATE "C" NOT NULL,
    url                     text NOT NULL,
    description             text,
    event_types             text[] NOT NULL,
    channels                text[] NOT NULL,
    active                  boolean NOT NULL,
    disabled_reason         text,
    profile                 text NOT NULL,
    -- Sealed (herald::sealing) under the keyring given at connect, bound to the
    -- endpoint and field: the database holds no secret or header value in the clear.
    secret                  bytea NOT NULL,
    previous_secret         bytea,
    previous_valid_until_ms bigint,
    header_names            text[] NOT NULL,
    header_values           bytea[] NOT NULL,
    ordering                text NOT NULL,
    max_in_flight           bigint,
    rate_limit              bigint,
    timeout_ms              bigint,
    retry_schedule_secs     bigint[],
    created_at_ms           bigint NOT NULL,
    updated_at_ms           bigint NOT NULL,
    enabled_at_ms           bigint,
    -- The compare-and-set of `replace_endpoint`.
    version                 bigint NOT NULL
);
-- `list_endpoints` (ids sort by creation) and `count_endpoints`.
CREATE INDEX endpoints_by_tenant ON endpoints (tenant, id);

CREATE TABLE endpoint_health (
    endpoint_id          text COLLATE "C" PRIMARY KEY,
    consecutive_failures bigint NOT NULL,
    failing_since_ms     bigint,
    succeeded            bigint NOT NULL,
    failed_attempts      bigint NOT NULL,
    last_success_at_ms   bigint,
    last_failure_at_ms   bigint,
    last_status          integer,
    last_error           text
);

CREATE TABLE events (
    tenant        text COLLATE "C" NOT NULL,
    id            text COLLATE "C" NOT NULL,
    event_type    text COLLATE "C" NOT NULL,
    channels      text[] NOT NULL,
    created_at_ms bigint NOT NULL,
    -- Compact JSON text, byte for byte as published (not jsonb, which would
    -- reorder keys and respell numbers).
    data          text NOT NULL,
    deliveries    bigint NOT NULL,
    -- The idempotency key: one event of an id per tenant.
    PRIMARY KEY (tenant, id)
);
-- `list_events`: newest first, time bounds as index bounds.
CREATE INDEX events_by_time ON events (tenant, created_at_ms, id);
-- `purge_before` across tenants.
CREATE INDEX events_by_age ON events (created_at_ms);

CREATE TABLE deliveries (
    id                 text COLLATE "C" PRIMARY KEY,
    tenant             text COLLATE "C" NOT NULL,
    event_id           text COLLATE "C" NOT NULL,
    endpoint_id        text COLLATE "C" NOT NULL,
    event_type         text NOT NULL,
    status             text NOT NULL,
    attempts           bigint NOT NULL,
    budget_start       bigint NOT NULL,
    next_attempt_at_ms bigint,
    -- `next_attempt_at_ms`, or 0 when there is none: the due order's key.
    due_ms             bigint NOT NULL,
    last_status        integer,
    last_error         text,
    dead_reason        text,
    created_at_ms      bigint NOT NULL,
    updated_at_ms      bigint NOT NULL
);
-- `event_deliveries`, and the purge's "has the event pending work".
CREATE INDEX deliveries_of_event ON deliveries (tenant, event_id, id);
-- An endpoint's pending work in publish order and in due order; its dead letters.
CREATE INDEX deliveries_pending ON deliveries (endpoint_id, id) WHERE status = 'pending';
CREATE INDEX deliveries_pending_due ON deliveries (endpoint_id, due_ms, id) WHERE status = 'pending';
CREATE INDEX deliveries_dead ON deliveries (endpoint_id, id) WHERE status = 'dead';

CREATE TABLE attempts (
    id            text COLLATE "C" PRIMARY KEY,
    tenant        text COLLATE "C" NOT NULL,
    endpoint_id   text COLLATE "C" NOT NULL,
    delivery_id   text COLLATE "C" NOT NULL,
    event_id      text COLLATE "C" NOT NULL,
    event_type    text NOT NULL,
    attempt       bigint NOT NULL,
    started_at_ms bigint NOT NULL,
    duration_ms   bigint NOT NULL,
    status        integer,
    error         text,
    response_body text NOT NULL
);
-- `list_attempts`: an endpoint's, newest first.
CREATE INDEX attempts_by_endpoint ON attempts (endpoint_id, started_at_ms, id);
-- `purge_before`.
CREATE INDEX attempts_by_age ON attempts (started_at_ms);

CREATE TABLE api_keys (
    id            text COLLATE "C" PRIMARY KEY,
    tenant        text COLLATE "C" NOT NULL,
    scope         text NOT NULL,
    description   text,
    -- SHA-256 of the token (lowercase hex), never the token.
    token_hash    text NOT NULL UNIQUE,
    created_at_ms bigint NOT NULL,
    last_used_at_ms bigint
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant, id);

CREATE TABLE tenant_settings (
    tenant                text COLLATE "C" PRIMARY KEY,
    default_profile       text,
    max_endpoints         bigint,
    publish_rate          bigint,
    notification_url      text,
    notification_types    text[] NOT NULL,
    strict_types          boolean NOT NULL,
    notification_endpoint text,
    updated_at_ms         bigint NOT NULL
);

CREATE TABLE event_types (
    tenant        text COLLATE "C" NOT NULL,
    event_type    text COLLATE "C" NOT NULL,
    description   text,
    example       text,
    schema        text,
    updated_at_ms bigint NOT NULL,
    PRIMARY KEY (tenant, event_type)
);

-- For every key the database holds values sealed under, a small value sealed
-- under it: the connect opens them all, so a wrong or missing key is refused at
-- start rather than one endpoint read at a time.
CREATE TABLE sealing_checks (
    key_id text PRIMARY KEY,
    sealed bytea NOT NULL
);

-- One row of what no other table keeps.
CREATE TABLE storage_meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- The largest delivery id a purge removed: `last_delivery_id` is the larger
    -- of it and the largest id still stored.
    purged_delivery_high text COLLATE "C"
);
INSERT INTO storage_meta (singleton) VALUES (true);
