//! `gatehoused`: parse flags and config, start logging, run the server or an admin command.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use gatehouse_server::{admin, config::Config, AppState, Server};

/// Gatehouse auth server: speaks the App Services client auth protocol over HTTP.
///
/// Settings come from built-in defaults, then the TOML file given with --config, then these
/// flags and their GATEHOUSE_* environment variables (flags win).
#[derive(Parser, Debug)]
#[command(name = "gatehoused", version)]
struct Cli {
    /// TOML configuration file (see gatehoused.example.toml).
    #[arg(long, env = "GATEHOUSE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:9090.
    #[arg(long, env = "GATEHOUSE_LISTEN", global = true)]
    listen: Option<SocketAddr>,
    /// Database: sqlite:///path/to/file.db or postgres://user:pass@host/db.
    /// Default: SQLite in the data directory.
    #[arg(long, env = "GATEHOUSE_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Directory for the SQLite database, signing keys and the dev mail outbox.
    #[arg(long, env = "GATEHOUSE_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Public origin clients use to reach this server (used in mailed links).
    #[arg(long, env = "GATEHOUSE_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// A ready local setup: app "gatehouse-dev" with anonymous, email/password and API-key
    /// login, mail to <data-dir>/outbox.jsonl, data in ./.gatehouse-dev unless --data-dir.
    #[arg(long, env = "GATEHOUSE_DEV", global = true)]
    dev: bool,
    /// Log format: "text" or "json".
    #[arg(
        long,
        env = "GATEHOUSE_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    log_format: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Operator commands against the configured database (safe while the server runs).
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand, Debug)]
enum Admin {
    /// Create a server API key; its secret is printed once.
    CreateServerKey {
        #[arg(long)]
        app: String,
        #[arg(long)]
        name: String,
    },
    /// List server API keys of an app.
    ListServerKeys {
        #[arg(long)]
        app: String,
    },
    /// Delete a server API key (and the server user it logs in as).
    RevokeServerKey {
        #[arg(long)]
        id: String,
    },
    /// List the users of an app as JSON.
    ListUsers {
        #[arg(long)]
        app: String,
    },
    /// Disable a user and end all its sessions.
    DisableUser {
        #[arg(long)]
        id: String,
    },
    /// Enable a disabled user.
    EnableUser {
        #[arg(long)]
        id: String,
    },
    /// Replace a user's custom data (a JSON object, or `null` to clear it); clients get it in
    /// their next access token.
    SetCustomData {
        #[arg(long)]
        id: String,
        #[arg(long)]
        json: String,
    },
    /// Print a user's custom data as JSON.
    GetCustomData {
        #[arg(long)]
        id: String,
    },
    /// Print a user's activity log (security events), newest first, one JSON object a line.
    Activity {
        /// The user's id.
        user_id: String,
        /// The user's app (default: the app the user belongs to).
        #[arg(long)]
        app: Option<String>,
        /// How many events, 1 ..= 1000.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Commands about one user.
    #[command(subcommand)]
    User(UserAdmin),
    /// Make a key for the admin HTTP API (`/api/admin/v1`) and print the `[admin]` line that
    /// lets it in (only the key's SHA-256 goes into the configuration).
    NewAdminKey,
    /// Check the database's integrity (SQLite integrity and foreign-key checks).
    Check,
    /// Apply the pending database migrations and exit, printing the schema version before and
    /// after as JSON (the server also migrates at start; the systemd unit runs this first).
    Migrate,
    /// Replace the access-token signing key (once for every instance when the keys are in the
    /// database). New tokens get the new key (new `kid`) within seconds, also in running
    /// servers; the old key stays in the JWKS and keeps verifying for one access-token
    /// lifetime. Refresh tokens and sessions are unaffected.
    RotateKeys,
}

#[derive(Subcommand, Debug)]
enum UserAdmin {
    /// Remove every second factor and recovery code of a user (one who lost both), so the next
    /// sign-in asks for no second factor (or, where the app requires one, enrols a new one).
    /// Recorded in the user's activity log as `mfa_reset`.
    ResetMfa {
        /// The user's id.
        user: String,
    },
}

fn build_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = match &cli.config {
        Some(path) => Config::load_file(path)?,
        None => Config::default(),
    };
    if cli.dev {
        config.apply_dev_defaults();
        if cli.data_dir.is_none() && cli.config.is_none() {
            config.data_dir = PathBuf::from(".gatehouse-dev");
        }
    }
    if let Some(v) = cli.listen {
        config.listen = v;
    }
    if let Some(v) = &cli.database_url {
        config.database_url = Some(v.clone());
    }
    if let Some(v) = &cli.data_dir {
        config.data_dir = v.clone();
    }
    if let Some(v) = &cli.public_url {
        config.public_url = Some(v.clone());
    }
    if std::env::var("GATEHOUSE_ALLOW_INSECURE_HTTP").is_ok_and(|v| v == "1" || v == "true") {
        config.allow_insecure_http = true;
    }
    Ok(config)
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init()
    } else {
        builder.init()
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_format);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehoused: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = build_config(&cli)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let dev = cli.dev;
            let server = Server::start(config).await?;
            if dev {
                let outbox = server.state.config.data_dir.join("outbox.jsonl");
                println!(
                    "gatehoused (dev) is ready\n  url:    {}\n  app id: {}\n  outbox: {}",
                    server.url(),
                    gatehouse_server::config::DEV_APP_ID,
                    outbox.display()
                );
            }
            server.run_until_signal().await
        }
        // The key file, or the shared row: nothing else of the server is started.
        Command::Admin(Admin::RotateKeys) => {
            let r = admin::rotate_keys(&config).await?;
            println!(
                "{}",
                serde_json::json!({"kid": r.new_kid, "retired": r.old_kid, "published": r.retired})
            );
            eprintln!(
                "signing key rotated: new tokens use kid {}; kid {} is still published and \
                 verifies for {} s (one access-token lifetime)",
                r.new_kid, r.old_kid, config.tokens.access_ttl_secs
            );
            Ok(())
        }
        // Before AppState::build, which would migrate without saying so.
        Command::Admin(Admin::Migrate) => {
            let m = admin::migrate(&config).await?;
            println!("{}", serde_json::to_string(&m)?);
            eprintln!("database schema: version {} -> {}", m.before, m.after);
            Ok(())
        }
        Command::Admin(cmd) => {
            let state = AppState::build(config).await?;
            let result = admin_command(&state, cmd).await;
            state.db.close().await;
            result
        }
    }
}

