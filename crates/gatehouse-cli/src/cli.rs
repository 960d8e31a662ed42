//! The command line, defined once: `--help`, the shell completions (`gatehouse completions`)
//! and the man page (`gatehouse man`) are all generated from these types.

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand};

use crate::exit;

/// Use the accounts of the Gatehouse desktop app from the terminal, scripts and git.
///
/// The running app holds the sessions; this command asks it over a local socket for what a
/// program needs: a short-lived access token, a git credential. The app asks you once per
/// program before it hands anything out. When the app is not running it is started in the
/// background (tray only).
#[derive(Parser, Debug)]
#[command(name = "gatehouse", version, after_help = exit::HELP)]
pub struct Cli {
    /// Print JSON on stdout instead of text; errors also print {"error":{"code","message"}}.
    #[arg(long, global = true, display_order = 900)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Which account: by email, display name or id; by default the active one.
#[derive(Args, Debug, Clone, Default)]
pub struct Select {
    /// The account: its email, display name or id (default: the active account).
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
    /// The connection (server) the account belongs to: its name or id.
    #[arg(long, value_name = "CONNECTION")]
    pub connection: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show the connections, the accounts, the active one and when each must sign in again.
    Status,
    /// List the accounts and their states.
    Accounts,
    /// Make an account the active one.
    Switch {
        /// The account: its email, display name or id.
        account: String,
        /// The connection the account belongs to: its name or id.
        #[arg(long, value_name = "CONNECTION")]
        connection: Option<String>,
    },
    /// Print a fresh access token for the active or the named account.
    ///
    /// The token is short-lived: ask again rather than storing it. Example:
    ///
    ///   curl -H "Authorization: Bearer $(gatehouse token)" https://api.example.com/
    #[command(verbatim_doc_comment)]
    Token {
        #[command(flatten)]
        select: Select,
    },
    /// Run a program with an access token in its environment.
    ///
    /// Sets the token variable (GATEHOUSE_ACCESS_TOKEN unless --token-env names another),
    /// GATEHOUSE_BASE_URL and GATEHOUSE_APP_ID, then runs the program in place of this command:
    /// its exit code is this command's exit code.
    Exec {
        #[command(flatten)]
        select: Select,
        /// The environment variable that receives the access token.
        #[arg(
            long,
            value_name = "NAME",
            default_value = "GATEHOUSE_ACCESS_TOKEN",
            value_parser = env_name
        )]
        token_env: String,
        /// The program and its arguments (after --).
        #[arg(
            value_name = "COMMAND",
            required = true,
            num_args = 1..,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        command: Vec<OsString>,
    },
    /// Sign in to a connection in the app and wait for the outcome.
    ///
    /// Password providers (local-userpass, phone-password) prompt on the terminal, without
    /// echo; when stdin is not a terminal, the password is its first line. Browser providers
    /// open the browser. Prints the account signed in.
    Login {
        /// The connection to sign in to: its name or id (default: the app's default connection).
        #[arg(long, value_name = "CONNECTION")]
        connection: Option<String>,
        /// The provider: local-userpass (or email), phone-password (or phone), anon-user,
        /// oauth2-google, oauth2-github, …
        #[arg(long = "with", value_name = "PROVIDER")]
        provider: String,
        /// The email address or phone number, for password providers (prompted if missing).
        #[arg(long, value_name = "USERNAME")]
        username: Option<String>,
    },
    /// Sign an account out.
    Logout {
        /// The account: its email, display name or id.
        account: String,
        /// The connection the account belongs to: its name or id.
        #[arg(long, value_name = "CONNECTION")]
        connection: Option<String>,
    },
    /// Manage the API keys of an account.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// The git credential helper: `get`, `store`, `erase` (git's credential protocol).
    ///
    /// Map the host to an account in the app (Connections tab), then tell git:
    ///
    ///   git config --global credential.https://git.example.com.helper '!gatehouse credential'
    #[command(verbatim_doc_comment)]
    Credential {
        /// get, store or erase (git passes it; other operations are ignored, as git asks).
        #[arg(value_name = "OPERATION")]
        operation: String,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(hide = true)]
    Man,
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// List the account's API keys.
    List {
        #[command(flatten)]
        select: Select,
    },
    /// Create an API key; its secret is printed once.
    Create {
        /// A name for the key.
        name: String,
        #[command(flatten)]
        select: Select,
    },
    /// Enable a key.
    Enable {
        /// The key's id.
        id: String,
        #[command(flatten)]
        select: Select,
    },
    /// Disable a key (logins with it fail until it is enabled again).
    Disable {
        /// The key's id.
        id: String,
        #[command(flatten)]
        select: Select,
    },
    /// Delete a key.
    Delete {
        /// The key's id.
        id: String,
        #[command(flatten)]
        select: Select,
    },
}

/// An environment variable name a shell can read: `[A-Za-z_][A-Za-z0-9_]*`.
fn env_name(name: &str) -> Result<String, String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(name.to_owned())
    } else {
        Err("expected a variable name: letters, digits and _, not starting with a digit".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn exec_takes_everything_after_the_separator() {
        let cli = Cli::try_parse_from([
            "gatehouse",
            "exec",
            "--account",
            "ada",
            "--",
            "curl",
            "-s",
            "--account",
            "x",
        ])
        .unwrap();
        let Command::Exec {
            select, command, ..
        } = cli.command
        else {
            panic!("not exec");
        };
        assert_eq!(select.account.as_deref(), Some("ada"));
        assert_eq!(command, ["curl", "-s", "--account", "x"]);
    }

    #[test]
    fn token_env_must_be_a_variable_name() {
        assert!(env_name("GH_TOKEN").is_ok());
        assert!(env_name("_x1").is_ok());
        for bad in ["", "1A", "A=B", "A B", "A-B"] {
            assert!(env_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_is_accepted_before_and_after_the_command() {
        assert!(
            Cli::try_parse_from(["gatehouse", "--json", "accounts"])
                .unwrap()
                .json
        );
        assert!(
            Cli::try_parse_from(["gatehouse", "accounts", "--json"])
                .unwrap()
                .json
        );
        let cli = Cli::try_parse_from(["gatehouse", "api-key", "list", "--account", "a", "--json"])
            .unwrap();
        assert!(cli.json);
    }
}
