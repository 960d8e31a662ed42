//! What the SDK keeps on disk. Non-secret metadata (users, their order, the active user, cached
//! profiles, the device id) lives in a JSON file written atomically; tokens live in the OS
//! keychain ([`keychain`]), never in that file. `AccountStore` (crate-internal) owns both, with
//! the live users, and is the only code that changes them.

mod accounts;
pub mod keychain;
mod metadata;
mod user_core;

pub(crate) use accounts::{AccountStore, Ending, NewLogin};
pub use metadata::{Metadata, MetadataFile, StoredUser, UserStatus};
pub(crate) use user_core::UserCore;
