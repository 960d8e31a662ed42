//! End-to-end tests: a real gatehoused over loopback HTTP, each journey run against SQLite and
//! PostgreSQL (`both_backends!`), plus the official realm-web client driven from Node.

// Tests may unwrap: a panic here is a failed test with its message (the workspace denies
// unwrap/expect in shipped code only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod peers;
mod support;

mod api_keys;
mod desktop;
mod device_sessions;
mod external;
mod file_modes;
mod input;
mod keychain;
mod linking;
mod magic;
mod mail;
mod outage;
mod phone;
mod proxy;
mod realm_web;
mod redirect;
mod sdk;
mod sessions;
mod takeover;
mod throttling;
mod userpass;
mod wire;