async fn admin_command(state: &AppState, cmd: Admin) -> anyhow::Result<()> {
    match cmd {
        Admin::CreateServerKey { app, name } => {
            let key = admin::create_server_key(state, &app, &name).await?;
            println!(
                "{}",
                serde_json::json!({"_id": key.id, "name": key.name, "key": key.key})
            );
            eprintln!("Store the key now: it is shown only this once.");
        }
        Admin::ListServerKeys { app } => println!(
            "{}",
            serde_json::to_string_pretty(&admin::list_server_keys(state, &app).await?)?
        ),
        Admin::RevokeServerKey { id } => {
            admin::revoke_server_key(state, &id).await?;
            eprintln!("server API key {id} revoked");
        }
        Admin::ListUsers { app } => println!(
            "{}",
            serde_json::to_string_pretty(&admin::list_users(state, &app).await?)?
        ),
        Admin::DisableUser { id } => {
            admin::set_user_disabled(state, &id, true).await?;
            eprintln!("user {id} disabled; its sessions ended");
        }
        Admin::EnableUser { id } => {
            admin::set_user_disabled(state, &id, false).await?;
            eprintln!("user {id} enabled");
        }
        Admin::SetCustomData { id, json } => {
            admin::set_custom_data(state, &id, &json).await?;
            eprintln!("custom data of user {id} set; clients see it at their next refresh");
        }
        Admin::GetCustomData { id } => println!(
            "{}",
            serde_json::Value::Object(admin::get_custom_data(state, &id).await?)
        ),
        Admin::Activity {
            user_id,
            app,
            limit,
        } => {
            let events = admin::activity(state, &user_id, app.as_deref(), limit).await?;
            for event in events {
                println!("{}", serde_json::to_string(&event)?);
            }
        }
        Admin::User(UserAdmin::ResetMfa { user }) => {
            let removed = admin::reset_mfa(state, &user).await?;
            eprintln!("user {user}: {removed} second factor(s) and every recovery code removed");
        }
        Admin::NewAdminKey => {
            let (key, hash) = admin::new_admin_key();
            println!("{key}");
            eprintln!(
                "Store the key now: it is shown only this once. Let it in with\n\n\
                 [admin]\nkey_sha256 = [\"{hash}\"]\n"
            );
        }
        Admin::Check => println!("{}", state.db.integrity_check().await?),
        Admin::RotateKeys => anyhow::bail!("rotate-keys runs without the database"),
        Admin::Migrate => anyhow::bail!("migrate runs before the database is opened"),
    }
    Ok(())
}
