//! The `Storage` methods on PostgreSQL: each one statement, or one transaction
//! committed before it returns.
//!
//! Lists fetch one row more than the page holds, so a page knows whether another
//! follows; their cursors are the other backends' (`herald::storage`). Writes of
//! many deliveries or attempts are one statement over column arrays (`rows`), in id
//! order, so two transactions touching the same rows mostly lock them in the same
//! order; a transaction PostgreSQL still aborts as a deadlock (or a serialization
//! failure) wrote nothing and is run again (`retry_transient`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use deadpool_postgres::{Object, PoolError};
use herald::error::StorageError;
use herald::ids::{DeliveryId, EndpointId, EventId, KeyId, TenantId};
use herald::model::{
    ApiKey, AttemptOutcome, DeadReason, Delivery, DeliveryStatus, Endpoint, EndpointHealth, Event,
    EventTypeEntry, TenantSettings,
};
use herald::storage::{
    self, CreateEndpoint, DeliveryCounts, EventFilter, InsertEvent, NewPending, Outcome, Page,
    PageRequest, PendingKey, PendingOrder, PurgeStats, ReplaceEndpoint, Storage, StorageResult,
};
use herald::time::Timestamp;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::rows::{self, ms, text_of};
use crate::PostgresStorage;

/// The first key of the advisory locks that serialize endpoint creation per tenant
/// (the second is the tenant's `hashtext`), apart from `migrate::MIGRATION_LOCK`.
const TENANT_LOCK_SPACE: i32 = 0x4845_5201;

/// Events (with their deliveries) or attempts one purge statement removes: a large
/// purge is many short transactions, never one that holds locks for long.
const PURGE_STEP: i64 = 1000;

/// A wrapper for a database error met while doing `context`.
fn db(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StorageError {
    move |e| StorageError::backend(context, e)
}

/// A malformed cursor: the caller's input.
fn bad_cursor(cursor: &str) -> StorageError {
    StorageError::BadCursor(cursor.to_owned())
}

/// `$from, $from+1, ... $to`.
fn placeholders(from: usize, to: usize) -> String {
    (from..=to)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `c = EXCLUDED.c, ...` for each of `columns` (a comma-separated list).
fn set_excluded(columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{c} = EXCLUDED.{c}", c = c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A page of at most `limit` items from `rows`, which holds up to one more than
/// that: when it does, the cursor continues after the last item kept.
fn page_of<T>(
    rows: Vec<Row>,
    limit: usize,
    read: impl Fn(&Row) -> StorageResult<T>,
    cursor_of: impl Fn(&T) -> String,
) -> StorageResult<Page<T>> {
    let more = rows.len() > limit;
    let items = rows
        .iter()
        .take(limit)
        .map(read)
        .collect::<StorageResult<Vec<T>>>()?;
    let next_cursor = if more {
        items.last().map(cursor_of)
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// One more than `limit`, as a `LIMIT` parameter.
fn limit_plus_one(limit: usize) -> i64 {
    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
}

/// A list read a page at a time by one key (keyset paging), for `keyset_rows`.
struct Keyset<'a> {
    /// What a failure of the query is reported as.
    context: &'static str,
    /// `SELECT ... FROM table`.
    select: &'a str,
    /// What every row listed meets, on parameters $1 on.
    conditions: &'a str,
    /// The column the list is ordered by; a cursor holds its last value.
    key: &'a str,
    /// Largest key first.
    descending: bool,
}

/// `limit` as a `LIMIT` parameter.
fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

static INSERT_ENDPOINT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO endpoints ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING",
        rows::ENDPOINT_COLUMNS,
        placeholders(1, 23)
    )
});

static REPLACE_ENDPOINT: LazyLock<String> = LazyLock::new(|| {
    // Every column but the id, set from $2..$23 where the version is $24.
    let columns: Vec<&str> = rows::ENDPOINT_COLUMNS.split(',').map(str::trim).collect();
    format!(
        "UPDATE endpoints SET ({}) = ({}) WHERE id = $1 AND tenant = $2 AND version = $24",
        columns[1..].join(", "),
        placeholders(2, 23)
    )
});

static SELECT_ENDPOINT: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM endpoints", rows::ENDPOINT_COLUMNS));

static UPSERT_HEALTH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO endpoint_health (endpoint_id, {cols}) VALUES ({values})
         ON CONFLICT (endpoint_id) DO UPDATE SET {set}",
        cols = rows::HEALTH_COLUMNS,
        values = placeholders(1, 9),
        set = set_excluded(rows::HEALTH_COLUMNS)
    )
});

/// A publish's deliveries, each at the position of the publish's transaction.
static INSERT_DELIVERIES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO deliveries ({}, due_ms, seq)
         SELECT u.*, pg_current_xact_id()::text::bigint FROM {}",
        rows::DELIVERY_COLUMNS,
        rows::DELIVERY_UNNEST
    )
});

static UPSERT_DELIVERIES: LazyLock<String> = LazyLock::new(|| {
    let columns = format!("{}, due_ms", rows::DELIVERY_COLUMNS);
    format!(
        "INSERT INTO deliveries ({columns}) SELECT * FROM {unnest}
         ON CONFLICT (id) DO UPDATE SET {set}",
        unnest = rows::DELIVERY_UNNEST,
        set = set_excluded(&columns)
    )
});

/// Replaces each delivery of the arrays that is still pending.
static UPDATE_PENDING_DELIVERIES: LazyLock<String> = LazyLock::new(|| {
    let set = format!("{}, due_ms", rows::DELIVERY_COLUMNS)
        .split(',')
        .map(str::trim)
        .filter(|c| *c != "id")
        .map(|c| format!("{c} = u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE deliveries d SET {set} FROM {unnest}
         WHERE d.id = u.id AND d.status = 'pending'",
        unnest = rows::DELIVERY_UNNEST
    )
});

static SELECT_DELIVERY: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM deliveries", rows::DELIVERY_COLUMNS));

static INSERT_ATTEMPTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO attempts ({}) SELECT * FROM {} ON CONFLICT (id) DO NOTHING",
        rows::ATTEMPT_COLUMNS,
        rows::ATTEMPT_UNNEST
    )
});

static UPSERT_TENANT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO tenant_settings (tenant, {cols}) VALUES ({values})
         ON CONFLICT (tenant) DO UPDATE SET {set}",
        cols = rows::TENANT_COLUMNS,
        values = placeholders(1, 9),
        set = set_excluded(rows::TENANT_COLUMNS)
    )
});

