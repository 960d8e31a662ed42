// No console window on Windows release builds; harmless elsewhere.
#![cfg_attr(
    all(not(debug_assertions), target_os = "windows"),
    windows_subsystem = "windows"
)]

fn main() -> std::process::ExitCode {
    match gatehouse_desktop::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse-desktop: the window could not be created: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
