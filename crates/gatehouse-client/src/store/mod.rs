//! What the SDK keeps on disk. Non-secret metadata (users, their order, the active user, cached
//! profiles, the device id) lives in a JSON file written atomically; tokens live in the OS
//! keychain ([`keychain`]), never in that file.

pub mod keychain;
mod metadata;

pub use metadata::{Metadata, MetadataFile, StoredUser, UserStatus};
