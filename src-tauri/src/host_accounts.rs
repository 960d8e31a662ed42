//! Which account the git credential helper answers for which host ("use this account for these
//! hosts" on the Connections tab). Stored in `settings.json`; one account per host. Hosts are
//! kept as git sends them: lower-cased, with `:port` when one is given.

use std::sync::Arc;

use crate::desktop::Desktop;
use crate::error::{DesktopError, Result};
use crate::settings::HostMapping;
use crate::sync::lock;
use crate::views::HostMappingView;

/// `host` trimmed and lower-cased, when it is a host name or address with an optional port:
/// letters, digits, `.` and `-`, then `:digits`.
pub fn normalise_host(host: &str) -> Option<String> {
    let h = host.trim().to_ascii_lowercase();
    let (name, port) = match h.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (h.as_str(), None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.chars().all(|c| c.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
    });
    (name_ok && port_ok).then_some(h)
}

impl Desktop {
    pub async fn account_hosts(self: &Arc<Self>) -> Vec<HostMappingView> {
        self.ready().await;
        let list = lock(&self.settings).host_mappings.clone();
        let conns = self.connections.read().await;
        list.into_iter()
            .map(|m| {
                let account_name = conns
                    .iter()
                    .find(|c| c.id == m.connection)
                    .and_then(|c| crate::desktop::find_user(c, &m.user))
                    .map(|u| crate::views::display_name(&u))
                    .unwrap_or_else(|| m.user.clone());
                HostMappingView {
                    host: m.host,
                    connection: m.connection,
                    user: m.user,
                    account_name,
                }
            })
            .collect()
    }

    /// Replaces the hosts of one account. A host another account had moves to this one.
    pub async fn set_account_hosts(
        self: &Arc<Self>,
        connection: &str,
        user: &str,
        hosts: &[String],
    ) -> Result<Vec<HostMappingView>> {
        self.user(connection, user).await?;
        let mut clean: Vec<String> = Vec::new();
        for h in hosts.iter().filter(|h| !h.trim().is_empty()) {
            let n = normalise_host(h).ok_or_else(|| {
                DesktopError::InvalidInput(format!(
                    "{:?} is not a host name (letters, digits, dots and dashes, optionally \
                     :port — like github.com or git.example.com:8443)",
                    h.trim()
                ))
            })?;
            if !clean.contains(&n) {
                clean.push(n);
            }
        }
        {
            let mut s = lock(&self.settings);
            s.host_mappings.retain(|m| {
                let this_account = m.connection == connection && m.user == user;
                let moving = clean.contains(&m.host);
                !this_account && !moving
            });
            s.host_mappings
                .extend(clean.into_iter().map(|host| HostMapping {
                    host,
                    connection: connection.into(),
                    user: user.into(),
                }));
            s.host_mappings.sort_by(|a, b| a.host.cmp(&b.host));
        }
        self.save_settings().await?;
        Ok(self.account_hosts().await)
    }

    /// The account mapped to `host` (as git sends it), if any.
    pub(crate) fn host_account(&self, host: &str) -> Option<HostMapping> {
        let host = normalise_host(host)?;
        lock(&self.settings)
            .host_mappings
            .iter()
            .find(|m| m.host == host)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_host;

    #[test]
    fn hosts_are_checked_and_lower_cased() {
        assert_eq!(
            normalise_host(" GitHub.com ").as_deref(),
            Some("github.com")
        );
        assert_eq!(
            normalise_host("git.example.test:8443").as_deref(),
            Some("git.example.test:8443")
        );
        for bad in [
            "",
            "a b",
            "x/y",
            "h:",
            "h:99999",
            "h:1:2",
            "-x",
            "https://h",
            "h:p",
        ] {
            assert_eq!(normalise_host(bad), None, "{bad}");
        }
    }
}