static UPSERT_EVENT_TYPE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO event_types ({cols}) VALUES ({values})
         ON CONFLICT (tenant, event_type) DO UPDATE SET {set}",
        cols = rows::EVENT_TYPE_COLUMNS,
        values = placeholders(1, 6),
        set = set_excluded("description, example, schema, updated_at_ms")
    )
});

/// For each delivery id, what a run of `outcomes` in order leaves stored when the
/// stored delivery is pending: each outcome applies only while the one before left
/// it pending (`record_outcomes`' rule, applied to one id met several times).
fn last_applying(outcomes: &[Outcome]) -> Vec<&Delivery> {
    let mut by_id: BTreeMap<&DeliveryId, &Delivery> = BTreeMap::new();
    for outcome in outcomes {
        let delivery = &outcome.delivery;
        match by_id.get(&delivery.id) {
            Some(before) if before.status != DeliveryStatus::Pending => {}
            _ => {
                by_id.insert(&delivery.id, delivery);
            }
        }
    }
    by_id.into_values().collect()
}

/// The last of each id among `deliveries`, in id order (a later write of one id
/// replaces an earlier one, as separate writes would).
fn last_of_each(deliveries: &[Delivery]) -> Vec<&Delivery> {
    let mut by_id: BTreeMap<&DeliveryId, &Delivery> = BTreeMap::new();
    for delivery in deliveries {
        by_id.insert(&delivery.id, delivery);
    }
    by_id.into_values().collect()
}

impl PostgresStorage {
    /// A connection from the pool.
    pub(crate) async fn client(&self) -> StorageResult<Object> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Closed => StorageError::Closed,
            other => StorageError::backend("taking a connection from the pool", other),
        })
    }

    /// The rows of `sql` with `params`, on a pooled connection (a cached statement).
    async fn rows(
        &self,
        context: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StorageResult<Vec<Row>> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(db(context))?;
        client.query(&statement, params).await.map_err(db(context))
    }

    /// One page of `list` (its rows where the conditions hold on `params`, $1 on),
    /// after `cursor` (the key the previous page ended on) when given, with one row
    /// more than `limit` so that `page_of` tells whether another page follows.
    async fn keyset_rows(
        &self,
        list: &Keyset<'_>,
        params: &[&(dyn ToSql + Sync)],
        cursor: Option<&str>,
        limit: usize,
    ) -> StorageResult<Vec<Row>> {
        let fetch = limit_plus_one(limit);
        let cursor_param = cursor.unwrap_or_default();
        let (after, order) = if list.descending {
            ("<", " DESC")
        } else {
            (">", "")
        };
        let mut all = params.to_vec();
        let mut sql = format!("{} WHERE {}", list.select, list.conditions);
        if cursor.is_some() {
            all.push(&cursor_param);
            sql.push_str(&format!(" AND {} {after} ${}", list.key, all.len()));
        }
        all.push(&fetch);
        sql.push_str(&format!(
            " ORDER BY {}{order} LIMIT ${}",
            list.key,
            all.len()
        ));
        self.rows(list.context, &sql, &all).await
    }

    /// The one row of `sql`, if any.
    async fn row(
        &self,
        context: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StorageResult<Option<Row>> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(db(context))?;
        client
            .query_opt(&statement, params)
            .await
            .map_err(db(context))
    }

    /// The one `bigint` `sql` selects, as a position (0 when there is no row or it
    /// is negative).
    async fn position(&self, context: &'static str, sql: &str) -> StorageResult<u64> {
        let value: i64 = match self.row(context, sql, &[]).await? {
            Some(row) => row.try_get(0).map_err(db(context))?,
            None => 0,
        };
        Ok(u64::try_from(value).unwrap_or(0))
    }

    /// The number of rows `sql` changed.
    async fn execute(
        &self,
        context: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StorageResult<u64> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(db(context))?;
        client
            .execute(&statement, params)
            .await
            .map_err(db(context))
    }

    /// An endpoint read from `row`.
    fn endpoint_of(&self, row: &Row) -> StorageResult<Endpoint> {
        rows::endpoint(row, &self.keyring)
    }

    /// One purge step of events: removes up to `PURGE_STEP` events created before
    /// `cutoff` without pending work, with their deliveries. Returns how many
    /// events went.
    async fn purge_events_step(&self, cutoff: i64) -> StorageResult<u64> {
        const CONTEXT: &str = "purging events";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(CONTEXT))?;
        let row = tx
            .query_one(
                "WITH doomed AS (
                     SELECT e.tenant, e.id FROM events e
                     WHERE e.created_at_ms < $1
                       AND NOT EXISTS (
                           SELECT 1 FROM deliveries d
                           WHERE d.tenant = e.tenant AND d.event_id = e.id
                             AND d.status = 'pending')
                     ORDER BY e.created_at_ms
                     LIMIT $2
                     FOR UPDATE OF e SKIP LOCKED
                 ), gone_deliveries AS (
                     DELETE FROM deliveries d USING doomed
                     WHERE d.tenant = doomed.tenant AND d.event_id = doomed.id
                     RETURNING d.id
                 ), gone_events AS (
                     DELETE FROM events e USING doomed
                     WHERE e.tenant = doomed.tenant AND e.id = doomed.id
                     RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM gone_events),
                        (SELECT max(id) FROM gone_deliveries)",
                &[&cutoff, &PURGE_STEP],
            )
            .await
            .map_err(db(CONTEXT))?;
        let events: i64 = row.try_get(0).map_err(db(CONTEXT))?;
        let highest: Option<String> = row.try_get(1).map_err(db(CONTEXT))?;
        if let Some(highest) = highest {
            // `last_delivery_id` must not go back when the largest id is purged.
            tx.execute(
                "UPDATE storage_meta SET purged_delivery_high =
                     GREATEST(purged_delivery_high, $1::text COLLATE \"C\")",
                &[&highest],
            )
            .await
            .map_err(db(CONTEXT))?;
        }
        tx.commit().await.map_err(db(CONTEXT))?;
        Ok(u64::try_from(events).unwrap_or(0))
    }
}

