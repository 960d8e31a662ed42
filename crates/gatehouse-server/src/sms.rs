//! Outgoing text messages: a Twilio-compatible Messages API when configured, otherwise the dev
//! outbox (the same `outbox.jsonl` as mail, with `"channel": "sms"`). Sent in the background: the
//! answer to a request never depends on whether a text went out.

use crate::config::SmsConfig;
use crate::mail::{Mail, Mailer};

#[derive(Clone, Debug)]
pub enum SmsSender {
    Twilio {
        http: reqwest::Client,
        url: String,
        config: SmsConfig,
    },
    Outbox(Mailer),
}

impl SmsSender {
    pub fn new(
        config: Option<&SmsConfig>,
        outbox: &Mailer,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<SmsSender> {
        let Some(config) = config else {
            // Texts go to the outbox file even when mail goes to SMTP.
            return Ok(SmsSender::Outbox(match outbox {
                Mailer::Outbox { .. } => outbox.clone(),
                Mailer::Smtp { .. } => Mailer::new(None, data_dir)?,
            }));
        };
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            config.base_url.trim_end_matches('/'),
            config.account_sid
        );
        Ok(SmsSender::Twilio {
            http,
            url,
            config: config.clone(),
        })
    }

    /// Queues a text; failures are logged (without the code), never surfaced to the requester.
    pub fn send(&self, to: &str, body: String) {
        let sender = self.clone();
        let to = to.to_string();
        tokio::spawn(async move {
            if let Err(e) = sender.deliver(&to, &body).await {
                tracing::warn!(to = %to, error = %e, "text message delivery failed");
            }
        });
    }

    pub async fn deliver(&self, to: &str, body: &str) -> anyhow::Result<()> {
        match self {
            SmsSender::Outbox(mailer) => {
                mailer
                    .deliver(&Mail {
                        to: to.into(),
                        subject: "SMS".into(),
                        text: body.into(),
                        links: vec![],
                        channel: "sms",
                    })
                    .await
            }
            SmsSender::Twilio { http, url, config } => {
                let form = [("To", to), ("From", config.from.as_str()), ("Body", body)];
                let encoded = form
                    .iter()
                    .map(|(k, v)| format!("{k}={}", urlencode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                let response = http
                    .post(url)
                    .basic_auth(&config.account_sid, Some(config.auth_token.expose()))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(encoded)
                    .send()
                    .await?;
                let status = response.status();
                if !status.is_success() {
                    // Twilio's error body:
                    // {"code": 21211, "message": "...", "more_info": "...", "status": 400}
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    anyhow::bail!(
                        "the SMS API answered {status}: {} (code {})",
                        body["message"].as_str().unwrap_or("no message"),
                        body["code"]
                    );
                }
                tracing::info!(to = %to, "text message sent");
                Ok(())
            }
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(super::urlencode("+1 415&x=é"), "%2B1%20415%26x%3D%C3%A9");
    }
}
