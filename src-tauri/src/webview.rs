//! WebKitGTK settings for Gatehouse's window.

/// Turns off WebKitGTK's accelerated compositing for this window. Gatehouse's page is small and
/// mostly static, but with compositing on, WebKit keeps layer backing stores for its animated,
/// shadowed and dialog elements (drawn in software where there is no GPU): about 85 MiB more PSS
/// in the web process and slower account switches (docs/benchmarks.md). This is what
/// `WEBKIT_DISABLE_COMPOSITING_MODE=1` does, for this window only, so a browser started from the
/// app does not inherit it.
pub fn without_compositing(window: &tauri::WebviewWindow) {
    #[cfg(target_os = "linux")]
    {
        let changed = window.with_webview(|webview| {
            use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt as _, WebViewExt as _};
            if let Some(settings) = webview.inner().settings() {
                settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            }
        });
        if let Err(e) = changed {
            tracing::warn!(error = %e, "the window keeps WebKit's default rendering");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}
