//! `Failure`: the one error type of the command. It carries what the person reads (a message
//! for stderr), what a script reads (a stable code for `--json`) and the exit code. Messages
//! never contain a token: they are built from the agent's messages, paths and OS errors only.

use gatehouse_proto::agent::{AgentAccount, AgentError};

use crate::exit;

#[derive(Debug)]
pub struct Failure {
    /// The process exit code (see `exit`).
    pub exit: u8,
    /// A stable code for `--json`: the agent's code, or one of the CLI's own below.
    pub code: &'static str,
    pub message: String,
    /// For an ambiguous account: the accounts that matched.
    pub candidates: Vec<AgentAccount>,
}

impl Failure {
    fn new(exit: u8, code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            code,
            message: message.into(),
            candidates: Vec::new(),
        }
    }

    /// An error the agent answered.
    pub fn agent(error: AgentError) -> Failure {
        Failure {
            exit: exit::for_agent_error(error.code),
            code: error.code.as_str(),
            message: error.message,
            candidates: error.candidates,
        }
    }

    /// The app is not running and cannot be started, or does not answer.
    pub fn unreachable(message: impl Into<String>) -> Failure {
        Failure::new(exit::UNREACHABLE, "app_unreachable", message)
    }

    /// The app answered in another protocol version.
    pub fn version_mismatch(message: impl Into<String>) -> Failure {
        Failure::new(exit::PROTOCOL, "version_mismatch", message)
    }

    /// Something answered on the socket, but not as a Gatehouse agent.
    pub fn not_an_agent(message: impl Into<String>) -> Failure {
        Failure::new(exit::PROTOCOL, "not_an_agent", message)
    }

    /// Flags that parse but do not make sense together (clap reports the others).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(exit::USAGE, "usage", message)
    }

    pub fn other(message: impl Into<String>) -> Failure {
        Failure::new(exit::OTHER, "other", message)
    }

    /// A program `exec` could not start: 127 when it was not found, 126 otherwise (as shells
    /// do, so scripts that check for "command not found" keep working).
    pub fn exec(program: &str, error: &std::io::Error) -> Failure {
        let exit = if error.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        };
        Failure::new(
            exit,
            "exec_failed",
            format!("cannot run {program}: {error}"),
        )
    }
}
