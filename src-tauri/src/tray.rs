//! The tray indicator (StatusNotifierItem/AppIndicator on Linux): the active account, a
//! one-click switch to any signed-in account, "Open Gatehouse" and "Quit Gatehouse". The menu
//! is first a plain model built from the [`Overview`] (unit-tested here), then Tauri menu items
//! built from the model; it is rebuilt whenever the accounts change.

use std::sync::Arc;

use tauri::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Runtime};

use crate::views::{AccountState, Overview};
use crate::Desktop;

/// The tray's id (`AppHandle::tray_by_id`).
pub const TRAY_ID: &str = "gatehouse";
pub const HEADER_ID: &str = "active";
pub const SWITCH_TITLE_ID: &str = "switch-title";
pub const OPEN_ID: &str = "open";
pub const QUIT_ID: &str = "quit";
const SWITCH_PREFIX: &str = "switch:";
pub const NO_ACCOUNT: &str = "No account signed in";

/// What the tray shows, independent of Tauri.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayModel {
    /// The tooltip and the first (disabled) menu item: the active account, or [`NO_ACCOUNT`].
    pub header: String,
    /// Every signed-in account of every connection, in the overview's order.
    pub accounts: Vec<TrayAccount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayAccount {
    /// The menu id ([`switch_id`]): [`action`] reads the account back from it.
    pub id: String,
    pub label: String,
    pub active: bool,
}

/// What a click on a tray menu item asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayAction {
    Switch { connection: String, user: String },
    Open,
    Quit,
}

/// "Ada Lovelace — Local".
pub fn account_label(display_name: &str, connection_name: &str) -> String {
    format!("{display_name} — {connection_name}")
}

pub fn model(o: &Overview) -> TrayModel {
    let header = o.active.as_ref().map_or_else(
        || NO_ACCOUNT.to_string(),
        |a| account_label(&a.display_name, &a.connection_name),
    );
    let accounts = o
        .accounts
        .iter()
        .filter(|a| a.state != AccountState::LoggedOut)
        .map(|a| TrayAccount {
            id: switch_id(&a.connection, &a.id),
            label: account_label(&a.display_name, &a.connection_name),
            active: a.state == AccountState::Active,
        })
        .collect();
    TrayModel { header, accounts }
}

/// A menu id naming an account: each part hex-encoded, so no connection or user id can be
/// mistaken for the separator or for another item's id.
pub fn switch_id(connection: &str, user: &str) -> String {
    format!("{SWITCH_PREFIX}{}:{}", hex(connection), hex(user))
}

/// The action of a menu item id; `None` for the disabled items and anything unknown.
pub fn action(id: &str) -> Option<TrayAction> {
    match id {
        OPEN_ID => return Some(TrayAction::Open),
        QUIT_ID => return Some(TrayAction::Quit),
        _ => {}
    }
    let (connection, user) = id.strip_prefix(SWITCH_PREFIX)?.split_once(':')?;
    Some(TrayAction::Switch {
        connection: unhex(connection)?,
        user: unhex(user)?,
    })
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if s.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// The Tauri menu for `m`.
pub fn menu<R: Runtime>(app: &AppHandle<R>, m: &TrayModel) -> tauri::Result<Menu<R>> {
    let menu = Menu::new(app)?;
    menu.append(&MenuItem::with_id(
        app,
        HEADER_ID,
        &m.header,
        false,
        None::<&str>,
    )?)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    if !m.accounts.is_empty() {
        let title = MenuItem::with_id(app, SWITCH_TITLE_ID, "Switch to", false, None::<&str>)?;
        menu.append(&title)?;
        for a in &m.accounts {
            let item = CheckMenuItem::with_id(app, &a.id, &a.label, true, a.active, None::<&str>)?;
            menu.append(&item)?;
        }
        menu.append(&PredefinedMenuItem::separator(app)?)?;
    }
    menu.append(&MenuItem::with_id(
        app,
        OPEN_ID,
        "Open Gatehouse",
        true,
        None::<&str>,
    )?)?;
    menu.append(&MenuItem::with_id(
        app,
        QUIT_ID,
        "Quit Gatehouse",
        true,
        None::<&str>,
    )?)?;
    Ok(menu)
}

/// Puts the indicator up (on the main thread, at setup). Fails when the desktop has no tray
/// support; the AppIndicator library missing makes `tray-icon` panic, which is caught and
/// reported as a failure too.
pub fn create<R: Runtime>(app: &AppHandle<R>, m: &TrayModel) -> Result<TrayIcon<R>, String> {
    let build = || -> tauri::Result<TrayIcon<R>> {
        let mut builder = TrayIconBuilder::with_id(TRAY_ID)
            .tooltip(&m.header)
            .menu(&menu(app, m)?)
            .on_menu_event(on_menu_event);
        if let Some(icon) = app.default_window_icon() {
            builder = builder.icon(icon.clone());
        }
        builder.build(app)
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)) {
        Ok(built) => built.map_err(|e| e.to_string()),
        Err(_) => Err("the AppIndicator library could not be loaded".into()),
    }
}

