//! The ceremony page: HTML that carries the WebAuthn options as a JSON data block (never run)
//! and loads [`SCRIPT`] from this server. `http/passkey_api.rs` answers them with their headers
//! (a CSP that allows this server's script and requests only).

/// The page's script, served at [`SCRIPT_PATH`].
pub const SCRIPT: &str = include_str!("page.js");
pub const SCRIPT_PATH: &str = "/api/client/v2.0/auth/passkey/page.js";

/// The page's CSP: scripts and requests to this server only, no framing, no forms.
pub const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
                       style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; \
                       base-uri 'none'";

/// What a ceremony page shows and carries.
pub struct CeremonyPage {
    pub title: &'static str,
    pub intro: &'static str,
    /// `create` (registration) or `get`.
    pub mode: &'static str,
    pub ceremony_id: String,
    pub key: String,
    /// Where the script posts the answer (a path on this server).
    pub finish_path: String,
    /// `{"publicKey": …}` as webauthn-rs made it.
    pub options: serde_json::Value,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// JSON inside `<script type="application/json">`: `<` escaped so nothing closes the block.
fn data_block(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

pub fn render(page: &CeremonyPage) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>{title}</title><style>body{{font:16px \
         system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}button{{font:\
         inherit;padding:.5rem 1rem}}.error{{color:#b00}}@media (prefers-color-scheme:dark)\
         {{body{{background:#111;color:#eee}}.error{{color:#f88}}}}</style></head><body>\
         <main id=\"passkey\" data-mode=\"{mode}\" data-ceremony=\"{id}\" data-key=\"{key}\" \
         data-finish=\"{finish}\"><h1>{title}</h1><p>{intro}</p>\
         <p><button id=\"go\" type=\"button\">Use a passkey</button></p>\
         <p id=\"status\" role=\"status\"></p><p><a id=\"done\" hidden>Return to the app</a></p>\
         </main><script type=\"application/json\" id=\"options\">{options}</script>\
         <script src=\"{script}\"></script></body></html>",
        title = escape(page.title),
        intro = escape(page.intro),
        mode = page.mode,
        id = escape(&page.ceremony_id),
        key = escape(&page.key),
        finish = escape(&page.finish_path),
        options = data_block(&page.options),
        script = SCRIPT_PATH,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_block_cannot_close_its_script_element() {
        let html = render(&CeremonyPage {
            title: "t",
            intro: "i",
            mode: "get",
            ceremony_id: "c".into(),
            key: "k\"><script>".into(),
            finish_path: "/f".into(),
            options: serde_json::json!({"publicKey": {"x": "</script><script>alert(1)"}}),
        });
        assert!(!html.contains("</script><script>alert"));
        assert!(!html.contains("k\"><script>"));
        assert_eq!(html.matches("<script").count(), 2);
    }
}
