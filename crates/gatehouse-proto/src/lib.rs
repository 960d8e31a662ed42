//! Wire types shared by the Gatehouse server and client.
//!
//! This crate is the one place that defines what travels over HTTP: request and response bodies,
//! error codes, route paths and header names. It does no IO. The App Services shapes follow
//! `docs/protocol.md` (field names, casing and optionality matter: the official `realm-web`
//! client depends on them); Gatehouse additions are marked there as extensions.
//!
//! Versioning: the wire format is append-only. New optional fields may appear in responses;
//! existing fields never change meaning.

pub mod agent;
pub mod auth;
pub mod ejson;
pub mod error;
pub mod functions;
pub mod login;
pub mod mfa;
pub mod provider;
pub mod routes;
pub mod self_service;
pub mod userpass;

pub use error::{ErrorBody, ErrorCode};
pub use provider::ProviderType;
