//! A minimal browser for redirect-based logins: follows redirects itself (so a test sees every
//! hop and can stop before the app's callback), keeps cookies per host:port (the OP's
//! interaction and session cookies must come back, or the login loops), and submits the
//! auto-posting form of `response_mode=form_post` (Apple) as a browser's script would.
//!
//! reqwest's own redirect policy and cookie store are off on purpose: they would hide the hops,
//! fetch custom-scheme URLs (`gatehouse://…`) and callbacks a test wants to stop at.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use reqwest::Url;

pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) gatehouse-e2e-browser/1.0";
const MAX_HOPS: usize = 20;

/// Where a navigation ended.
#[derive(Debug, Clone)]
pub struct Landing {
    /// The URL it stopped at without fetching (custom scheme or `stop_at`), or the last URL
    /// fetched.
    pub url: String,
    /// Status of the last response received (0 when nothing was fetched).
    pub status: u16,
    /// Body of the last response when the navigation ended on a fetched page; empty on a stop.
    pub body: String,
    /// Every URL requested, in order.
    pub hops: Vec<String>,
    /// When it stopped at a form POST (form_post callback): the fields it would have posted.
    pub form: Option<Vec<(String, String)>>,
}

impl Landing {
    /// A parameter of the stop: from the URL's query, or from the form it would have posted.
    pub fn param(&self, name: &str) -> Option<String> {
        super::query_param(&self.url, name).or_else(|| {
            self.form
                .as_ref()?
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }
}

#[derive(Debug, Clone)]
struct Cookie {
    name: String,
    value: String,
    path: String,
    expires: Option<SystemTime>,
}

enum Step {
    Get(String),
    Post(String, Vec<(String, String)>),
}

impl Step {
    fn url(&self) -> &str {
        match self {
            Step::Get(u) | Step::Post(u, _) => u,
        }
    }
}

pub struct Browser {
    http: reqwest::Client,
    /// host:port → cookies. Domain attributes are ignored: every peer is its own 127.0.0.1 port.
    jar: Mutex<HashMap<String, Vec<Cookie>>>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Browser {
            http,
            jar: Mutex::new(HashMap::new()),
        }
    }

    /// GETs `url` and follows redirects (and auto-submitting forms) until a page that is neither,
    /// a non-http(s) URL, or a URL for which `stop_at` is true (neither of those is fetched).
    pub async fn navigate(&self, url: &str, stop_at: impl Fn(&str) -> bool) -> Landing {
        self.run(Step::Get(url.to_string()), stop_at).await
    }

    /// POSTs `fields` form-encoded to `url`, then continues as `navigate`.
    pub async fn post_form(
        &self,
        url: &str,
        fields: &[(&str, &str)],
        stop_at: impl Fn(&str) -> bool,
    ) -> Landing {
        let fields = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.run(Step::Post(url.to_string(), fields), stop_at).await
    }

    /// Names of the live cookies held for `host_port` (e.g. "127.0.0.1:4000").
    pub fn cookie_names(&self, host_port: &str) -> Vec<String> {
        let now = SystemTime::now();
        let jar = self.jar.lock().unwrap();
        jar.get(host_port)
            .map(|cs| {
                cs.iter()
                    .filter(|c| c.expires.is_none_or(|e| e > now))
                    .map(|c| c.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn clear_cookies(&self) {
        self.jar.lock().unwrap().clear();
    }

    async fn run(&self, first: Step, stop_at: impl Fn(&str) -> bool) -> Landing {
        let mut hops = Vec::new();
        let mut status = 0;
        let mut step = first;
        loop {
            let url = step.url().to_string();
            let http = url.starts_with("http://") || url.starts_with("https://");
            if !http || stop_at(&url) {
                let form = match step {
                    Step::Post(_, f) => Some(f),
                    Step::Get(_) => None,
                };
                return Landing {
                    url,
                    status,
                    body: String::new(),
                    hops,
                    form,
                };
            }
            assert!(
                hops.len() < MAX_HOPS,
                "more than {MAX_HOPS} hops, a redirect loop? {hops:#?}"
            );
            hops.push(url.clone());
            let parsed = Url::parse(&url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
            let mut req = match &step {
                Step::Get(_) => self.http.get(parsed.clone()),
                Step::Post(_, fields) => self.http.post(parsed.clone()).form(fields),
            };
            req = req.header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8");
            if let Some(cookies) = self.cookie_header(&parsed) {
                req = req.header(COOKIE, cookies);
            }
            let resp = req
                .send()
                .await
                .unwrap_or_else(|e| panic!("browser: {url} failed: {e}; hops {hops:#?}"));
            for v in resp.headers().get_all(SET_COOKIE) {
                if let Ok(v) = v.to_str() {
                    self.store_cookie(&parsed, v);
                }
            }
            status = resp.status().as_u16();
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_string);
            if let (301 | 302 | 303 | 307 | 308, Some(loc)) = (status, location) {
                let next = parsed.join(&loc).map(|u| u.to_string()).unwrap_or(loc);
                step = match (status, step) {
                    (307 | 308, Step::Post(_, f)) => Step::Post(next, f),
                    _ => Step::Get(next),
                };
                continue;
            }
            let body = resp.text().await.unwrap_or_default();
            // A browser runs the page's script whatever the status (oidc-provider answers form_post
            // errors with 400 and the same auto-submitting page).
            if let Some((action, fields)) = auto_submit_form(&body) {
                let next = parsed
                    .join(&action)
                    .map(|u| u.to_string())
                    .unwrap_or(action);
                step = Step::Post(next, fields);
                continue;
            }
            return Landing {
                url,
                status,
                body,
                hops,
                form: None,
            };
        }
    }

    fn cookie_header(&self, url: &Url) -> Option<String> {
        let now = SystemTime::now();
        let jar = self.jar.lock().unwrap();
        let mut cookies: Vec<&Cookie> = jar
            .get(&host_port(url))?
            .iter()
            .filter(|c| c.expires.is_none_or(|e| e > now) && path_matches(&c.path, url.path()))
            .collect();
        if cookies.is_empty() {
            return None;
        }
        cookies.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        Some(
            cookies
                .iter()
                .map(|c| format!("{}={}", c.name, c.value))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    fn store_cookie(&self, url: &Url, header: &str) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim().to_string(), value.trim().to_string());
        let mut path = None;
        let mut max_age: Option<i64> = None;
        let mut expires = None;
        for attr in parts {
            let (k, v) = attr
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .unwrap_or((attr.trim(), ""));
            match k.to_ascii_lowercase().as_str() {
                "path" if v.starts_with('/') => path = Some(v.to_string()),
                "max-age" => max_age = v.parse().ok(),
                "expires" => expires = parse_http_date(v),
                _ => {}
            }
        }
        // RFC 6265: Max-Age wins over Expires; the default path is the request path's directory.
        let expires = match max_age {
            Some(s) if s <= 0 => Some(UNIX_EPOCH),
            Some(s) => Some(SystemTime::now() + Duration::from_secs(s as u64)),
            None => expires,
        };
        let path = path.unwrap_or_else(|| match url.path().rfind('/') {
            Some(0) | None => "/".to_string(),
            Some(i) => url.path()[..i].to_string(),
        });
        let mut jar = self.jar.lock().unwrap();
        let cookies = jar.entry(host_port(url)).or_default();
        cookies.retain(|c| !(c.name == name && c.path == path));
        if expires.is_none_or(|e| e > SystemTime::now()) {
            cookies.push(Cookie {
                name,
                value,
                path,
                expires,
            });
        }
    }
}

fn host_port(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// RFC 6265 path-match.
fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || request_path[cookie_path.len()..].starts_with('/')))
}

/// "Thu, 01 Jan 1970 00:00:00 GMT" (also the old "01-Jan-1970" form) → time; None if unparseable.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let s = s
        .split_once(',')
        .map(|(_, rest)| rest)
        .unwrap_or(s)
        .replace('-', " ");
    let f: Vec<&str> = s.split_whitespace().collect();
    if f.len() < 4 {
        return None;
    }
    let day: i64 = f[0].parse().ok()?;
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| f[1].to_ascii_lowercase().starts_with(m))? as i64
        + 1;
    let mut year: i64 = f[2].parse().ok()?;
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let hms: Vec<i64> = f[3]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2];
    if secs <= 0 {
        return Some(UNIX_EPOCH);
    }
    Some(UNIX_EPOCH + Duration::from_secs(secs as u64))
}

