//! The desktop benchmark's baseline: a Tauri window built exactly like Gatehouse (same crate
//! features, same config and profile) that shows an empty HTML page and does nothing else.
//! (A real page, served by the app like Gatehouse's own: WebKit shows about:blank without
//! starting a web process, which would leave the biggest part of every window out.)

fn main() {
    let mut context = tauri::generate_context!();
    context.config_mut().app.windows.clear();
    tauri::Builder::default()
        .register_uri_scheme_protocol("empty", |_ctx, _request| {
            tauri::http::Response::builder()
                .header("content-type", "text/html")
                .body(b"<!doctype html><title>empty</title><p>empty</p>".to_vec())
                .expect("static response")
        })
        .setup(|app| {
            let url = "empty://localhost/".parse().expect("static URL");
            tauri::WebviewWindowBuilder::new(app, "main", tauri::WebviewUrl::CustomProtocol(url)).title("empty").build()?;
            Ok(())
        })
        .run(context)
        .expect("the empty window runs");
}
