//! Each subcommand: build its agent request, ask, print the answer. A token is printed only on
//! stdout and only by `token` (and `credential get`, to git); `exec` hands it to the program
//! in its environment, never as an argument.

use std::io::IsTerminal;
use std::os::unix::process::CommandExt;

use clap::CommandFactory;
use gatehouse_proto::agent::{
    AccountSelector, AgentCommand, AgentErrorCode, AgentResult, AgentToken, ApiKeyAction,
    LoginRequest,
};
use serde::Serialize;

use crate::agent_client::ask;
use crate::cli::{ApiKeyCommand, Cli, Command, Select};
use crate::error::Failure;
use crate::git_credential;
use crate::output::{self, print};
use crate::prompt;

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    let json = cli.json;
    match cli.command {
        Command::Status => {
            let status = status()?;
            print(&if json {
                output::json(&status)?
            } else {
                output::status(&status)
            })
        }
        Command::Accounts => {
            let status = status()?;
            print(&if json {
                output::json(&Accounts {
                    accounts: &status.accounts,
                })?
            } else {
                output::accounts(&status.accounts)
            })
        }
        Command::Switch {
            account,
            connection,
        } => {
            let select = selector(Some(account), connection);
            let AgentResult::Account(account) = ask(AgentCommand::Switch { select })? else {
                return Err(unexpected("switch"));
            };
            print(&if json {
                output::json(&account)?
            } else {
                format!("Switched to {}.\n", output::account_line(&account))
            })
        }
        Command::Token { select } => {
            let token = token(select)?;
            print(&if json {
                output::json(&token)?
            } else {
                format!("{}\n", token.access_token.expose())
            })
        }
        Command::Exec {
            select,
            token_env,
            command,
        } => exec(select, &token_env, &command),
        Command::Login {
            connection,
            provider,
            username,
        } => login(connection, &provider, username, json),
        Command::Logout {
            account,
            connection,
        } => {
            let select = selector(Some(account.clone()), connection);
            let AgentResult::Status(status) = ask(AgentCommand::Logout { select })? else {
                return Err(unexpected("logout"));
            };
            print(&if json {
                output::json(&status)?
            } else {
                format!("Signed out {account}.\n")
            })
        }
        Command::ApiKey(command) => api_key(command, json),
        Command::Credential { operation } => credential(&operation),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "gatehouse", &mut out);
            print(&String::from_utf8_lossy(&out))
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| Failure::other(format!("cannot render the man page: {e}")))?;
            print(&String::from_utf8_lossy(&out))
        }
    }
}

#[derive(Serialize)]
struct Accounts<'a> {
    accounts: &'a [gatehouse_proto::agent::AgentAccount],
}

fn selector(account: Option<String>, connection: Option<String>) -> AccountSelector {
    AccountSelector {
        account,
        connection,
    }
}

fn from_select(select: Select) -> AccountSelector {
    selector(select.account, select.connection)
}

/// The agent answered with another kind of result than the command asks for.
fn unexpected(command: &str) -> Failure {
    Failure::not_an_agent(format!(
        "the Gatehouse app answered `{command}` with something else (another version?)"
    ))
}

fn status() -> Result<gatehouse_proto::agent::AgentStatus, Failure> {
    match ask(AgentCommand::Status)? {
        AgentResult::Status(status) => Ok(status),
        _ => Err(unexpected("status")),
    }
}

fn token(select: Select) -> Result<AgentToken, Failure> {
    let select = from_select(select);
    match ask(AgentCommand::Token { select })? {
        AgentResult::Token(token) => Ok(token),
        _ => Err(unexpected("token")),
    }
}

/// Replace this process with the program (so its exit code and signals are its own), the
/// token in its environment.
fn exec(select: Select, token_env: &str, command: &[std::ffi::OsString]) -> Result<(), Failure> {
    let Some((program, args)) = command.split_first() else {
        return Err(Failure::usage("no program to run"));
    };
    let token = token(select)?;
    let error = std::process::Command::new(program)
        .args(args)
        .env(token_env, token.access_token.expose())
        .env("GATEHOUSE_BASE_URL", &token.base_url)
        .env("GATEHOUSE_APP_ID", &token.app_id)
        .exec();
    Err(Failure::exec(&program.to_string_lossy(), &error))
}

