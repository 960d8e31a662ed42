//! git's credential helper protocol (gitcredentials(7), git-credential(1)): git writes
//! `key=value` lines ending with a blank line (or EOF) to our stdin; for `get` we answer with
//! `username=` and `password=` lines. `store` and `erase` are no-ops: the app owns the sessions
//! and the tokens we hand out are short-lived, so there is nothing for git to store or erase.

use std::io::{self, BufRead, Read};

use crate::error::Failure;

/// The most input we read: git sends a few short lines.
const MAX_INPUT: u64 = 64 * 1024;

/// What git asked about. Other keys (`username`, `wwwauth[]`, `capability[]`, …) are read and
/// ignored.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Query {
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
}

/// Read the attributes up to a blank line or EOF. A later value for the same key wins, as in
/// git.
pub fn read_query(input: impl Read) -> io::Result<Query> {
    let mut query = Query::default();
    let mut reader = io::BufReader::new(input.take(MAX_INPUT));
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let slot = match key {
            "protocol" => &mut query.protocol,
            "host" => &mut query.host,
            "path" => &mut query.path,
            _ => continue,
        };
        *slot = Some(value.to_owned());
    }
    Ok(query)
}

/// Drain what git sends for `store` and `erase` so it never sees a broken pipe.
pub fn drain(input: impl Read) -> io::Result<()> {
    io::copy(&mut input.take(MAX_INPUT), &mut io::sink()).map(|_| ())
}

/// The answer to `get`. A value with a line break (or NUL) would let it add attributes of its
/// own to git's input, so it is refused.
pub fn answer(username: &str, password: &str) -> Result<String, Failure> {
    let bad = |v: &str| v.contains(['\n', '\r', '\0']);
    if bad(username) || bad(password) {
        return Err(Failure::other(
            "the app answered a credential with a line break in it; nothing was given to git",
        ));
    }
    Ok(format!("username={username}\npassword={password}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_blank_line() {
        let input = "protocol=https\nhost=git.example:8443\npath=team/repo.git\n\
                     wwwauth[]=Basic realm=\"x\"\ncapability[]=authtype\nnonsense\n\n\
                     host=after.blank\n";
        let q = read_query(input.as_bytes()).unwrap();
        assert_eq!(
            q,
            Query {
                protocol: Some("https".into()),
                host: Some("git.example:8443".into()),
                path: Some("team/repo.git".into()),
            }
        );
    }

    #[test]
    fn eof_ends_the_input_and_later_values_win() {
        let q = read_query("host=a\r\nhost=b".as_bytes()).unwrap();
        assert_eq!(q.host.as_deref(), Some("b"));
        assert_eq!(q.protocol, None);
        assert_eq!(read_query(&b""[..]).unwrap(), Query::default());
    }

    #[test]
    fn answers_two_lines_and_refuses_injected_lines() {
        assert_eq!(
            answer("ada@example.test", "eyJ.x.y").unwrap(),
            "username=ada@example.test\npassword=eyJ.x.y\n"
        );
        assert!(answer("ada\nhost=evil", "t").is_err());
        assert!(answer("ada", "t\0").is_err());
    }
}
