//! Who opens `gatehouse://` links. An unpackaged build registers itself for the user (a
//! `*-handler.desktop` file in `$XDG_DATA_HOME/applications` and a default in `mimeapps.list`),
//! pointing at its build-tree binary. Once the .deb is installed that user-level entry still
//! wins over the package's system entry, so links would open a binary that may have moved or
//! been deleted: the packaged app removes such handlers of ours at start ([`repair`]).
//!
//! Everything here works on explicit directories, so `tests/scheme_handler.rs` runs it on
//! temporary ones with the real `xdg-mime` and `update-desktop-database`.

use std::path::{Path, PathBuf};

/// The MIME type a `gatehouse://` handler declares.
pub const SCHEME_MIME: &str = "x-scheme-handler/gatehouse";
/// The file the deep-link plugin writes for the `gatehouse-desktop` binary.
pub const OUR_HANDLER: &str = "gatehouse-desktop-handler.desktop";
/// The app's binary name (an `Exec` naming it is one of ours).
const BINARY: &str = "gatehouse-desktop";

/// The per-user directories the desktop reads handlers and defaults from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDirs {
    /// `$XDG_DATA_HOME` (default `~/.local/share`): `applications/` holds user entries.
    pub data_home: PathBuf,
    /// `$XDG_CONFIG_HOME` (default `~/.config`): `mimeapps.list` holds user defaults.
    pub config_home: PathBuf,
}

impl UserDirs {
    /// From the environment, as the XDG base-directory spec says (relative values ignored).
    pub fn from_env() -> Option<UserDirs> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let dir = |var: &str, fallback: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| home.as_ref().map(|h| h.join(fallback)))
        };
        Some(UserDirs {
            data_home: dir("XDG_DATA_HOME", ".local/share")?,
            config_home: dir("XDG_CONFIG_HOME", ".config")?,
        })
    }

    pub fn applications(&self) -> PathBuf {
        self.data_home.join("applications")
    }

    /// The `mimeapps.list` files that can name a user default: the current place and the
    /// legacy one next to the entries.
    fn mimeapps_lists(&self) -> [PathBuf; 2] {
        [
            self.config_home.join("mimeapps.list"),
            self.applications().join("mimeapps.list"),
        ]
    }
}

/// A user-level `gatehouse://` handler of ours whose binary is missing or is another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleHandler {
    pub file: PathBuf,
    /// The binary its `Exec` names, as written.
    pub binary: String,
}