fn login(
    connection: Option<String>,
    provider: &str,
    username: Option<String>,
    json: bool,
) -> Result<(), Failure> {
    let provider = prompt::provider_name(provider).to_owned();
    let (username, password) = match prompt::username_label(&provider) {
        Some(label) => (
            Some(prompt::username(username, label)?),
            Some(prompt::password()?),
        ),
        None => {
            if std::io::stderr().is_terminal() {
                eprintln!("gatehouse: finish signing in in your browser or the Gatehouse window…");
            }
            (username, None)
        }
    };
    let request = LoginRequest {
        connection,
        provider,
        username,
        password,
    };
    let AgentResult::Account(account) = ask(AgentCommand::Login(request))? else {
        return Err(unexpected("login"));
    };
    print(&if json {
        output::json(&account)?
    } else {
        format!("Signed in as {}.\n", output::account_line(&account))
    })
}

fn api_key(command: ApiKeyCommand, json: bool) -> Result<(), Failure> {
    let (select, action) = match command {
        ApiKeyCommand::List { select } => (select, ApiKeyAction::List),
        ApiKeyCommand::Create { name, select } => (select, ApiKeyAction::Create { name }),
        ApiKeyCommand::Enable { id, select } => (select, ApiKeyAction::Enable { id }),
        ApiKeyCommand::Disable { id, select } => (select, ApiKeyAction::Disable { id }),
        ApiKeyCommand::Delete { id, select } => (select, ApiKeyAction::Delete { id }),
    };
    let done = match &action {
        ApiKeyAction::Enable { id } => format!("Enabled API key {id}.\n"),
        ApiKeyAction::Disable { id } => format!("Disabled API key {id}.\n"),
        ApiKeyAction::Delete { id } => format!("Deleted API key {id}.\n"),
        ApiKeyAction::List | ApiKeyAction::Create { .. } => String::new(),
    };
    let select = from_select(select);
    let text = match ask(AgentCommand::ApiKey { select, action })? {
        AgentResult::ApiKeys { keys } if json => output::json(&ApiKeys { keys: &keys })?,
        AgentResult::ApiKeys { keys } => output::api_keys(&keys),
        AgentResult::NewApiKey { key, secret } if json => {
            #[derive(Serialize)]
            struct NewKey<'a> {
                key: &'a gatehouse_proto::agent::AgentApiKey,
                secret: &'a str,
            }
            output::json(&NewKey {
                key: &key,
                secret: secret.expose(),
            })?
        }
        AgentResult::NewApiKey { key, secret } => format!(
            "Created API key \"{}\" (id {}). Its secret:\n{}\n\
             It will not be shown again: store it now.\n",
            key.name,
            key.id,
            secret.expose()
        ),
        AgentResult::Done if json => "{\"ok\":true}\n".to_owned(),
        AgentResult::Done => done,
        _ => return Err(unexpected("api-key")),
    };
    print(&text)
}

#[derive(Serialize)]
struct ApiKeys<'a> {
    keys: &'a [gatehouse_proto::agent::AgentApiKey],
}

/// git's side: `get` answers or stays silent (so git asks its next helper); `store`, `erase`
/// and operations git may add later read their input and do nothing.
fn credential(operation: &str) -> Result<(), Failure> {
    let stdin = std::io::stdin().lock();
    let read_failed = |e: std::io::Error| Failure::other(format!("cannot read git's input: {e}"));
    if operation != "get" {
        return git_credential::drain(stdin).map_err(read_failed);
    }
    let query = git_credential::read_query(stdin).map_err(read_failed)?;
    let (Some(protocol), Some(host)) = (query.protocol, query.host) else {
        return Ok(());
    };
    let command = AgentCommand::Credential {
        protocol,
        host,
        path: query.path,
    };
    match ask(command) {
        Ok(AgentResult::Credential(c)) => {
            print(&git_credential::answer(&c.username, c.password.expose())?)
        }
        Ok(_) => Err(unexpected("credential")),
        Err(f) if f.code == AgentErrorCode::NoMapping.as_str() => Ok(()),
        Err(f) => Err(f),
    }
}
