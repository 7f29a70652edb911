//! Reads that stop in Postgres when nobody waits for them any more.
//!
//! sqlx hands a connection whose statement was dropped mid-flight back to the pool only after
//! draining it, so the statement runs on for nobody — a call past its deadline, a client gone —
//! until it ends or reaches `statement_timeout`, holding a session and its snapshot. A read made
//! through [`Reads`] instead closes such a connection; Postgres, which checks the client's
//! socket every `client_connection_check_interval` while a statement runs (set on every session
//! by [`crate::db::connect`]), then ends the statement. Mutations need none of this: their
//! transaction carries the call's deadline as `statement_timeout`.

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt, future::BoxFuture};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Describe, Either, Execute, Executor, PgConnection, PgPool, Postgres, SqlStr};

/// The pool as the stores read from it: an executor like `&PgPool` whose statements, when
/// dropped before they finish, close their connection instead of letting the statement run on.
#[derive(Clone, Debug)]
pub struct Reads(PgPool);

impl Reads {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }

    /// One connection for several statements (a read that needs one snapshot's worth of
    /// round trips without going back to the pool in between).
    pub async fn acquire(&self) -> Result<ReadConnection, sqlx::Error> {
        Ok(ReadConnection {
            connection: self.0.acquire().await?,
            in_flight: false,
        })
    }
}

/// A pooled connection that is closed, not returned, when dropped with a statement unfinished.
#[derive(Debug)]
pub struct ReadConnection {
    connection: PoolConnection<Postgres>,
    in_flight: bool,
}

impl ReadConnection {
    /// The connection for a statement about to start, and the flag to clear when it ends.
    fn start(&mut self) -> (&mut PgConnection, &mut bool) {
        self.in_flight = true;
        (&mut self.connection, &mut self.in_flight)
    }
}

impl Drop for ReadConnection {
    fn drop(&mut self) {
        if self.in_flight {
            tracing::debug!("a read was dropped mid-statement; closing its connection");
            self.connection.close_on_drop();
        }
    }
}

impl<'c> Executor<'c> for &'c mut ReadConnection {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let (connection, in_flight) = self.start();
        Box::pin(async_stream::stream! {
            let mut results = connection.fetch_many(query);
            while let Some(result) = results.next().await {
                // After an error Postgres only has `ReadyForQuery` left to send, which the
                // pool's return drains at once.
                let ended = result.is_err();
                if ended {
                    *in_flight = false;
                }
                yield result;
                if ended {
                    return;
                }
            }
            *in_flight = false;
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let (connection, in_flight) = self.start();
        Box::pin(async move {
            let row = connection.fetch_optional(query).await;
            *in_flight = false;
            row
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        (&mut *self.connection).prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        (&mut *self.connection).describe(sql)
    }
}

impl<'p> Executor<'p> for &'_ Reads {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        let reads = self.clone();
        Box::pin(async_stream::try_stream! {
            let mut connection = reads.acquire().await?;
            let mut results = connection.fetch_many(query);
            while let Some(result) = results.try_next().await? {
                yield result;
            }
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Postgres>,
    {
        let reads = self.clone();
        Box::pin(async move { reads.acquire().await?.fetch_optional(query).await })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        self.0.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>> {
        self.0.describe(sql)
    }
}
