//! The desktop benchmark's baseline: a Tauri window built exactly like Gatehouse (same crate
//! features, config, profile, window size and WebKit settings) that shows an empty HTML page and
//! does nothing else.
//! (A real page, served by the app like Gatehouse's own: WebKit shows about:blank without
//! starting a web process, which would leave the biggest part of every window out.)

// A benchmark fixture, not the app: failing loudly is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

fn main() {
    let mut context = tauri::generate_context!();
    // The same window size as Gatehouse's: WebKit's backing stores grow with the pixels.
    let size = context
        .config()
        .app
        .windows
        .first()
        .map(|w| (w.width, w.height))
        .expect("tauri.conf.json has a window");
    context.config_mut().app.windows.clear();
    tauri::Builder::default()
        .register_uri_scheme_protocol("empty", |_ctx, _request| {
            tauri::http::Response::builder()
                .header("content-type", "text/html")
                .body(b"<!doctype html><title>empty</title><p>empty</p>".to_vec())
                .expect("static response")
        })
        .setup(move |app| {
            let url = "empty://localhost/".parse().expect("static URL");
            let window = tauri::WebviewWindowBuilder::new(
                app,
                "main",
                tauri::WebviewUrl::CustomProtocol(url),
            )
            .title("empty")
            .inner_size(size.0, size.1)
            .build()?;
            gatehouse_desktop::webview::without_compositing(&window);
            Ok(())
        })
        .run(context)
        .expect("the empty window runs");
}