/// The handlers of ours in the user's `applications/` that do not start `exe`: named
/// [`OUR_HANDLER`], or naming a `gatehouse-desktop` binary, and declaring [`SCHEME_MIME`].
/// Other apps' entries (another scheme, another binary) are never returned.
pub fn stale_handlers(dirs: &UserDirs, exe: &Path) -> Vec<StaleHandler> {
    let Ok(entries) = std::fs::read_dir(dirs.applications()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let file = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".desktop") || !file.is_file() {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let entry = DesktopEntry::parse(&text);
        if !entry.mime_types.iter().any(|m| m == SCHEME_MIME) {
            continue;
        }
        let Some(binary) = entry.exec.as_deref().and_then(exec_binary) else {
            continue;
        };
        let names_us = Path::new(&binary).file_name().is_some_and(|n| n == BINARY);
        if name != OUR_HANDLER && !names_us {
            continue;
        }
        if !resolve(&binary).is_some_and(|b| same_file(&b, exe)) {
            out.push(StaleHandler { file, binary });
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// Removes the [`stale_handlers`] for `exe`: each file, its `x-scheme-handler/gatehouse`
/// entries in both `mimeapps.list` files, then refreshes the user's `mimeinfo.cache`, so the
/// package's system entry wins. Returns the files removed; failures are logged and skipped.
pub fn repair(dirs: &UserDirs, exe: &Path) -> Vec<PathBuf> {
    let stale = stale_handlers(dirs, exe);
    let mut removed = Vec::new();
    for h in &stale {
        match std::fs::remove_file(&h.file) {
            Ok(()) => {
                tracing::info!(file = %h.file.display(), binary = %h.binary,
                    "removed a stale gatehouse:// handler");
                removed.push(h.file.clone());
            }
            Err(e) => tracing::warn!(file = %h.file.display(), error = %e,
                "cannot remove a stale gatehouse:// handler"),
        }
    }
    let ids: Vec<String> = stale
        .iter()
        .filter_map(|h| h.file.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if ids.is_empty() {
        return removed;
    }
    for list in dirs.mimeapps_lists() {
        if let Err(e) = forget_defaults(&list, &ids) {
            tracing::warn!(file = %list.display(), error = %e, "cannot edit mimeapps.list");
        }
    }
    update_database(&dirs.applications());
    removed
}

/// Drops `ids` from the `x-scheme-handler/gatehouse=` lines of `list` (a line left empty
/// goes); everything else stays as written. A missing file is fine.
fn forget_defaults(list: &Path, ids: &[String]) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(list) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let edited = without_defaults(&text, ids);
    if edited != text {
        gatehouse_client::fs::atomic_write(list, edited.as_bytes())?;
    }
    Ok(())
}

/// `text` (a `mimeapps.list`) without `ids` on its `x-scheme-handler/gatehouse` lines.
pub fn without_defaults(text: &str, ids: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let Some((key, value)) = line.split_once('=') else {
            out.push_str(line);
            continue;
        };
        if key.trim() != SCHEME_MIME {
            out.push_str(line);
            continue;
        }
        let all: Vec<&str> = value.trim().split(';').filter(|v| !v.is_empty()).collect();
        let kept: Vec<&str> = all
            .iter()
            .copied()
            .filter(|v| !ids.iter().any(|id| id == v.trim()))
            .collect();
        if kept.len() == all.len() {
            out.push_str(line);
        } else if !kept.is_empty() {
            out.push_str(&format!("{SCHEME_MIME}={};\n", kept.join(";")));
        }
    }
    out
}

/// Rebuilds `dir`'s `mimeinfo.cache` (the lookup `xdg-mime` falls back to).
pub fn update_database(dir: &Path) {
    match std::process::Command::new("update-desktop-database")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
    {
        Ok(s) if s.success() => {}
        Ok(s) => {
            tracing::warn!(dir = %dir.display(), status = %s, "update-desktop-database failed")
        }
        Err(e) => tracing::warn!(error = %e, "cannot run update-desktop-database"),
    }
}

/// The keys of a desktop entry's `[Desktop Entry]` group this module reads.
#[derive(Debug, Default)]
struct DesktopEntry {
    exec: Option<String>,
    mime_types: Vec<String>,
}

impl DesktopEntry {
    fn parse(text: &str) -> DesktopEntry {
        let mut entry = DesktopEntry::default();
        let mut in_main = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_main = line == "[Desktop Entry]";
                continue;
            }
            let Some((key, value)) = line.split_once('=').filter(|_| in_main) else {
                continue;
            };
            match key.trim() {
                "Exec" => entry.exec = Some(value.trim().to_string()),
                "MimeType" => {
                    entry.mime_types = value
                        .split(';')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .map(str::to_string)
                        .collect()
                }
                _ => {}
            }
        }
        entry
    }
}

/// The program an `Exec` value starts: its first word, unquoted (the spec's double quotes,
/// with `\"`, `` \` ``, `\$` and `\\` escaped inside).
pub fn exec_binary(exec: &str) -> Option<String> {
    let exec = exec.trim_start();
    let Some(quoted) = exec.strip_prefix('"') else {
        return exec.split_whitespace().next().map(str::to_string);
    };
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None // no closing quote: not a valid entry
}

