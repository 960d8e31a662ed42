//! Installation hygiene (issue 16, item 6) with the real `xdg-mime` and
//! `update-desktop-database` on temporary XDG directories: a stale user-level `gatehouse://`
//! handler (the one an unpackaged build registered) wins over the package's system entry until
//! the packaged app's repair removes it; then `xdg-mime` names the system entry. Other apps'
//! handlers and defaults are left alone, and so is a handler that starts the running binary.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use gatehouse_desktop::scheme_handler::{repair, stale_handlers, UserDirs, OUR_HANDLER};

/// A home with user dirs, and a system data dir holding the package's `gatehouse.desktop`.
struct Desk {
    root: tempfile::TempDir,
    dirs: UserDirs,
    system: PathBuf,
    /// Where "installed" binaries live (the running exe and another build).
    bin: PathBuf,
}

impl Desk {
    fn new() -> Desk {
        let root = tempfile::tempdir().unwrap();
        let dirs = UserDirs {
            data_home: root.path().join("data"),
            config_home: root.path().join("config"),
        };
        std::fs::create_dir_all(dirs.applications()).unwrap();
        std::fs::create_dir_all(&dirs.config_home).unwrap();
        let system = root.path().join("system");
        std::fs::create_dir_all(system.join("applications")).unwrap();
        write(
            &system.join("applications/gatehouse.desktop"),
            "Exec=gatehouse-desktop %u",
            "x-scheme-handler/gatehouse;",
        );
        update_database(&system.join("applications"));
        let bin = root.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        Desk {
            root,
            dirs,
            system,
            bin,
        }
    }

    /// An executable file at `bin/<dir>/gatehouse-desktop`.
    fn binary(&self, dir: &str) -> PathBuf {
        let path = self.bin.join(dir).join("gatehouse-desktop");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        // Executable: `xdg-mime` passes over a default whose binary it cannot run.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path
    }

    /// A user entry `name` registered as the default for `mime`, as the deep-link plugin does
    /// (`xdg-mime default`), then the user cache rebuilt.
    fn user_handler(&self, name: &str, exec: &str, mime: &str) -> PathBuf {
        let file = self.dirs.applications().join(name);
        write(&file, exec, &format!("{mime};"));
        let status = self
            .xdg(Command::new("xdg-mime"))
            .args(["default", name, mime])
            .status()
            .unwrap();
        assert!(status.success(), "xdg-mime default {name} {mime}");
        update_database(&self.dirs.applications());
        file
    }

    fn xdg(&self, mut c: Command) -> Command {
        c.env("XDG_DATA_HOME", &self.dirs.data_home)
            .env("XDG_CONFIG_HOME", &self.dirs.config_home)
            .env("XDG_DATA_DIRS", &self.system)
            .env("HOME", self.root.path())
            .env_remove("XDG_CURRENT_DESKTOP")
            .env_remove("DESKTOP_SESSION")
            .env_remove("KDE_FULL_SESSION")
            .env_remove("GNOME_DESKTOP_SESSION_ID");
        c
    }

