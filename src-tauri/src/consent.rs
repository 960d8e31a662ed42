//! Consent prompts: a program asked the local agent to act as an account, and the person
//! answers in the window (allow once, always allow this program, deny). Each waiting request
//! holds a oneshot sender; the window's `answer_consent` fires it. A prompt also ends when
//! nobody answers in time or when the program that asked goes away — never a hang.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::desktop::{now_ms, Desktop};
use crate::error::{DesktopError, Result};
use crate::shell::UiEvent;
use crate::sync::lock;
use crate::views::ConsentPrompt;

/// How long a prompt waits when `GATEHOUSE_CONSENT_TIMEOUT_SECS` does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 2..=600;

/// The timeout from the environment (seconds, 2..=600), else [`DEFAULT_TIMEOUT`].
pub fn timeout_from_env() -> Duration {
    std::env::var("GATEHOUSE_CONSENT_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| TIMEOUT_RANGE.contains(s))
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// The person's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Once,
    Always,
    Deny,
}

impl Answer {
    fn parse(s: &str) -> Option<Answer> {
        match s {
            "once" => Some(Answer::Once),
            "always" => Some(Answer::Always),
            "deny" => Some(Answer::Deny),
            _ => None,
        }
    }
}

/// How a prompt ended, for the program that asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    Timeout,
}

struct Waiting {
    prompt: ConsentPrompt,
    answer: oneshot::Sender<Answer>,
}

/// The prompts waiting for an answer, by id.
pub(crate) struct Consents {
    waiting: Mutex<HashMap<String, Waiting>>,
    next: AtomicU64,
    timeout_secs: AtomicU64,
}

impl Consents {
    pub fn new(timeout: Duration) -> Consents {
        Consents {
            waiting: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            timeout_secs: AtomicU64::new(timeout.as_secs().max(1)),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.load(Ordering::Relaxed))
    }
}

/// Removes the prompt if it is still waiting when the asking side stops (timeout, or the
/// program went away and the request was dropped), and tells the window.
struct Cleanup<'a> {
    desktop: &'a Desktop,
    id: String,
    outcome: &'static str,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let removed = lock(&self.desktop.consents.waiting).remove(&self.id);
        if removed.is_some() {
            self.desktop.shell.emit(UiEvent::ConsentSettled {
                id: std::mem::take(&mut self.id),
                outcome: self.outcome.into(),
            });
        }
    }
}

impl Desktop {
    /// Sets how long prompts wait (tests use a few seconds); clamped to at least one second.
    pub fn set_consent_timeout(&self, timeout: Duration) {
        self.consents
            .timeout_secs
            .store(timeout.as_secs().max(1), Ordering::Relaxed);
    }

    /// The prompts waiting now (a window that opens late shows them).
    pub fn pending_consents(&self) -> Vec<ConsentPrompt> {
        let mut list: Vec<ConsentPrompt> = lock(&self.consents.waiting)
            .values()
            .map(|w| w.prompt.clone())
            .collect();
        list.sort_by_key(|p| p.expires_at_ms);
        list
    }

    /// The person's answer to prompt `id`: `once`, `always` (remembered for this program and
    /// account) or `deny`.
    pub async fn answer_consent(&self, id: &str, answer: &str) -> Result<()> {
        let answer = Answer::parse(answer)
            .ok_or_else(|| DesktopError::InvalidInput("Answer once, always or deny".into()))?;
        let waiting = lock(&self.consents.waiting)
            .remove(id)
            .ok_or(DesktopError::NoConsent)?;
        if answer == Answer::Always {
            let p = &waiting.prompt;
            self.add_grant(&p.program.exe, &p.account.connection, &p.account.id)
                .await;
        }
        // The asker may have gone a moment ago; the prompt is settled either way.
        let _ = waiting.answer.send(answer);
        self.shell.emit(UiEvent::ConsentSettled {
            id: id.into(),
            outcome: if answer == Answer::Deny {
                "denied"
            } else {
                "allowed"
            }
            .into(),
        });
        Ok(())
    }

    /// Shows `prompt` (its `id` and `expires_at_ms` are filled in here), raises the window and
    /// waits for the answer or the timeout. Dropping the returned future (the program went
    /// away) withdraws the prompt.
    pub(crate) async fn ask_consent(self: &Arc<Self>, mut prompt: ConsentPrompt) -> Outcome {
        let timeout = self.consents.timeout();
        let n = self.consents.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("consent-{n}-{}", now_ms());
        prompt.id = id.clone();
        prompt.expires_at_ms = now_ms() + timeout.as_millis() as u64;
        let (tx, rx) = oneshot::channel();
        lock(&self.consents.waiting).insert(
            id.clone(),
            Waiting {
                prompt: prompt.clone(),
                answer: tx,
            },
        );
        let mut cleanup = Cleanup {
            desktop: self,
            id,
            outcome: "cancelled",
        };
        self.shell.emit(UiEvent::ConsentRequested { prompt });
        self.shell.raise_window();
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Answer::Deny)) => Outcome::Denied,
            Ok(Ok(_)) => Outcome::Allowed,
            // The sender went without an answer: only when the table was cleared.
            Ok(Err(_)) => Outcome::Denied,
            Err(_) => {
                cleanup.outcome = "timeout";
                Outcome::Timeout
            }
        }
    }
}
