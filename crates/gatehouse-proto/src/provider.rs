//! Provider names: the one place their wire spelling lives. For built-in providers the name in
//! a URL equals the provider type in profiles and session listings.

use serde::{Deserialize, Serialize};

macro_rules! providers {
    ($($(#[$doc:meta])* $variant:ident => $wire:literal),* $(,)?) => {
        /// A login provider this protocol knows, spelled on the wire as in App Services (Gatehouse
        /// additions included).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ProviderType {
            $($(#[$doc])* #[serde(rename = $wire)] $variant),*
        }

        impl ProviderType {
            pub const ALL: &'static [ProviderType] = &[$(ProviderType::$variant),*];

            pub const fn as_str(self) -> &'static str {
                match self { $(ProviderType::$variant => $wire),* }
            }

            /// The provider of a wire name; `None` for names this protocol does not define.
            pub fn parse(name: &str) -> Option<ProviderType> {
                match name { $($wire => Some(ProviderType::$variant),)* _ => None }
            }
        }
    };
}

providers! {
    Anonymous => "anon-user",
    Userpass => "local-userpass",
    ApiKey => "api-key",
    CustomToken => "custom-token",
    CustomFunction => "custom-function",
    Google => "oauth2-google",
    Apple => "oauth2-apple",
    Facebook => "oauth2-facebook",
    /// Gatehouse: redirect sign-in only (browser → provider → server → app).
    Github => "oauth2-github",
    Discord => "oauth2-discord",
    Twitter => "oauth2-twitter",
    /// Gatehouse: phone number + password (actions like `local-userpass`, codes by SMS).
    PhonePassword => "phone-password",
    /// Gatehouse: a one-time code texted to a confirmed number (`send`, then login).
    SmsCode => "sms-code",
    /// Gatehouse: a link (and a short code) mailed to a confirmed address, redeemed with PKCE.
    MagicLink => "magic-link",
    /// Gatehouse: a passkey (WebAuthn, discoverable, user-verified). A redirect provider whose
    /// `GET …/login` serves the server's own ceremony page instead of sending the browser on.
    Passkey => "passkey",
}

impl ProviderType {
    /// Providers that can sign in through a browser redirect (`GET …/login?redirect=…`).
    pub const REDIRECT: &'static [ProviderType] = &[
        ProviderType::Google,
        ProviderType::Apple,
        ProviderType::Facebook,
        ProviderType::Github,
        ProviderType::Discord,
        ProviderType::Twitter,
        ProviderType::Passkey,
    ];

    pub fn is_redirect(self) -> bool {
        ProviderType::REDIRECT.contains(&self)
    }
}

impl std::fmt::Display for ProviderType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_round_trips_through_its_wire_name_and_serde() {
        for p in ProviderType::ALL {
            assert_eq!(ProviderType::parse(p.as_str()), Some(*p));
            let json = serde_json::to_value(p).unwrap();
            assert_eq!(json, serde_json::Value::String(p.as_str().into()));
            assert_eq!(serde_json::from_value::<ProviderType>(json).unwrap(), *p);
        }
        assert_eq!(ProviderType::parse("oauth2-gitlab"), None);
        assert_eq!(crate::routes::provider::USERPASS, "local-userpass");
    }
}
