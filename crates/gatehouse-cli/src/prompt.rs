//! What `gatehouse login` asks on the terminal for password providers. The password is read
//! without echo from the terminal (rpassword opens /dev/tty); a script may pipe it instead, as
//! the first line of stdin. It is never an argument: arguments are in the process list.

use std::io::{BufRead, IsTerminal, Write};

use gatehouse_proto::agent::AgentSecret;
use gatehouse_proto::ProviderType;

use crate::error::Failure;

/// The provider's wire name: the proto spelling, or one of two short aliases.
pub fn provider_name(given: &str) -> &str {
    match given {
        "email" | "password" => ProviderType::Userpass.as_str(),
        "phone" => ProviderType::PhonePassword.as_str(),
        other => other,
    }
}

/// For providers that take a password: what the username is called.
pub fn username_label(provider: &str) -> Option<&'static str> {
    match ProviderType::parse(provider) {
        Some(ProviderType::Userpass) => Some("Email address"),
        Some(ProviderType::PhonePassword) => Some("Phone number"),
        _ => None,
    }
}

/// The username, prompted on the terminal when not given.
pub fn username(given: Option<String>, label: &str) -> Result<String, Failure> {
    if let Some(name) = given.filter(|n| !n.trim().is_empty()) {
        return Ok(name.trim().to_owned());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "--username is needed when stdin is not a terminal ({} for this provider)",
            label.to_lowercase()
        )));
    }
    eprint!("{label}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::other(format!("cannot read the {}: {e}", label.to_lowercase())))?;
    let name = line.trim().to_owned();
    if name.is_empty() {
        return Err(Failure::usage(format!("no {} given", label.to_lowercase())));
    }
    Ok(name)
}

/// The password: from the terminal without echo, else the first line of stdin.
pub fn password() -> Result<AgentSecret, Failure> {
    let read = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| {
            let end = line.trim_end_matches(['\n', '\r']).len();
            line.truncate(end);
            line
        })
    };
    let password = read.map_err(|e| Failure::other(format!("cannot read the password: {e}")))?;
    if password.is_empty() {
        return Err(Failure::usage("no password given"));
    }
    Ok(AgentSecret(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_labels() {
        assert_eq!(provider_name("email"), "local-userpass");
        assert_eq!(provider_name("phone"), "phone-password");
        assert_eq!(provider_name("oauth2-github"), "oauth2-github");
        assert_eq!(username_label("local-userpass"), Some("Email address"));
        assert_eq!(username_label("phone-password"), Some("Phone number"));
        assert_eq!(username_label("oauth2-google"), None);
        assert_eq!(username_label("anon-user"), None);
    }
}