    /// What the desktop opens `mime` with, as `xdg-mime` answers.
    fn default_for(&self, mime: &str) -> String {
        let out = self
            .xdg(Command::new("xdg-mime"))
            .args(["query", "default", mime])
            .output()
            .unwrap();
        assert!(out.status.success(), "xdg-mime query default {mime}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn mimeapps(&self) -> String {
        std::fs::read_to_string(self.dirs.config_home.join("mimeapps.list")).unwrap_or_default()
    }
}

fn write(path: &Path, exec: &str, mime: &str) {
    let text = format!(
        "[Desktop Entry]\nType=Application\nName=Test\n{exec}\nMimeType={mime}\nNoDisplay=true\n"
    );
    std::fs::write(path, text).unwrap();
}

fn update_database(dir: &Path) {
    let status = Command::new("update-desktop-database")
        .arg(dir)
        .status()
        .expect("update-desktop-database (desktop-file-utils; scripts/setup.sh installs it)");
    assert!(status.success());
}

const GATEHOUSE: &str = "x-scheme-handler/gatehouse";

#[test]
fn a_handler_of_a_deleted_build_is_removed_and_the_system_entry_wins() {
    let desk = Desk::new();
    let exe = desk.binary("usr-bin");
    let file = desk.user_handler(
        OUR_HANDLER,
        "Exec=/nonexistent/target/debug/gatehouse-desktop %u",
        GATEHOUSE,
    );
    assert_eq!(
        desk.default_for(GATEHOUSE),
        OUR_HANDLER,
        "before the repair the stale user handler wins"
    );
    assert!(desk.mimeapps().contains(OUR_HANDLER));

    let removed = repair(&desk.dirs, &exe);
    assert_eq!(removed, vec![file.clone()]);
    assert!(!file.exists());
    assert!(
        !desk.mimeapps().contains(OUR_HANDLER),
        "{}",
        desk.mimeapps()
    );
    assert_eq!(desk.default_for(GATEHOUSE), "gatehouse.desktop");
    assert!(
        repair(&desk.dirs, &exe).is_empty(),
        "a second run finds nothing"
    );
}

#[test]
fn a_handler_of_another_existing_build_goes_too_even_quoted_and_under_another_name() {
    let desk = Desk::new();
    let exe = desk.binary("usr-bin");
    let other = desk.binary("old build");
    let exec = format!("Exec=\"{}\" %u", other.display());
    let file = desk.user_handler("my-gatehouse.desktop", &exec, GATEHOUSE);
    // The legacy place of user defaults names it too.
    let legacy = desk.dirs.applications().join("mimeapps.list");
    std::fs::write(
        &legacy,
        "[Default Applications]\nx-scheme-handler/gatehouse=my-gatehouse.desktop;\n\
         text/plain=editor.desktop;\n",
    )
    .unwrap();
    assert_eq!(desk.default_for(GATEHOUSE), "my-gatehouse.desktop");

    let stale = stale_handlers(&desk.dirs, &exe);
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].binary, other.display().to_string());
    assert_eq!(repair(&desk.dirs, &exe), vec![file]);
    assert_eq!(desk.default_for(GATEHOUSE), "gatehouse.desktop");
    assert_eq!(
        std::fs::read_to_string(&legacy).unwrap(),
        "[Default Applications]\ntext/plain=editor.desktop;\n"
    );
}

#[test]
fn other_apps_handlers_and_a_handler_of_this_binary_are_left_alone() {
    let desk = Desk::new();
    let exe = desk.binary("usr-bin");
    // Another app's scheme, with a missing binary: not ours.
    let other_scheme = desk.user_handler(
        "other-app-handler.desktop",
        "Exec=/nonexistent/other-app %u",
        "x-scheme-handler/other",
    );
    // Another program claiming gatehouse://: not ours either (its binary is not ours).
    let foreign = desk.user_handler(
        "browser.desktop",
        "Exec=/nonexistent/some-browser %u",
        GATEHOUSE,
    );
    assert_eq!(desk.default_for(GATEHOUSE), "browser.desktop");
    // Our own handler for the running binary: it leads to the right place.
    let current = desk.user_handler(
        OUR_HANDLER,
        &format!("Exec={} %u", exe.display()),
        GATEHOUSE,
    );
    let before = desk.mimeapps();

    assert!(stale_handlers(&desk.dirs, &exe).is_empty());
    assert!(repair(&desk.dirs, &exe).is_empty());
    for f in [&other_scheme, &foreign, &current] {
        assert!(f.exists(), "{} was removed", f.display());
    }
    assert_eq!(desk.mimeapps(), before);
    assert_eq!(desk.default_for(GATEHOUSE), OUR_HANDLER);
    assert_eq!(
        desk.default_for("x-scheme-handler/other"),
        "other-app-handler.desktop"
    );
}