/// An absolute path as is; a bare name looked up in `PATH`, as the desktop would.
fn resolve(binary: &str) -> Option<PathBuf> {
    let path = Path::new(binary);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    if binary.contains('/') {
        return None; // relative paths are not valid in Exec
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(binary))
            .find(|c| c.is_file())
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Registers `gatehouse://` for the user at runtime (dev builds and unpackaged binaries; the
/// .deb's desktop entry does it when installed under /usr). The plugin quotes the path in
/// `Exec`, which Debian 12's generic `xdg-open` cannot run (tauri issue 10570): unquote it when
/// that is safe. Starts `xdg-mime` and `update-desktop-database`: call it off the main thread.
#[cfg(target_os = "linux")]
pub fn register<R: tauri::Runtime>(app: &tauri::AppHandle<R>, exe: &Path) {
    use tauri_plugin_deep_link::DeepLinkExt as _;
    if let Err(e) = app.deep_link().register_all() {
        tracing::warn!(error = %e, "cannot register the gatehouse:// scheme with the desktop");
        return;
    }
    let Some(dirs) = UserDirs::from_env() else {
        return;
    };
    let Some(name) = exe.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let file = dirs.applications().join(format!("{name}-handler.desktop"));
    let Ok(text) = std::fs::read_to_string(&file) else {
        return;
    };
    let path = exe.display().to_string();
    if !path.contains(char::is_whitespace) {
        let fixed = text.replace(&format!("Exec=\"{path}\""), &format!("Exec={path}"));
        if fixed != text {
            let _ = std::fs::write(&file, fixed);
        }
    }
}

/// At start-up, off the main thread: the packaged app (its binary under /usr/) repairs stale
/// user-level handlers of ours; any other build registers itself for the user.
#[cfg(target_os = "linux")]
pub fn at_start<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    if exe.starts_with("/usr/") {
        if let Some(dirs) = UserDirs::from_env() {
            repair(&dirs, &exe);
        }
    } else {
        register(app, &exe);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_values_name_their_program() {
        assert_eq!(
            exec_binary("/opt/g/gatehouse-desktop %u").as_deref(),
            Some("/opt/g/gatehouse-desktop")
        );
        assert_eq!(
            exec_binary(r#""/home/a b/gatehouse-desktop" %u"#).as_deref(),
            Some("/home/a b/gatehouse-desktop")
        );
        assert_eq!(
            exec_binary(r#""/x/\"q\"/gatehouse-desktop""#).as_deref(),
            Some(r#"/x/"q"/gatehouse-desktop"#)
        );
        assert_eq!(exec_binary(r#""/unterminated %u"#), None);
        assert_eq!(exec_binary("  "), None);
    }

    #[test]
    fn only_the_named_ids_leave_the_gatehouse_lines() {
        let text = "[Default Applications]\n\
                    x-scheme-handler/gatehouse=gatehouse-desktop-handler.desktop\n\
                    x-scheme-handler/other=gatehouse-desktop-handler.desktop;\n\
                    [Added Associations]\n\
                    x-scheme-handler/gatehouse=gatehouse-desktop-handler.desktop;mine.desktop;\n";
        let ids = vec![OUR_HANDLER.to_string()];
        assert_eq!(
            without_defaults(text, &ids),
            "[Default Applications]\n\
             x-scheme-handler/other=gatehouse-desktop-handler.desktop;\n\
             [Added Associations]\n\
             x-scheme-handler/gatehouse=mine.desktop;\n"
        );
        assert_eq!(without_defaults(text, &["x.desktop".into()]), text);
    }

    #[test]
    fn only_the_main_group_counts() {
        let e = DesktopEntry::parse(
            "[Desktop Action new]\nExec=/bin/other\n[Desktop Entry]\nExec=/a/b %u\n\
             MimeType=text/plain; x-scheme-handler/gatehouse;\n",
        );
        assert_eq!(e.exec.as_deref(), Some("/a/b %u"));
        assert_eq!(e.mime_types, vec!["text/plain", SCHEME_MIME]);
    }
}