/// Rebuilds the menu and tooltip from a fresh overview. The overview's notices belong to the
/// window: they are handed back for its next refresh.
pub async fn refresh<R: Runtime>(app: &AppHandle<R>) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let Some(desktop) = app.try_state::<Arc<Desktop>>().map(|d| d.inner().clone()) else {
        return;
    };
    let o = desktop.peek_overview().await;
    let m = model(&o);
    let result = menu(app, &m)
        .and_then(|menu| tray.set_menu(Some(menu)))
        .and_then(|()| tray.set_tooltip(Some(&m.header)));
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot update the tray menu");
    }
}

fn on_menu_event<R: Runtime>(app: &AppHandle<R>, event: MenuEvent) {
    match action(event.id().as_ref()) {
        Some(TrayAction::Open) => crate::raise_main_window(app),
        Some(TrayAction::Quit) => app.exit(0),
        Some(TrayAction::Switch { connection, user }) => {
            let Some(desktop) = app.try_state::<Arc<Desktop>>().map(|d| d.inner().clone()) else {
                return;
            };
            tauri::async_runtime::spawn(async move {
                match desktop.switch_account(&connection, &user).await {
                    Ok(mut o) => desktop.keep_notices(&mut o),
                    Err(e) => tracing::warn!(error = %e, "cannot switch accounts from the tray"),
                }
            });
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::{AccountView, SecretsView};

    fn account(connection: &str, id: &str, name: &str, state: AccountState) -> AccountView {
        AccountView {
            connection: connection.into(),
            connection_name: if connection == "local" {
                "Local"
            } else {
                "Work"
            }
            .into(),
            id: id.into(),
            display_name: name.into(),
            email: None,
            provider: Some("local-userpass".into()),
            state,
            reauth_at: None,
            picture: None,
        }
    }

    fn overview(accounts: Vec<AccountView>) -> Overview {
        Overview {
            connections: Vec::new(),
            active: accounts
                .iter()
                .find(|a| a.state == AccountState::Active)
                .cloned(),
            accounts,
            secrets: SecretsView {
                storage: "the OS keychain".into(),
                memory_only: false,
                problem: None,
            },
            pending: Vec::new(),
            notices: Vec::new(),
            launched_at_ms: 0,
        }
    }

    #[test]
    fn the_header_names_the_active_account_and_every_signed_in_one_is_listed() {
        let o = overview(vec![
            account("local", "u1", "Ada Lovelace", AccountState::Active),
            account("r:work", "u2", "grace@example.test", AccountState::LoggedIn),
            account("r:work", "u3", "Gone", AccountState::LoggedOut),
            account("local", "u4", "Offline One", AccountState::Offline),
        ]);
        let m = model(&o);
        assert_eq!(m.header, "Ada Lovelace — Local");
        let labels: Vec<&str> = m.accounts.iter().map(|a| a.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Ada Lovelace — Local",
                "grace@example.test — Work",
                "Offline One — Local"
            ]
        );
        let active: Vec<bool> = m.accounts.iter().map(|a| a.active).collect();
        assert_eq!(active, [true, false, false]);
        assert_eq!(
            action(&m.accounts[1].id),
            Some(TrayAction::Switch {
                connection: "r:work".into(),
                user: "u2".into()
            })
        );
    }

    #[test]
    fn no_account_says_so_and_offers_no_switch() {
        let m = model(&overview(vec![account(
            "local",
            "u1",
            "Ada",
            AccountState::LoggedOut,
        )]));
        assert_eq!(m.header, NO_ACCOUNT);
        assert!(m.accounts.is_empty());
        assert_eq!(model(&overview(Vec::new())).header, NO_ACCOUNT);
    }

    #[test]
    fn ids_survive_any_characters_and_nothing_else_is_an_action() {
        for (c, u) in [("r:a:b", "x:y"), ("ü €", ""), ("switch:", "open")] {
            let id = switch_id(c, u);
            assert!(
                id.starts_with(SWITCH_PREFIX)
                    && id[SWITCH_PREFIX.len()..].matches(':').count() == 1
            );
            let want = TrayAction::Switch {
                connection: c.into(),
                user: u.into(),
            };
            assert_eq!(action(&id), Some(want), "{id}");
        }
        assert_eq!(action(OPEN_ID), Some(TrayAction::Open));
        assert_eq!(action(QUIT_ID), Some(TrayAction::Quit));
        for id in [
            HEADER_ID,
            SWITCH_TITLE_ID,
            "switch:zz:00",
            "switch:6",
            "switch:61",
            "other",
        ] {
            assert_eq!(action(id), None, "{id}");
        }
        assert_eq!(action("switch:ff:61"), None, "not UTF-8");
    }
}
