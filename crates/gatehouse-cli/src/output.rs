//! What the command prints: text for people (aligned tables, dates in UTC) or, with `--json`,
//! the agent's own shapes. Errors go to stderr as `gatehouse: <message>`; with `--json` they
//! are also printed on stdout as `{"error":{"code","message"[,"candidates"]}}`.

use std::io::Write;

use gatehouse_proto::agent::{AgentAccount, AgentApiKey, AgentStatus};
use serde::Serialize;

use crate::error::Failure;

/// Write to stdout (all at once, flushed).
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::other(format!("cannot write to stdout: {e}")))
}

/// One JSON document and a newline.
pub fn json(value: &impl Serialize) -> Result<String, Failure> {
    serde_json::to_string(value)
        .map(|s| s + "\n")
        .map_err(|e| Failure::other(format!("cannot encode the output: {e}")))
}

/// Tell the person (stderr) and, with `--json`, the script (stdout) what went wrong.
pub fn report(failure: &Failure, as_json: bool) {
    let mut text = format!("gatehouse: {}\n", failure.message);
    if !failure.candidates.is_empty() {
        text.push_str(&table(
            failure
                .candidates
                .iter()
                .map(|a| {
                    vec![
                        a.display_name.clone(),
                        a.email.clone().unwrap_or_else(|| "-".into()),
                        a.connection_name.clone(),
                        a.id.clone(),
                    ]
                })
                .collect(),
            "  ",
        ));
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
    if as_json {
        #[derive(Serialize)]
        struct ErrorBody<'a> {
            code: &'a str,
            message: &'a str,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            candidates: &'a [AgentAccount],
        }
        #[derive(Serialize)]
        struct Wrapper<'a> {
            error: ErrorBody<'a>,
        }
        let body = Wrapper {
            error: ErrorBody {
                code: failure.code,
                message: &failure.message,
                candidates: &failure.candidates,
            },
        };
        if let Ok(line) = json(&body) {
            let _ = print(&line);
        }
    }
}

/// `gatehouse status`.
pub fn status(status: &AgentStatus) -> String {
    let mut out = format!(
        "Gatehouse {} (tokens kept in {})\n\n",
        status.app_version, status.storage
    );
    if status.connections.is_empty() {
        out.push_str("Connections: none (add one in the app)\n");
    } else {
        out.push_str("Connections:\n");
        let rows = status
            .connections
            .iter()
            .map(|c| {
                let state = match &c.problem {
                    Some(problem) => format!("{} ({problem})", c.status),
                    None => c.status.clone(),
                };
                vec![c.name.clone(), c.url.clone(), state]
            })
            .collect();
        out.push_str(&table(rows, "  "));
    }
    out.push('\n');
    if status.accounts.is_empty() {
        out.push_str(
            "Accounts: none. Sign in with `gatehouse login --with PROVIDER` or in the app.\n",
        );
    } else {
        out.push_str("Accounts:\n");
        out.push_str(&accounts(&status.accounts));
    }
    out
}

/// `gatehouse accounts`: one row each, the active one marked with `*`.
pub fn accounts(accounts: &[AgentAccount]) -> String {
    if accounts.is_empty() {
        return "No accounts. Sign in with `gatehouse login --with PROVIDER` or in the app.\n"
            .into();
    }
    let rows = accounts
        .iter()
        .map(|a| {
            let mark = if a.active { "*" } else { " " };
            let reauth = match (a.state.as_str(), a.reauth_at) {
                ("logged_out", _) => "must sign in again".to_owned(),
                (_, Some(at)) => format!("signs in again by {}", date(at)),
                (_, None) => String::new(),
            };
            vec![
                format!("{mark} {}", a.display_name),
                a.email.clone().unwrap_or_else(|| "-".into()),
                a.connection_name.clone(),
                state_word(&a.state).to_owned(),
                reauth,
            ]
        })
        .collect();
    table(rows, "")
}

/// "Ada Lovelace <ada@example.test> on Work".
pub fn account_line(a: &AgentAccount) -> String {
    match &a.email {
        Some(email) if *email != a.display_name => {
            format!("{} <{email}> on {}", a.display_name, a.connection_name)
        }
        _ => format!("{} on {}", a.display_name, a.connection_name),
    }
}

/// `gatehouse api-key list`.
pub fn api_keys(keys: &[AgentApiKey]) -> String {
    if keys.is_empty() {
        return "No API keys.\n".into();
    }
    let mut rows = vec![vec![
        "ID".to_owned(),
        "NAME".to_owned(),
        "ENABLED".to_owned(),
        "CREATED".to_owned(),
    ]];
    rows.extend(keys.iter().map(|k| {
        vec![
            k.id.clone(),
            k.name.clone(),
            if k.enabled { "yes" } else { "no" }.to_owned(),
            k.created_at.map(date).unwrap_or_default(),
        ]
    }));
    table(rows, "")
}

fn state_word(state: &str) -> &str {
    match state {
        "logged_in" => "signed in",
        "logged_out" => "signed out",
        other => other,
    }
}

/// Rows as aligned columns (the last column unpadded), each line starting with `indent`.
fn table(rows: Vec<Vec<String>>, indent: &str) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = indent.to_owned();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC` (no time-zone database: UTC says what it is).
pub fn date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3_600,
        secs % 3_600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, email: Option<&str>, state: &str, active: bool) -> AgentAccount {
        AgentAccount {
            connection: "c1".into(),
            connection_name: "Work".into(),
            id: format!("id-{name}"),
            display_name: name.into(),
            email: email.map(Into::into),
            provider: None,
            state: state.into(),
            active,
            reauth_at: Some(1_767_225_600),
        }
    }

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        assert_eq!(date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(date(1_767_225_600 + 3_660), "2026-01-01 01:01 UTC");
        assert_eq!(date(-86_400), "1969-12-31 00:00 UTC");
    }

    #[test]
    fn the_active_account_is_marked_and_columns_align() {
        let text = accounts(&[
            account("Ada", Some("ada@example.test"), "active", true),
            account("Robert", None, "logged_out", false),
        ]);
        assert_eq!(
            text,
            "* Ada     ada@example.test  Work  active      signs in again by 2026-01-01 00:00 UTC\n\
             \x20 Robert  -                 Work  signed out  must sign in again\n"
        );
    }

    #[test]
    fn status_works_with_nothing() {
        let text = status(&AgentStatus {
            app_version: "0.1.0".into(),
            storage: "the OS keychain".into(),
            connections: vec![],
            accounts: vec![],
        });
        assert!(text.contains("Accounts: none."), "{text}");
        assert!(text.contains("Connections: none"), "{text}");
    }

    #[test]
    fn account_lines_skip_a_repeated_email() {
        let a = account("Ada", Some("ada@example.test"), "active", true);
        assert_eq!(account_line(&a), "Ada <ada@example.test> on Work");
        let b = account("b@example.test", Some("b@example.test"), "active", true);
        assert_eq!(account_line(&b), "b@example.test on Work");
    }
}
