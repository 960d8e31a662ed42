//! `gatehouse`: the desktop app's accounts for other programs. Parse the command line, run the
//! command, report a failure once (stderr, and stdout with `--json`) and exit with its code.

mod agent_client;
mod cli;
mod commands;
mod error;
mod exit;
mod git_credential;
mod launch;
mod output;
mod prompt;
mod socket;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // git reads the credential helper's stdout: it never gets JSON, even with --json.
    let json_errors = cli.json && !matches!(cli.command, cli::Command::Credential { .. });
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            output::report(&failure, json_errors);
            ExitCode::from(failure.exit)
        }
    }
}
