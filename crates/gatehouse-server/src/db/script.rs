//! Writes sent together: a [`Script`] of [`Statement`]s runs as one round trip on SQLite.
//!
//! sqlx runs each SQLite connection on a thread of its own, and every statement is a hand-off to
//! that thread and back. Inside the group commit's batch those hand-offs are serial: a login's
//! four inserts were four waits for a thread to wake, and the writer spent more time waking
//! than writing (docs/benchmarks.md). SQLite takes several statements in one query string, and
//! sqlx binds each `$n` of every statement from one argument list; so a script renumbers each
//! statement's `$1…` after the ones before it and sends them all at once. PostgreSQL's extended
//! protocol takes one statement per query: there the script runs them one after another in the
//! same transaction (a round trip each, as before).
//!
//! A statement is SQL with `$1…$n` placeholders and its arguments; a store function that writes
//! builds one (`…_statement`), and its plain async form just executes it.

use futures_util::TryStreamExt as _;
use sqlx::{Any, Executor};

use super::Backend;

/// One argument: the types the schema uses (TEXT, BIGINT), nullable.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_string()))
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(Some(v))
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::Text(Some(v.clone()))
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        Arg::Text(v.map(str::to_string))
    }
}

impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Arg {
        Arg::Text(v.clone())
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::Int(v)
    }
}

/// One SQL statement with `$1…$n` placeholders and its arguments in order.
#[derive(Debug, Clone)]
pub struct Statement {
    sql: String,
    args: Vec<Arg>,
}

impl Statement {
    pub fn new(sql: impl Into<String>, args: Vec<Arg>) -> Statement {
        Statement {
            sql: sql.into(),
            args,
        }
    }

    /// Runs it alone; the rows it changed.
    pub async fn execute<'c>(self, ex: impl Executor<'c, Database = Any>) -> sqlx::Result<u64> {
        let mut query = sqlx::query(&self.sql);
        for arg in self.args {
            query = bind(query, arg);
        }
        Ok(query.execute(ex).await?.rows_affected())
    }
}

type Query<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

fn bind(query: Query<'_>, arg: Arg) -> Query<'_> {
    match arg {
        Arg::Text(v) => query.bind(v),
        Arg::Int(v) => query.bind(v),
    }
}

/// Statements run in order in one transaction, in one round trip on SQLite.
#[derive(Debug, Default)]
pub struct Script {
    statements: Vec<Statement>,
}

impl Script {
    pub fn new() -> Script {
        Script::default()
    }

    /// Adds `statement`; its place in the counts [`Script::run`] answers.
    pub fn push(&mut self, statement: Statement) -> usize {
        self.statements.push(statement);
        self.statements.len() - 1
    }

    /// Runs every statement in `tx`; the rows each one changed, in order. A failing statement
    /// fails the script, with the ones before it done: the caller's transaction (or savepoint)
    /// undoes them.
    pub async fn run(
        self,
        tx: &mut sqlx::Transaction<'_, Any>,
        backend: Backend,
    ) -> sqlx::Result<Vec<u64>> {
        if backend == Backend::Postgres || self.statements.len() == 1 {
            let mut counts = Vec::with_capacity(self.statements.len());
            for statement in self.statements {
                counts.push(statement.execute(&mut **tx).await?);
            }
            return Ok(counts);
        }
        let expected = self.statements.len();
        let (sql, args) = self.joined();
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = bind(query, arg);
        }
        let mut counts = Vec::with_capacity(expected);
        // sqlx 0.8 marks `fetch_many` deprecated: multi-statement queries are SQLite-only and
        // may go in a later major version. It is what gives each statement's row count in one
        // round trip; sqlx is pinned, and the tests below fail first if an upgrade changes it.
        #[allow(deprecated)]
        let mut results = query.fetch_many(&mut **tx);
        while let Some(item) = results.try_next().await? {
            if let sqlx::Either::Left(done) = item {
                counts.push(done.rows_affected());
            }
        }
        if counts.len() != expected {
            return Err(sqlx::Error::Protocol(format!(
                "a script of {expected} statements reported {} results",
                counts.len()
            )));
        }
        Ok(counts)
    }

    /// One query string: each statement's placeholders shifted past the arguments before it.
    fn joined(self) -> (String, Vec<Arg>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        for statement in self.statements {
            sql.push_str(&renumber(&statement.sql, args.len()));
            sql.push_str(";\n");
            args.extend(statement.args);
        }
        (sql, args)
    }
}

/// `$k` becomes `$(k + offset)`. The store's SQL has no `$` inside string literals.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits].parse::<usize>() {
            Ok(n) => {
                out.push('$');
                out.push_str(&(n + offset).to_string());
            }
            Err(_) => out.push('$'),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_shifted_past_the_arguments_before() {
        assert_eq!(
            renumber("INSERT INTO t VALUES ($1, $2, $10)", 3),
            "INSERT INTO t VALUES ($4, $5, $13)"
        );
        assert_eq!(renumber("SELECT $1", 0), "SELECT $1");
        assert_eq!(renumber("a $ b", 2), "a $ b");
    }

    async fn database() -> (tempfile::TempDir, super::super::Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let db = super::super::Db::connect(&url).await.unwrap();
        sqlx::raw_sql("CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, note TEXT)")
            .execute(db.writer())
            .await
            .unwrap();
        (dir, db)
    }

    fn insert(k: &str, n: i64, note: Option<&str>) -> Statement {
        Statement::new(
            "INSERT INTO t (k, n, note) VALUES ($1, $2, $3)",
            vec![k.into(), n.into(), note.into()],
        )
    }

    #[tokio::test]
    async fn a_script_runs_every_statement_with_its_own_arguments() {
        let (_dir, db) = database().await;
        let mut script = Script::new();
        script.push(insert("a", 1, Some("first")));
        script.push(insert("b", 2, None));
        script.push(Statement::new(
            "UPDATE t SET n = n + $1 WHERE k IN ($2, $3)",
            vec![10.into(), "a".into(), "b".into()],
        ));
        let mut tx = db.writer().begin().await.unwrap();
        let counts = script.run(&mut tx, Backend::Sqlite).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(counts, vec![1, 1, 2]);
        let rows: Vec<(String, i64, Option<String>)> =
            sqlx::query_as("SELECT k, n, note FROM t ORDER BY k")
                .fetch_all(db.reader())
                .await
                .unwrap();
        assert_eq!(
            rows,
            vec![
                ("a".into(), 11, Some("first".into())),
                ("b".into(), 12, None)
            ]
        );
    }

    #[tokio::test]
    async fn a_failing_statement_fails_the_script_and_its_transaction_undoes_it() {
        let (_dir, db) = database().await;
        let mut script = Script::new();
        script.push(insert("a", 1, None));
        script.push(insert("a", 2, None)); // duplicate key
        let mut tx = db.writer().begin().await.unwrap();
        let err = script.run(&mut tx, Backend::Sqlite).await.unwrap_err();
        assert!(err.to_string().contains("UNIQUE"), "{err}");
        tx.rollback().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(db.reader())
            .await
            .unwrap();
        assert_eq!(n, 0);
    }
}
