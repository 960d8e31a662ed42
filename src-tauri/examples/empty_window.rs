//! The desktop benchmark's baseline: a Tauri window built exactly like Gatehouse (same crate
//! features, same config and profile) that shows an empty page and does nothing else.

fn main() {
    let mut context = tauri::generate_context!();
    context.config_mut().app.windows.clear();
    tauri::Builder::default()
        .setup(|app| {
            let blank = "about:blank".parse().expect("static URL");
            tauri::WebviewWindowBuilder::new(app, "main", tauri::WebviewUrl::External(blank)).title("empty").build()?;
            Ok(())
        })
        .run(context)
        .expect("the empty window runs");
}
