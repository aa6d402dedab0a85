-- Herald's schema, version 2: several nodes on one database.
--
-- Each delivery's position (`seq`) is the id of the transaction that stored it
-- (`pg_current_xact_id()`; a publish stores at most one delivery per endpoint).
-- An endpoint's owner reads new work by position, only below the oldest
-- transaction still running (`pg_snapshot_xmin`): every transaction below it has
-- ended, so no delivery with a smaller position can appear after the read, and no
-- publish waits on a lock for its position. Deliveries stored before this version
-- have position 0; their owner finds them by its first read of the endpoint's
-- pending work, as before.
ALTER TABLE deliveries ADD COLUMN seq bigint NOT NULL DEFAULT 0;
CREATE INDEX deliveries_pending_seq ON deliveries (endpoint_id, seq) WHERE status = 'pending';

-- The nodes, and when each last said it was alive (the database's clock).
CREATE TABLE cluster_nodes (
    node_id      text PRIMARY KEY,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

-- How many partitions endpoints are spread over: fixed by the first node that
-- starts on the database.
CREATE TABLE cluster_settings (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    partitions integer NOT NULL CHECK (partitions > 0)
);

-- Who owns each partition, under which epoch, until when. A claim raises the
-- epoch; every write an owner makes checks owner and epoch in its transaction.
CREATE TABLE partition_leases (
    partition  integer PRIMARY KEY,
    owner      text,
    epoch      bigint NOT NULL DEFAULT 0,
    expires_at timestamptz
);

-- Every change to an endpoint (create, replace, delete), in commit order: the
-- writing transaction takes the single row of `endpoint_change_head` (locked until
-- it commits), so positions follow commits, and a node that reads the head before
-- routing a publish applies every change committed before it. Old rows are
-- pruned; a node further behind reads every endpoint again.
CREATE TABLE endpoint_change_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last     bigint NOT NULL
);
INSERT INTO endpoint_change_head (last) VALUES (0);

CREATE TABLE endpoint_changes (
    seq         bigint PRIMARY KEY,
    tenant      text COLLATE "C" NOT NULL,
    endpoint_id text COLLATE "C" NOT NULL
);
