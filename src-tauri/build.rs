//! Generates the app's permissions: one `allow-<command>` per command of `src/ipc_commands.rs`,
//! and nothing else (the capability file grants exactly these plus event listening).

include!("src/ipc_commands.rs");

const COMMANDS: &[&str] = ipc_commands!(command_names);

// A build script reports failure by panicking: the message is what cargo shows.
#[allow(clippy::expect_used)]
fn main() {
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("the Tauri build step");
}
