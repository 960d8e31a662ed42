//! End-to-end tests: a real gatehoused over loopback HTTP, each journey run against SQLite and
//! PostgreSQL (`both_backends!`), plus the official realm-web client driven from Node.

// Tests may unwrap: a panic here is a failed test with its message (the workspace denies
// unwrap/expect in shipped code only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
mod peers;

mod api_keys;
mod keychain;
mod device_sessions;
mod external;
mod linking;
mod magic;
mod mail;
mod outage;
mod phone;
mod input;
mod proxy;
mod realm_web;
mod redirect;
mod sdk;
mod sessions;
mod throttling;
mod userpass;
mod wire;
mod desktop;