/// The transactions that `retry_transient` runs again.
impl PostgresStorage {
    async fn delete_endpoint_once(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        now: Timestamp,
    ) -> StorageResult<Option<u64>> {
        const CONTEXT: &str = "deleting an endpoint";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(CONTEXT))?;
        let deleted = tx
            .execute(
                "DELETE FROM endpoints WHERE id = $1 AND tenant = $2",
                &[&id.as_str(), &tenant.as_str()],
            )
            .await
            .map_err(db(CONTEXT))?;
        if deleted == 0 {
            return Ok(None);
        }
        record_endpoint_change(&tx, tenant, id).await?;
        // `Delivery::kill(EndpointDeleted, now)` of each pending delivery.
        let killed = tx
            .execute(
                "UPDATE deliveries SET status = 'dead', dead_reason = $2,
                     next_attempt_at_ms = NULL, due_ms = 0, updated_at_ms = $3
                 WHERE endpoint_id = $1 AND status = 'pending'",
                &[
                    &id.as_str(),
                    &text_of(&DeadReason::EndpointDeleted),
                    &ms(now),
                ],
            )
            .await
            .map_err(db(CONTEXT))?;
        tx.execute(
            "DELETE FROM endpoint_health WHERE endpoint_id = $1",
            &[&id.as_str()],
        )
        .await
        .map_err(db(CONTEXT))?;
        tx.commit().await.map_err(db(CONTEXT))?;
        Ok(Some(killed))
    }

    async fn insert_event_once(
        &self,
        event: &Event,
        deliveries: &[Delivery],
    ) -> StorageResult<InsertEvent> {
        const CONTEXT: &str = "storing an event";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(CONTEXT))?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO events (tenant, id, event_type, channels, created_at_ms, data,
                     deliveries)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant, id) DO NOTHING",
            )
            .await
            .map_err(db(CONTEXT))?;
        let data: &str = &event.data;
        let inserted = tx
            .execute(
                &insert,
                &[
                    &event.tenant.as_str(),
                    &event.id.as_str(),
                    &event.event_type,
                    &event.channels,
                    &ms(event.created_at),
                    &data,
                    &i64::from(event.deliveries),
                ],
            )
            .await
            .map_err(db(CONTEXT))?;
        if inserted == 0 {
            // The same id, stored first by another publish (which this one waited
            // for, on the primary key, when it was still in flight).
            let sql = format!(
                "SELECT {} FROM events WHERE tenant = $1 AND id = $2",
                rows::EVENT_COLUMNS
            );
            let row = tx
                .query_opt(&sql, &[&event.tenant.as_str(), &event.id.as_str()])
                .await
                .map_err(db(CONTEXT))?;
            return match row {
                Some(row) => Ok(InsertEvent::Exists(rows::event(&row)?)),
                // Purged between the two statements: as good as a conflict.
                None => Err(StorageError::Conflict(format!("event {}", event.id))),
            };
        }
        let mut sorted: Vec<&Delivery> = deliveries.iter().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        let columns = rows::DeliveryRows::new(sorted);
        if !columns.is_empty() {
            let statement = tx
                .prepare_cached(INSERT_DELIVERIES.as_str())
                .await
                .map_err(db(CONTEXT))?;
            tx.execute(&statement, &columns.params())
                .await
                .map_err(db(CONTEXT))?;
        }
        tx.commit().await.map_err(db(CONTEXT))?;
        Ok(InsertEvent::Inserted)
    }

    /// Fails with `Fenced` unless this node holds the endpoint's partition, as the
    /// database says in `tx` (the lease row stays share-locked until it commits, so
    /// no claim can slip in between). A storage outside a cluster writes freely.
    async fn check_fence(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        endpoint_id: &EndpointId,
    ) -> StorageResult<()> {
        let Some(fence) = self.fence.get() else {
            return Ok(());
        };
        let fenced = || StorageError::Fenced(endpoint_id.to_string());
        let partition = herald::cluster::partition_of(endpoint_id, fence.partitions);
        let epoch = fence.epoch_of(partition).ok_or_else(fenced)?;
        let held = tx
            .query_opt(
                "SELECT 1 FROM partition_leases
                 WHERE partition = $1 AND owner = $2 AND epoch = $3 FOR SHARE",
                &[&(partition as i32), &fence.node_id, &epoch],
            )
            .await
            .map_err(db("checking the partition lease"))?;
        held.map(drop).ok_or_else(fenced)
    }

    async fn record_outcomes_once(
        &self,
        endpoint_id: &EndpointId,
        outcomes: &[Outcome],
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        const CONTEXT: &str = "recording attempt outcomes";
        let mut attempts: Vec<&herald::model::Attempt> =
            outcomes.iter().filter_map(|o| o.attempt.as_ref()).collect();
        attempts.sort_by(|a, b| a.id.cmp(&b.id));
        let attempts = rows::AttemptRows::new(attempts);
        let deliveries = rows::DeliveryRows::new(last_applying(outcomes));
        let health = rows::HealthRow::new(health);
        let endpoint = endpoint_id.as_str();
        let mut health_params: Vec<&(dyn ToSql + Sync)> = vec![&endpoint];
        health_params.extend(health.params());

        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(CONTEXT))?;
        self.check_fence(&tx, endpoint_id).await?;
        if !attempts.is_empty() {
            let statement = tx
                .prepare_cached(INSERT_ATTEMPTS.as_str())
                .await
                .map_err(db(CONTEXT))?;
            tx.execute(&statement, &attempts.params())
                .await
                .map_err(db(CONTEXT))?;
        }
        if !deliveries.is_empty() {
            let statement = tx
                .prepare_cached(UPDATE_PENDING_DELIVERIES.as_str())
                .await
                .map_err(db(CONTEXT))?;
            tx.execute(&statement, &deliveries.params())
                .await
                .map_err(db(CONTEXT))?;
        }
        let statement = tx
            .prepare_cached(UPSERT_HEALTH.as_str())
            .await
            .map_err(db(CONTEXT))?;
        tx.execute(&statement, &health_params)
            .await
            .map_err(db(CONTEXT))?;
        tx.commit().await.map_err(db(CONTEXT))
    }
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn create_endpoint_within(
        &self,
        endpoint: &Endpoint,
        limit: Option<u64>,
    ) -> StorageResult<CreateEndpoint> {
        const CONTEXT: &str = "creating an endpoint";
        let row = rows::EndpointRow::new(endpoint, &self.keyring);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(CONTEXT))?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM endpoints WHERE id = $1",
                &[&endpoint.id.as_str()],
            )
            .await
            .map_err(db(CONTEXT))?;
        if exists.is_some() {
            return Err(StorageError::Conflict(format!("endpoint {}", endpoint.id)));
        }
        if let Some(limit) = limit {
            // Creates of one tenant with a limit take turns until commit, so each
            // counts the others' endpoints.
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&TENANT_LOCK_SPACE, &endpoint.tenant.as_str()],
            )
            .await
            .map_err(db(CONTEXT))?;
            let count: i64 = tx
                .query_one(
                    "SELECT count(*) FROM endpoints WHERE tenant = $1",
                    &[&endpoint.tenant.as_str()],
                )
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db(CONTEXT))?;
            if u64::try_from(count).unwrap_or(0) >= limit {
                return Ok(CreateEndpoint::LimitReached);
            }
        }
        let inserted = tx
            .execute(INSERT_ENDPOINT.as_str(), &row.params())
            .await
            .map_err(db(CONTEXT))?;
        if inserted == 0 {
            return Err(StorageError::Conflict(format!("endpoint {}", endpoint.id)));
        }
        record_endpoint_change(&tx, &endpoint.tenant, &endpoint.id).await?;
        tx.commit().await.map_err(db(CONTEXT))?;
        Ok(CreateEndpoint::Created)
    }

    async fn count_endpoints(&self, tenant: &TenantId) -> StorageResult<u64> {
        let row = self
            .row(
                "counting endpoints",
                "SELECT count(*) FROM endpoints WHERE tenant = $1",
                &[&tenant.as_str()],
            )
            .await?;
        let count: i64 = match row {
            Some(row) => row.try_get(0).map_err(db("counting endpoints"))?,
            None => 0,
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn replace_endpoint(
        &self,
        endpoint: &Endpoint,
        expected_version: u64,
    ) -> StorageResult<ReplaceEndpoint> {
        const CONTEXT: &str = "replacing an endpoint";
        let row = rows::EndpointRow::new(endpoint, &self.keyring);
        let expected = i64::try_from(expected_version).unwrap_or(i64::MAX);
        let mut params: Vec<&(dyn ToSql + Sync)> = row.params().to_vec();
        params.push(&expected);
        let replaced = retry_transient(|| async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db(CONTEXT))?;
            let statement = tx
                .prepare_cached(REPLACE_ENDPOINT.as_str())
                .await
                .map_err(db(CONTEXT))?;
            let replaced = tx.execute(&statement, &params).await.map_err(db(CONTEXT))?;
            if replaced == 1 {
                record_endpoint_change(&tx, &endpoint.tenant, &endpoint.id).await?;
            }
            tx.commit().await.map_err(db(CONTEXT))?;
            Ok(replaced)
        })
        .await?;
        if replaced == 1 {
            return Ok(ReplaceEndpoint::Replaced);
        }
        let stored = self.endpoint_by_id(&endpoint.id).await?;
        Ok(ReplaceEndpoint::Stale(stored.map(Box::new)))
    }

    async fn get_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> StorageResult<Option<Endpoint>> {
        let sql = format!("{} WHERE id = $1 AND tenant = $2", *SELECT_ENDPOINT);
        self.row(
            "reading an endpoint",
            &sql,
            &[&id.as_str(), &tenant.as_str()],
        )
        .await?
        .map(|row| self.endpoint_of(&row))
        .transpose()
    }

    async fn endpoint_by_id(&self, id: &EndpointId) -> StorageResult<Option<Endpoint>> {
        let sql = format!("{} WHERE id = $1", *SELECT_ENDPOINT);
        self.row("reading an endpoint", &sql, &[&id.as_str()])
            .await?
            .map(|row| self.endpoint_of(&row))
            .transpose()
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<Endpoint>> {
        let before = match &page.cursor {
            Some(c) => Some(EndpointId::parse(c).map_err(|_| bad_cursor(c))?),
            None => None,
        };
        let list = Keyset {
            context: "listing endpoints",
            select: &SELECT_ENDPOINT,
            conditions: "tenant = $1",
            key: "id",
            descending: true,
        };
        let cursor = before.as_ref().map(EndpointId::as_str);
        let rows = self
            .keyset_rows(&list, &[&tenant.as_str()], cursor, page.limit)
            .await?;
        page_of(
            rows,
            page.limit,
            |r| self.endpoint_of(r),
            |e| e.id.to_string(),
        )
    }

    async fn endpoints_after(
        &self,
        after: Option<&EndpointId>,
        limit: usize,
    ) -> StorageResult<Vec<Endpoint>> {
        const CONTEXT: &str = "reading endpoints in id order";
        let limit = limit_of(limit);
        let rows = match after {
            Some(after) => {
                let sql = format!("{} WHERE id > $1 ORDER BY id LIMIT $2", *SELECT_ENDPOINT);
                self.rows(CONTEXT, &sql, &[&after.as_str(), &limit]).await?
            }
            None => {
                let sql = format!("{} ORDER BY id LIMIT $1", *SELECT_ENDPOINT);
                self.rows(CONTEXT, &sql, &[&limit]).await?
            }
        };
        rows.iter().map(|r| self.endpoint_of(r)).collect()
    }

    async fn delete_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        now: Timestamp,
    ) -> StorageResult<Option<u64>> {
        retry_transient(|| self.delete_endpoint_once(tenant, id, now)).await
    }

    async fn endpoint_health(&self, id: &EndpointId) -> StorageResult<EndpointHealth> {
        let sql = format!(
            "SELECT {} FROM endpoint_health WHERE endpoint_id = $1",
            rows::HEALTH_COLUMNS
        );
        match self
            .row("reading endpoint health", &sql, &[&id.as_str()])
            .await?
        {
            Some(row) => rows::health(&row),
            None => Ok(EndpointHealth::default()),
        }
    }

    async fn put_endpoint_health(
        &self,
        id: &EndpointId,
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        const CONTEXT: &str = "storing endpoint health";
        let values = rows::HealthRow::new(health);
        let id_text = id.as_str();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id_text];
        params.extend(values.params());
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(CONTEXT))?;
        self.check_fence(&tx, id).await?;
        let statement = tx
            .prepare_cached(UPSERT_HEALTH.as_str())
            .await
            .map_err(db(CONTEXT))?;
        tx.execute(&statement, &params).await.map_err(db(CONTEXT))?;
        tx.commit().await.map_err(db(CONTEXT))
    }

    async fn delivery_counts(&self, id: &EndpointId) -> StorageResult<DeliveryCounts> {
        const CONTEXT: &str = "counting deliveries";
        let row = self
            .row(
                CONTEXT,
                "SELECT count(*) FILTER (WHERE status = 'pending'),
                        count(*) FILTER (WHERE status = 'dead')
                 FROM deliveries WHERE endpoint_id = $1 AND status IN ('pending', 'dead')",
                &[&id.as_str()],
            )
            .await?;
        let Some(row) = row else {
            return Ok(DeliveryCounts::default());
        };
        let pending: i64 = row.try_get(0).map_err(db(CONTEXT))?;
        let dead: i64 = row.try_get(1).map_err(db(CONTEXT))?;
        Ok(DeliveryCounts {
            pending: u64::try_from(pending).unwrap_or(0),
            dead: u64::try_from(dead).unwrap_or(0),
        })
    }

    async fn insert_event(
        &self,
        event: &Event,
        deliveries: &[Delivery],
    ) -> StorageResult<InsertEvent> {
        retry_transient(|| self.insert_event_once(event, deliveries)).await
    }

    async fn get_event(&self, tenant: &TenantId, id: &EventId) -> StorageResult<Option<Event>> {
        let sql = format!(
            "SELECT {} FROM events WHERE tenant = $1 AND id = $2",
            rows::EVENT_COLUMNS
        );
        self.row("reading an event", &sql, &[&tenant.as_str(), &id.as_str()])
            .await?
            .map(|row| rows::event(&row))
            .transpose()
    }

    async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> StorageResult<Page<Event>> {
        let after = match &page.cursor {
            Some(c) => Some(storage::parse_event_cursor(c).ok_or_else(|| bad_cursor(c))?),
            None => None,
        };
        // The bounds as index bounds; only those given, so each shape of the query
        // gets a plan of its own.
        let tenant_text = tenant.as_str();
        let since = filter.since.map(ms);
        let until = filter.until.map(ms);
        let after_at = after.as_ref().map(|(at, _)| ms(*at));
        let after_id = after.as_ref().map(|(_, id)| id.as_str());
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant_text];
        let mut conditions = vec!["tenant = $1".to_owned()];
        if let Some(since) = &since {
            params.push(since);
            conditions.push(format!("created_at_ms >= ${}", params.len()));
        }
        if let Some(until) = &until {
            params.push(until);
            conditions.push(format!("created_at_ms < ${}", params.len()));
        }
        if let (Some(at), Some(id)) = (&after_at, &after_id) {
            params.push(at);
            params.push(id);
            conditions.push(format!(
                "(created_at_ms, id) < (${}, ${})",
                params.len() - 1,
                params.len()
            ));
        }
        // Without a type filter every event examined is an item: one more than the
        // page tells whether another follows. With one, the scan budget is read,
        // and the data of events of other types is left behind.
        let (fetch, data) = match &filter.event_type {
            None => (
                limit_plus_one(page.limit).min(limit_of(storage::EVENT_SCAN_LIMIT)),
                "data, true AS passes".to_owned(),
            ),
            Some(event_type) => {
                params.push(event_type);
                let n = params.len();
                (
                    limit_of(storage::EVENT_SCAN_LIMIT),
                    format!(
                        "CASE WHEN event_type = ${n} THEN data ELSE '' END AS data, \
                         event_type = ${n} AS passes"
                    ),
                )
            }
        };
        params.push(&fetch);
        let sql = format!(
            "SELECT tenant, id, event_type, channels, created_at_ms, deliveries, {data}
             FROM events WHERE {conditions}
             ORDER BY created_at_ms DESC, id DESC LIMIT ${limit}",
            conditions = conditions.join(" AND "),
            limit = params.len()
        );
        let rows = self.rows("listing events", &sql, &params).await?;
        let entries = rows.iter().map(|row| {
            let passes: bool = row.try_get("passes").map_err(db("listing events"))?;
            let event = rows::event(row)?;
            let position = (event.created_at, event.id.clone());
            Ok((position, passes.then_some(event)))
        });
        storage::bounded_page(
            entries,
            page.limit,
            storage::EVENT_SCAN_LIMIT,
            |(created_at, id)| storage::event_cursor_at(*created_at, id),
        )
    }

    async fn events_after(
        &self,
        tenant: &TenantId,
        after: Option<&(Timestamp, EventId)>,
        limit: usize,
    ) -> StorageResult<Vec<Event>> {
        let tenant_text = tenant.as_str();
        let after_at = after.map(|(at, _)| ms(*at));
        let after_id = after.map(|(_, id)| id.as_str());
        let fetch = limit_of(limit);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant_text];
        let mut conditions = vec!["tenant = $1"];
        if let (Some(at), Some(id)) = (&after_at, &after_id) {
            params.push(at);
            params.push(id);
            conditions.push("(created_at_ms, id) > ($2, $3)");
        }
        params.push(&fetch);
        let sql = format!(
            "SELECT tenant, id, event_type, channels, created_at_ms, deliveries, data
             FROM events WHERE {conditions}
             ORDER BY created_at_ms, id LIMIT ${limit}",
            conditions = conditions.join(" AND "),
            limit = params.len()
        );
        let rows = self
            .rows("reading events after a position", &sql, &params)
            .await?;
        rows.iter().map(rows::event).collect()
    }

    async fn event_deliveries(
        &self,
        tenant: &TenantId,
        event_id: &EventId,
        page: &PageRequest,
    ) -> StorageResult<Page<Delivery>> {
        let after = match &page.cursor {
            Some(c) => Some(DeliveryId::parse(c).map_err(|_| bad_cursor(c))?),
            None => None,
        };
        let list = Keyset {
            context: "listing an event's deliveries",
            select: &SELECT_DELIVERY,
            conditions: "tenant = $1 AND event_id = $2",
            key: "id",
            descending: false,
        };
        let cursor = after.as_ref().map(DeliveryId::as_str);
        let params: [&(dyn ToSql + Sync); 2] = [&tenant.as_str(), &event_id.as_str()];
        let rows = self.keyset_rows(&list, &params, cursor, page.limit).await?;
        page_of(rows, page.limit, rows::delivery, |d| d.id.to_string())
    }

    async fn get_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> StorageResult<Option<Delivery>> {
        let sql = format!("{} WHERE id = $1 AND tenant = $2", *SELECT_DELIVERY);
        self.row(
            "reading a delivery",
            &sql,
            &[&id.as_str(), &tenant.as_str()],
        )
        .await?
        .map(|row| rows::delivery(&row))
        .transpose()
    }

    async fn pending_deliveries(
        &self,
        endpoint_id: &EndpointId,
        order: PendingOrder,
        from: Option<&PendingKey>,
        limit: usize,
    ) -> StorageResult<Vec<Delivery>> {
        const CONTEXT: &str = "reading pending deliveries";
        let limit = limit_of(limit);
        let endpoint = endpoint_id.as_str();
        let rows = match (order, from) {
            (PendingOrder::Publish, None) => {
                let sql = format!(
                    "{} WHERE endpoint_id = $1 AND status = 'pending' ORDER BY id LIMIT $2",
                    *SELECT_DELIVERY
                );
                self.rows(CONTEXT, &sql, &[&endpoint, &limit]).await?
            }
            (PendingOrder::Publish, Some(from)) => {
                let sql = format!(
                    "{} WHERE endpoint_id = $1 AND status = 'pending' AND id >= $2
                     ORDER BY id LIMIT $3",
                    *SELECT_DELIVERY
                );
                self.rows(CONTEXT, &sql, &[&endpoint, &from.id.as_str(), &limit])
                    .await?
            }
            (PendingOrder::Due, None) => {
                let sql = format!(
                    "{} WHERE endpoint_id = $1 AND status = 'pending'
                     ORDER BY due_ms, id LIMIT $2",
                    *SELECT_DELIVERY
                );
                self.rows(CONTEXT, &sql, &[&endpoint, &limit]).await?
            }
            (PendingOrder::Due, Some(from)) => {
                let sql = format!(
                    "{} WHERE endpoint_id = $1 AND status = 'pending'
                       AND (due_ms, id) >= ($2, $3)
                     ORDER BY due_ms, id LIMIT $4",
                    *SELECT_DELIVERY
                );
                let params: [&(dyn ToSql + Sync); 4] =
                    [&endpoint, &ms(from.due), &from.id.as_str(), &limit];
                self.rows(CONTEXT, &sql, &params).await?
            }
        };
        rows.iter().map(rows::delivery).collect()
    }

    async fn endpoints_with_pending(&self) -> StorageResult<Vec<EndpointId>> {
        // A skip scan of the pending index: one probe per endpoint with work, not
        // one row per pending delivery.
        let rows = self
            .rows(
                "finding endpoints with pending work",
                "WITH RECURSIVE e AS (
                     (SELECT endpoint_id FROM deliveries WHERE status = 'pending'
                      ORDER BY endpoint_id LIMIT 1)
                     UNION ALL
                     SELECT (SELECT d.endpoint_id FROM deliveries d
                             WHERE d.status = 'pending' AND d.endpoint_id > e.endpoint_id
                             ORDER BY d.endpoint_id LIMIT 1)
                     FROM e WHERE e.endpoint_id IS NOT NULL
                 )
                 SELECT endpoint_id FROM e WHERE endpoint_id IS NOT NULL",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let text: &str = row
                    .try_get(0)
                    .map_err(db("finding endpoints with pending work"))?;
                EndpointId::parse(text)
                    .map_err(|_| rows::corrupt("delivery", format_args!("endpoint id {text:?}")))
            })
            .collect()
    }

    async fn endpoint_change_position(&self) -> StorageResult<u64> {
        self.position(
            "reading the endpoint change position",
            "SELECT last FROM endpoint_change_head",
        )
        .await
    }

    async fn endpoint_changes_after(
        &self,
        after: u64,
        limit: usize,
    ) -> StorageResult<Vec<(u64, TenantId, EndpointId)>> {
        const CONTEXT: &str = "reading endpoint changes";
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let rows = self
            .rows(
                CONTEXT,
                "SELECT seq, tenant, endpoint_id FROM endpoint_changes
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &limit_of(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get(0).map_err(db(CONTEXT))?;
                let tenant: &str = row.try_get(1).map_err(db(CONTEXT))?;
                let id: &str = row.try_get(2).map_err(db(CONTEXT))?;
                Ok((
                    u64::try_from(seq).unwrap_or(0),
                    TenantId::parse(tenant).map_err(|_| {
                        rows::corrupt("endpoint change", format_args!("tenant {tenant:?}"))
                    })?,
                    EndpointId::parse(id).map_err(|_| {
                        rows::corrupt("endpoint change", format_args!("endpoint id {id:?}"))
                    })?,
                ))
            })
            .collect()
    }

    async fn work_position(&self, _endpoint_id: &EndpointId) -> StorageResult<u64> {
        // Every transaction below the oldest one running has ended: what they
        // stored is in any read made after this.
        let sql = format!("SELECT {HORIZON} - 1");
        self.position("reading the work position", &sql).await
    }

    async fn pending_since(
        &self,
        endpoint_id: &EndpointId,
        after: u64,
        limit: usize,
    ) -> StorageResult<NewPending> {
        const CONTEXT: &str = "reading new pending deliveries";
        // One statement, one snapshot: positions below its oldest running
        // transaction are final; pending work above it is read once that ends.
        // The horizon is a scalar subquery, so the index's range bounds use it.
        let sql = format!(
            "(SELECT {columns}, seq, false AS later FROM deliveries
              WHERE endpoint_id = $1 AND status = 'pending' AND seq > $2
                AND seq < (SELECT {HORIZON})
              ORDER BY seq LIMIT $3)
             UNION ALL
             (SELECT {nulls}, NULL, true FROM deliveries
              WHERE endpoint_id = $1 AND status = 'pending' AND seq >= (SELECT {HORIZON})
              LIMIT 1)",
            columns = rows::DELIVERY_COLUMNS,
            nulls = vec!["NULL"; rows::DELIVERY_COLUMNS.split(',').count()].join(", ")
        );
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let found = self
            .rows(
                CONTEXT,
                &sql,
                &[&endpoint_id.as_str(), &after, &limit_of(limit)],
            )
            .await?;
        let mut new = NewPending::default();
        for row in &found {
            if row.try_get::<_, bool>("later").map_err(db(CONTEXT))? {
                new.more_soon = true;
                continue;
            }
            let seq: i64 = row.try_get("seq").map_err(db(CONTEXT))?;
            new.deliveries
                .push((u64::try_from(seq).unwrap_or(0), rows::delivery(row)?));
        }
        Ok(new)
    }

    async fn last_delivery_id(&self) -> StorageResult<Option<DeliveryId>> {
        const CONTEXT: &str = "reading the largest delivery id";
        let row = self
            .row(
                CONTEXT,
                "SELECT GREATEST((SELECT max(id) FROM deliveries),
                                 (SELECT purged_delivery_high FROM storage_meta))",
                &[],
            )
            .await?;
        let text: Option<String> = match row {
            Some(row) => row.try_get(0).map_err(db(CONTEXT))?,
            None => None,
        };
        text.map(|t| {
            DeliveryId::parse(&t)
                .map_err(|_| rows::corrupt("delivery", format_args!("malformed id {t:?}")))
        })
        .transpose()
    }

    async fn record_outcomes(
        &self,
        endpoint_id: &EndpointId,
        outcomes: &[Outcome],
        health: &EndpointHealth,
    ) -> StorageResult<()> {
        retry_transient(|| self.record_outcomes_once(endpoint_id, outcomes, health)).await
    }

    async fn update_deliveries(&self, deliveries: &[Delivery]) -> StorageResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let columns = rows::DeliveryRows::new(last_of_each(deliveries));
        let params = columns.params();
        retry_transient(|| self.execute("updating deliveries", UPSERT_DELIVERIES.as_str(), &params))
            .await
            .map(drop)
    }

    async fn list_attempts(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        outcome: Option<AttemptOutcome>,
        page: &PageRequest,
    ) -> StorageResult<Page<herald::model::Attempt>> {
        let before = match &page.cursor {
            Some(c) => Some(storage::parse_attempt_cursor(c).ok_or_else(|| bad_cursor(c))?),
            None => None,
        };
        let endpoint = endpoint_id.as_str();
        let tenant_text = tenant.as_str();
        let before_at = before.as_ref().map(|(at, _)| ms(*at));
        let before_id = before.as_ref().map(|(_, id)| id.as_str());
        // The newest attempts after the cursor, at most the page and the scan budget:
        // the outcome is filtered here, over a window the index reads in order, so a
        // rare outcome behind a long log costs one bounded read per page.
        let scan = page.limit.saturating_add(storage::ATTEMPT_SCAN_LIMIT);
        let window = limit_of(if outcome.is_some() {
            scan
        } else {
            page.limit.saturating_add(1)
        });
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&endpoint, &tenant_text];
        let mut conditions = vec!["endpoint_id = $1", "tenant = $2"];
        let cursor_condition;
        if let (Some(at), Some(id)) = (&before_at, &before_id) {
            params.push(at);
            params.push(id);
            cursor_condition = format!(
                "(started_at_ms, id) < (${}, ${})",
                params.len() - 1,
                params.len()
            );
            conditions.push(&cursor_condition);
        }
        params.push(&window);
        let sql = format!(
            "SELECT {} FROM attempts WHERE {} ORDER BY started_at_ms DESC, id DESC LIMIT ${}",
            rows::ATTEMPT_COLUMNS,
            conditions.join(" AND "),
            params.len()
        );
        let rows = self.rows("listing attempts", &sql, &params).await?;
        let entries = rows.iter().map(|row| {
            let attempt = rows::attempt(row)?;
            let wanted = outcome.is_none_or(|o| o.matches(&attempt));
            Ok((storage::attempt_cursor(&attempt), wanted.then_some(attempt)))
        });
        storage::bounded_page(entries, page.limit, scan, Clone::clone)
    }

    async fn list_dead_letters(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        page: &PageRequest,
    ) -> StorageResult<Page<Delivery>> {
        let before = match &page.cursor {
            Some(c) => Some(DeliveryId::parse(c).map_err(|_| bad_cursor(c))?),
            None => None,
        };
        let list = Keyset {
            context: "listing dead letters",
            select: &SELECT_DELIVERY,
            conditions: "endpoint_id = $1 AND status = 'dead' AND tenant = $2",
            key: "id",
            descending: true,
        };
        let cursor = before.as_ref().map(DeliveryId::as_str);
        let params: [&(dyn ToSql + Sync); 2] = [&endpoint_id.as_str(), &tenant.as_str()];
        let rows = self.keyset_rows(&list, &params, cursor, page.limit).await?;
        page_of(rows, page.limit, rows::delivery, |d| d.id.to_string())
    }

    async fn purge_before(&self, cutoff: Timestamp) -> StorageResult<PurgeStats> {
        let cutoff = ms(cutoff);
        let mut stats = PurgeStats::default();
        loop {
            let removed = self.purge_events_step(cutoff).await?;
            stats.events += removed;
            if removed < PURGE_STEP as u64 {
                break;
            }
        }
        loop {
            let removed = self
                .execute(
                    "purging attempts",
                    "DELETE FROM attempts WHERE id IN (
                         SELECT id FROM attempts WHERE started_at_ms < $1 LIMIT $2)",
                    &[&cutoff, &PURGE_STEP],
                )
                .await?;
            stats.attempts += removed;
            if removed < PURGE_STEP as u64 {
                break;
            }
        }
        Ok(stats)
    }

    async fn flush(&self) -> StorageResult<()> {
        // Every write was committed before it returned.
        Ok(())
    }

    async fn create_key(&self, key: &ApiKey) -> StorageResult<()> {
        let (scope, created_at, last_used_at) = rows::key_values(key);
        let sql = format!(
            "INSERT INTO api_keys ({}) VALUES ({}) ON CONFLICT DO NOTHING",
            rows::KEY_COLUMNS,
            placeholders(1, 7)
        );
        let params: [&(dyn ToSql + Sync); 7] = [
            &key.id.as_str(),
            &key.tenant.as_str(),
            &scope,
            &key.description,
            &key.token_hash,
            &created_at,
            &last_used_at,
        ];
        match self.execute("creating an API key", &sql, &params).await? {
            0 => Err(StorageError::Conflict(format!("key {}", key.id))),
            _ => Ok(()),
        }
    }

    async fn key_by_hash(&self, token_hash: &str) -> StorageResult<Option<ApiKey>> {
        let sql = format!(
            "SELECT {} FROM api_keys WHERE token_hash = $1",
            rows::KEY_COLUMNS
        );
        self.row("reading an API key", &sql, &[&token_hash])
            .await?
            .map(|row| rows::key(&row))
            .transpose()
    }

    async fn list_keys(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<ApiKey>> {
        let before = match &page.cursor {
            Some(c) => Some(KeyId::parse(c).map_err(|_| bad_cursor(c))?),
            None => None,
        };
        let select = format!("SELECT {} FROM api_keys", rows::KEY_COLUMNS);
        let list = Keyset {
            context: "listing API keys",
            select: &select,
            conditions: "tenant = $1",
            key: "id",
            descending: true,
        };
        let cursor = before.as_ref().map(KeyId::as_str);
        let rows = self
            .keyset_rows(&list, &[&tenant.as_str()], cursor, page.limit)
            .await?;
        page_of(rows, page.limit, rows::key, |k| k.id.to_string())
    }

    async fn delete_key(&self, tenant: &TenantId, id: &KeyId) -> StorageResult<bool> {
        let deleted = self
            .execute(
                "deleting an API key",
                "DELETE FROM api_keys WHERE tenant = $1 AND id = $2",
                &[&tenant.as_str(), &id.as_str()],
            )
            .await?;
        Ok(deleted > 0)
    }

    async fn touch_keys(&self, used: &[(KeyId, Timestamp)]) -> StorageResult<()> {
        // One time per key (the latest), so the statement meets each row once.
        let mut latest: BTreeMap<&str, i64> = BTreeMap::new();
        for (id, at) in used {
            let at = ms(*at);
            latest
                .entry(id.as_str())
                .and_modify(|t| *t = (*t).max(at))
                .or_insert(at);
        }
        if latest.is_empty() {
            return Ok(());
        }
        let (ids, times): (Vec<&str>, Vec<i64>) = latest.into_iter().unzip();
        self.execute(
            "recording key use",
            "UPDATE api_keys k SET last_used_at_ms = GREATEST(k.last_used_at_ms, u.at)
             FROM unnest($1::text[], $2::bigint[]) AS u(id, at) WHERE k.id = u.id",
            &[&ids, &times],
        )
        .await
        .map(drop)
    }

    async fn tenant_settings(&self, tenant: &TenantId) -> StorageResult<Option<TenantSettings>> {
        let sql = format!(
            "SELECT {} FROM tenant_settings WHERE tenant = $1",
            rows::TENANT_COLUMNS
        );
        self.row("reading tenant settings", &sql, &[&tenant.as_str()])
            .await?
            .map(|row| rows::tenant_settings(&row))
            .transpose()
    }

    async fn put_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
    ) -> StorageResult<()> {
        let values = rows::TenantRow::new(settings);
        let tenant_text = tenant.as_str();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant_text];
        params.extend(values.params());
        self.execute("storing tenant settings", UPSERT_TENANT.as_str(), &params)
            .await
            .map(drop)
    }

    async fn put_event_type(&self, entry: &EventTypeEntry) -> StorageResult<()> {
        let example = entry.example.as_deref();
        let schema = entry.schema.as_deref();
        let params: [&(dyn ToSql + Sync); 6] = [
            &entry.tenant.as_str(),
            &entry.event_type,
            &entry.description,
            &example,
            &schema,
            &ms(entry.updated_at),
        ];
        self.execute("storing an event type", UPSERT_EVENT_TYPE.as_str(), &params)
            .await
            .map(drop)
    }

    async fn event_type(
        &self,
        tenant: &TenantId,
        event_type: &str,
    ) -> StorageResult<Option<EventTypeEntry>> {
        let sql = format!(
            "SELECT {} FROM event_types WHERE tenant = $1 AND event_type = $2",
            rows::EVENT_TYPE_COLUMNS
        );
        self.row(
            "reading an event type",
            &sql,
            &[&tenant.as_str(), &event_type],
        )
        .await?
        .map(|row| rows::event_type(&row))
        .transpose()
    }

    async fn list_event_types(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> StorageResult<Page<EventTypeEntry>> {
        let select = format!("SELECT {} FROM event_types", rows::EVENT_TYPE_COLUMNS);
        let list = Keyset {
            context: "listing event types",
            select: &select,
            conditions: "tenant = $1",
            key: "event_type",
            descending: false,
        };
        let rows = self
            .keyset_rows(
                &list,
                &[&tenant.as_str()],
                page.cursor.as_deref(),
                page.limit,
            )
            .await?;
        page_of(rows, page.limit, rows::event_type, |e| e.event_type.clone())
    }

    async fn delete_event_type(&self, tenant: &TenantId, event_type: &str) -> StorageResult<bool> {
        let deleted = self
            .execute(
                "deleting an event type",
                "DELETE FROM event_types WHERE tenant = $1 AND event_type = $2",
                &[&tenant.as_str(), &event_type],
            )
            .await?;
        Ok(deleted > 0)
    }
}

