//! Exit codes: the one table scripts can rely on (docs/cli.md repeats it, `--help` lists it).
//! An agent's error code maps to an exit code in [`for_agent_error`], nowhere else.

use gatehouse_proto::agent::AgentErrorCode;

/// Anything not covered below (an IO error, a program `exec` could not run, a bad request).
pub const OTHER: u8 = 1;
/// Usage: bad flags or arguments (clap uses the same code).
pub const USAGE: u8 = 2;
/// The app is not reachable: not running and cannot be started (no display, binary missing,
/// start timed out), or it did not answer in time.
pub const UNREACHABLE: u8 = 3;
/// Unknown or ambiguous account or connection (also: no account mapped to a git host).
pub const ACCOUNT: u8 = 4;
/// The person denied the request, or nobody answered the consent prompt in time.
pub const CONSENT: u8 = 5;
/// The account must sign in again (also when the server wants a recent sign-in).
pub const SIGN_IN_AGAIN: u8 = 6;
/// The running app speaks another agent protocol version (or is not a Gatehouse agent).
pub const PROTOCOL: u8 = 7;
/// The server is unavailable or refused the request.
pub const SERVER: u8 = 8;
/// A sign-in started by `gatehouse login` failed, was cancelled, or cannot be done from here.
pub const SIGN_IN_FAILED: u8 = 9;

/// The table for `--help` (after the commands).
pub const HELP: &str = "\
Exit codes:
  0  success
  1  other error
  2  usage error
  3  the Gatehouse app is not reachable (not running and cannot be started)
  4  unknown or ambiguous account or connection
  5  consent denied or not answered
  6  the account must sign in again
  7  agent protocol version mismatch (restart or update the app)
  8  the server is unavailable or refused the request
  9  sign-in failed";

/// The exit code for an error the agent answered.
pub fn for_agent_error(code: AgentErrorCode) -> u8 {
    match code {
        AgentErrorCode::VersionMismatch => PROTOCOL,
        AgentErrorCode::UnknownAccount
        | AgentErrorCode::AmbiguousAccount
        | AgentErrorCode::UnknownConnection
        | AgentErrorCode::NoMapping => ACCOUNT,
        AgentErrorCode::ConsentDenied | AgentErrorCode::ConsentTimeout => CONSENT,
        AgentErrorCode::SignInRequired | AgentErrorCode::RecentSignInRequired => SIGN_IN_AGAIN,
        AgentErrorCode::Unavailable | AgentErrorCode::Server => SERVER,
        AgentErrorCode::SignInFailed | AgentErrorCode::UnsupportedProvider => SIGN_IN_FAILED,
        AgentErrorCode::BadRequest | AgentErrorCode::Forbidden | AgentErrorCode::Other => OTHER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AgentErrorCode::*;

    #[test]
    fn every_agent_code_has_the_contract_exit_code() {
        let table = [
            (VersionMismatch, 7),
            (BadRequest, 1),
            (Forbidden, 1),
            (UnknownAccount, 4),
            (AmbiguousAccount, 4),
            (UnknownConnection, 4),
            (ConsentDenied, 5),
            (ConsentTimeout, 5),
            (SignInRequired, 6),
            (RecentSignInRequired, 6),
            (NoMapping, 4),
            (SignInFailed, 9),
            (UnsupportedProvider, 9),
            (Unavailable, 8),
            (Server, 8),
            (Other, 1),
        ];
        for (code, exit) in table {
            assert_eq!(for_agent_error(code), exit, "{}", code.as_str());
        }
    }

    #[test]
    fn the_help_lists_every_code_once() {
        for n in 0..=9 {
            let line = format!("\n  {n}  ");
            assert_eq!(HELP.matches(&line).count(), 1, "exit code {n}");
        }
    }
}
