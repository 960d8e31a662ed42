//! The PKCE verifiers of phone confirmation and reset codes this app asked for, in memory only.
//! Each (purpose, number) has one flow: its code can be redeemed only with the verifier kept
//! here, so a code someone else asked for (an attacker typing the number) neither voids this
//! one nor uses up its tries. A resend keeps the flow (the newer code replaces the older).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::lock::lock;
use crate::pkce::{challenge, random_b64};

/// Longer than any texted code lives (the server allows at most 10 minutes).
const FLOW_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CodePurpose {
    Confirm,
    Reset,
}

#[derive(Default)]
pub(crate) struct PhoneFlows {
    flows: Mutex<HashMap<(CodePurpose, String), (String, Instant)>>,
}

/// The number as a key: digits and a leading `+` only, so spacing and dashes do not matter.
fn key(phone: &str) -> String {
    phone
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect()
}

impl PhoneFlows {
    /// The challenge to send with a code request: the flow's, started now if there is none.
    pub fn challenge_for(&self, purpose: CodePurpose, phone: &str) -> String {
        let mut flows = lock(&self.flows);
        flows.retain(|_, (_, at)| at.elapsed() < FLOW_TTL);
        let (verifier, at) = flows
            .entry((purpose, key(phone)))
            .or_insert_with(|| (random_b64(32), Instant::now()));
        *at = Instant::now();
        challenge(verifier)
    }

    /// The verifier to redeem a code with, if this app asked for one.
    pub fn verifier(&self, purpose: CodePurpose, phone: &str) -> Option<String> {
        lock(&self.flows)
            .get(&(purpose, key(phone)))
            .filter(|(_, at)| at.elapsed() < FLOW_TTL)
            .map(|(v, _)| v.clone())
    }

    /// The code was used: the flow is over.
    pub fn finish(&self, purpose: CodePurpose, phone: &str) {
        lock(&self.flows).remove(&(purpose, key(phone)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_flow_per_purpose_and_number_whatever_its_spelling() {
        let flows = PhoneFlows::default();
        let first = flows.challenge_for(CodePurpose::Reset, "+1 415-555-2671");
        assert_eq!(
            first,
            flows.challenge_for(CodePurpose::Reset, "+14155552671")
        );
        let verifier = flows.verifier(CodePurpose::Reset, "+14155552671").unwrap();
        assert_eq!(challenge(&verifier), first);
        assert_ne!(
            first,
            flows.challenge_for(CodePurpose::Confirm, "+14155552671")
        );
        flows.finish(CodePurpose::Reset, "+14155552671");
        assert!(flows.verifier(CodePurpose::Reset, "+14155552671").is_none());
        assert_ne!(
            first,
            flows.challenge_for(CodePurpose::Reset, "+14155552671")
        );
    }
}
