//! End-to-end tests: a real gatehoused over loopback HTTP, each journey run against SQLite and
//! PostgreSQL (`both_backends!`), plus the official realm-web client driven from Node.

// Tests may unwrap: a panic here is a failed test with its message (the workspace denies
// unwrap/expect in shipped code only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod peers;
mod support;

mod activity;
mod activity_log;
mod api_keys;
mod cluster;
mod custom_data;
mod desktop;
mod device_sessions;
mod external;
mod file_modes;
mod forged_host;
mod functions;
mod google_access_token;
mod id_tokens;
mod input;
mod key_rotation;
mod keychain;
mod linking;
mod magic;
mod magic_attacks;
mod mail;
mod mfa;
mod outage;
mod passkeys;
mod phone;
mod proxy;
mod read_timeouts;
mod realm_web;
mod redirect;
mod sdk;
mod sdk_mfa;
mod self_service;
mod sessions;
mod spread_guessing;
mod step_up;
mod strict_words;
mod takeover;
mod throttling;
mod timing;
mod userpass;
mod wire;