/// The oldest transaction still running, as a position: every position below it
/// is final (its transaction ended).
const HORIZON: &str = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// Endpoint changes kept for nodes catching up; one further behind reads every
/// endpoint again.
pub(crate) const ENDPOINT_CHANGES_KEPT: i64 = 100_000;

/// Appends a change of the endpoint to the change feed, in the transaction that
/// makes it: the head row stays locked until it commits, so positions follow
/// commit order (endpoint writes take turns; they are rare).
async fn record_endpoint_change(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &TenantId,
    id: &EndpointId,
) -> StorageResult<()> {
    const CONTEXT: &str = "recording an endpoint change";
    tx.execute(
        "WITH head AS (
             UPDATE endpoint_change_head SET last = last + 1 RETURNING last
         )
         INSERT INTO endpoint_changes (seq, tenant, endpoint_id)
         SELECT last, $1, $2 FROM head",
        &[&tenant.as_str(), &id.as_str()],
    )
    .await
    .map_err(db(CONTEXT))?;
    Ok(())
}

/// Times a transaction is tried when PostgreSQL aborts it for a reason that
/// trying again resolves.
const TRIES: u32 = 3;

/// Runs `attempt` again (up to `TRIES` times in all) while it fails with a
/// deadlock or a serialization failure: PostgreSQL aborts one of two
/// transactions that wait on each other, and the aborted one wrote nothing.
async fn retry_transient<T, F, Fut>(mut attempt: F) -> StorageResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StorageResult<T>>,
{
    let mut tried = 1;
    loop {
        match attempt().await {
            Err(e) if tried < TRIES && is_transient(&e) => {
                tracing::debug!(error = %e, tried, "a transaction was aborted; trying again");
                tried += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Whether `error` is PostgreSQL's deadlock or serialization failure.
fn is_transient(error: &StorageError) -> bool {
    let StorageError::Backend { source, .. } = error else {
        return false;
    };
    source
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|code| {
            *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
        })
}
