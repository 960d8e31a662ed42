//! One exchange with the app's agent: connect (starting the app if nothing listens), write one
//! `AgentRequest` line, read one `AgentResponse` line of at most `MAX_LINE` bytes.
//!
//! Plain blocking IO on purpose: one request per process, and no runtime to start keeps
//! `gatehouse token` fast.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use gatehouse_proto::agent::{
    AgentCommand, AgentOutcome, AgentRequest, AgentResponse, AgentResult, AGENT_PROTOCOL_VERSION,
    MAX_LINE,
};

use crate::error::Failure;
use crate::launch;
use crate::socket::{self, ConnectError};

const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// `login` waits for the person to finish in the browser or the window.
const LOGIN_WAIT: Duration = Duration::from_secs(10 * 60);
/// Commands behind consent wait for the person; the app ends an unanswered prompt sooner
/// (`GATEHOUSE_CONSENT_TIMEOUT_SECS`, at most 10 min) and answers `consent_timeout`.
const CONSENT_WAIT: Duration = Duration::from_secs(11 * 60);
/// The others only read the app's state or make one call to the server.
const PLAIN_WAIT: Duration = Duration::from_secs(60);

/// How long to wait for the answer to `command`.
pub fn answer_timeout(command: &AgentCommand) -> Duration {
    match command {
        AgentCommand::Login(_) => LOGIN_WAIT,
        AgentCommand::Token { .. }
        | AgentCommand::Credential { .. }
        | AgentCommand::ApiKey { .. } => CONSENT_WAIT,
        AgentCommand::Status | AgentCommand::Switch { .. } | AgentCommand::Logout { .. } => {
            PLAIN_WAIT
        }
    }
}

/// Ask the agent; an error answer becomes a `Failure` with its exit code.
pub fn ask(command: AgentCommand) -> Result<AgentResult, Failure> {
    let socket = socket::path()?;
    let wait = answer_timeout(&command);
    let stream = match socket::connect(&socket) {
        Ok(stream) => stream,
        Err(ConnectError::NotRunning) => launch::start_and_connect(&socket)?,
        Err(ConnectError::Failed(failure)) => return Err(failure),
    };
    let response = exchange(stream, &socket, &AgentRequest::new(command), wait)?;
    match response.outcome {
        AgentOutcome::Ok(result) => Ok(result),
        AgentOutcome::Error(error) => Err(Failure::agent(error)),
    }
}

/// Write the request line and read the answer line.
fn exchange(
    mut stream: UnixStream,
    socket: &Path,
    request: &AgentRequest,
    wait: Duration,
) -> Result<AgentResponse, Failure> {
    let mut line = serde_json::to_vec(request)
        .map_err(|e| Failure::other(format!("cannot encode the request: {e}")))?;
    line.push(b'\n');
    if line.len() > MAX_LINE {
        return Err(Failure::usage(format!(
            "the request is longer than the agent accepts ({MAX_LINE} bytes)"
        )));
    }
    let io_failure = |e: io::Error| {
        Failure::unreachable(format!(
            "the Gatehouse agent at {} broke off: {e}",
            socket.display()
        ))
    };
    stream
        .set_write_timeout(Some(WRITE_TIMEOUT))
        .map_err(io_failure)?;
    stream.set_read_timeout(Some(wait)).map_err(io_failure)?;
    // The write side stays open until the answer is read: the app may take a hang-up as the
    // program having gone away (and drop its consent prompt).
    let written = stream.write_all(&line);
    let mut answer = Vec::new();
    let read = BufReader::new((&stream).take(MAX_LINE as u64)).read_until(b'\n', &mut answer);
    match (written, read) {
        // An agent that refuses at once may close before reading: its answer still counts.
        (_, Ok(n)) if n > 0 => parse(&answer, socket),
        (Err(e), _) => Err(io_failure(e)),
        (Ok(()), Ok(_)) => Err(not_an_agent(socket)),
        (Ok(()), Err(e))
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(Failure::unreachable(format!(
                "the Gatehouse app did not answer within {} s",
                wait.as_secs()
            )))
        }
        (Ok(()), Err(e)) => Err(io_failure(e)),
    }
}

/// Read an answer line: another version is said as such, anything else that is not a v1
/// response is "not an agent".
pub fn parse(line: &[u8], socket: &Path) -> Result<AgentResponse, Failure> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|_| not_an_agent(socket))?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| not_an_agent(socket))?;
    if version != u64::from(AGENT_PROTOCOL_VERSION) {
        let advice = if version < u64::from(AGENT_PROTOCOL_VERSION) {
            "restart the app after updating"
        } else {
            "update this command to the app's version"
        };
        return Err(Failure::version_mismatch(format!(
            "the running Gatehouse app speaks agent protocol v{version}, this command speaks \
             v{AGENT_PROTOCOL_VERSION}: {advice}"
        )));
    }
    serde_json::from_value(value).map_err(|_| not_an_agent(socket))
}

fn not_an_agent(socket: &Path) -> Failure {
    Failure::not_an_agent(format!(
        "the socket at {} did not answer as a Gatehouse agent (an older app?)",
        socket.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit;

    #[test]
    fn other_versions_and_garbage_are_told_apart() {
        let socket = Path::new("/run/user/1/gatehouse/agent.sock");
        let old = parse(
            br#"{"version":0,"error":{"code":"x","message":"?"}}"#,
            socket,
        )
        .unwrap_err();
        assert_eq!(old.exit, exit::PROTOCOL);
        assert!(
            old.message.contains("speaks agent protocol v0"),
            "{}",
            old.message
        );
        assert!(old.message.contains("restart the app after updating"));
        let newer = parse(br#"{"version":2,"ok":{"kind":"done"}}"#, socket).unwrap_err();
        assert!(newer.message.contains("v2"), "{}", newer.message);
        for garbage in [
            &b"HTTP/1.1 400 Bad Request\r\n"[..],
            b"{}",
            b"[1]",
            b"{\"version\":1}",
        ] {
            let f = parse(garbage, socket).unwrap_err();
            assert_eq!(f.exit, exit::PROTOCOL);
            assert_eq!(
                f.message,
                "the socket at /run/user/1/gatehouse/agent.sock did not answer as a Gatehouse \
                 agent (an older app?)"
            );
        }
        let ok = parse(b"{\"version\":1,\"ok\":{\"kind\":\"done\"}}\n", socket).unwrap();
        assert_eq!(ok.outcome, AgentOutcome::Ok(AgentResult::Done));
    }

    #[test]
    fn consent_commands_wait_longer_than_the_apps_longest_prompt() {
        let token = AgentCommand::Token {
            select: Default::default(),
        };
        assert!(answer_timeout(&token) > Duration::from_secs(600));
        assert_eq!(answer_timeout(&AgentCommand::Status), PLAIN_WAIT);
    }
}