/// The first `<form method="post" action=…>` of a page that submits itself from script
/// (`….submit()`), with its hidden inputs. Other pages' forms need a user and are left alone.
fn auto_submit_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let lower = html.to_ascii_lowercase();
    if !lower.contains(".submit()") {
        return None;
    }
    let start = lower.find("<form")?;
    let tag_end = start + lower[start..].find('>')?;
    let form_tag = &html[start..=tag_end];
    if !attr(form_tag, "method")?.eq_ignore_ascii_case("post") {
        return None;
    }
    let action = attr(form_tag, "action")?;
    let end = lower[tag_end..]
        .find("</form")
        .map(|i| tag_end + i)
        .unwrap_or(html.len());
    let mut fields = Vec::new();
    let mut rest = tag_end;
    while let Some(i) = lower[rest..end].find("<input") {
        let s = rest + i;
        let e = s + lower[s..].find('>')?;
        let tag = &html[s..=e];
        if attr(tag, "type").is_some_and(|t| t.eq_ignore_ascii_case("hidden")) {
            if let Some(name) = attr(tag, "name") {
                fields.push((name, attr(tag, "value").unwrap_or_default()));
            }
        }
        rest = e;
    }
    Some((action, fields))
}

/// A quoted attribute's value from one tag, entity-decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = lower[..at].ends_with(|c: char| c.is_whitespace());
        let after = lower[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let val_start = tag.len() - after.len() + 1;
        let v = tag[val_start..].trim_start();
        let quote = v.chars().next()?;
        let raw = if quote == '"' || quote == '\'' {
            let v = &v[1..];
            &v[..v.find(quote)?]
        } else {
            &v[..v
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(v.len())]
        };
        return Some(html_unescape(raw));
    }
    None
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_oidc_provider_form_post_page() {
        let html = r#"<html><head><script>
document.addEventListener('DOMContentLoaded', function () { document.forms[0].submit() });
</script></head>
<body><form method="post" action="http://127.0.0.1:9/cb?a=1&amp;b=2">
<input type="hidden" name="code" value="c&amp;1"/>
<input type="hidden" name="state" value="s"/>
<noscript><button autofocus type="submit">Continue</button></noscript></form></body></html>"#;
        let (action, fields) = auto_submit_form(html).unwrap();
        assert_eq!(action, "http://127.0.0.1:9/cb?a=1&b=2");
        assert_eq!(
            fields,
            vec![("code".into(), "c&1".into()), ("state".into(), "s".into())]
        );
        assert!(auto_submit_form(
            "<form method=\"post\" action=\"/login\"><input type=hidden name=x value=y></form>"
        )
        .is_none());
    }

    #[test]
    fn cookie_dates_and_paths() {
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert!(path_matches("/interaction/abc", "/interaction/abc"));
        assert!(path_matches("/auth", "/auth/x"));
        assert!(!path_matches("/auth", "/authx"));
        assert!(path_matches("/", "/anything"));
    }

    #[test]
    fn jar_honours_path_and_deletion() {
        let b = Browser::new();
        let u = Url::parse("http://127.0.0.1:5/interaction/uid").unwrap();
        b.store_cookie(
            &u,
            "_interaction=v1; path=/interaction/uid; httponly; samesite=lax",
        );
        b.store_cookie(
            &u,
            "_session=s; path=/; expires=Fri, 01 Jan 2100 00:00:00 GMT",
        );
        assert_eq!(b.cookie_header(&u).unwrap(), "_interaction=v1; _session=s");
        assert_eq!(
            b.cookie_header(&Url::parse("http://127.0.0.1:5/auth/uid").unwrap())
                .unwrap(),
            "_session=s"
        );
        assert!(b
            .cookie_header(&Url::parse("http://127.0.0.1:6/").unwrap())
            .is_none());
        b.store_cookie(&u, "_session=; path=/; max-age=0");
        b.store_cookie(
            &u,
            "_interaction=; path=/interaction/uid; expires=Thu, 01 Jan 1970 00:00:00 GMT",
        );
        assert!(b.cookie_names("127.0.0.1:5").is_empty());
    }
}
