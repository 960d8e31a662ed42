//! The crate's one policy for poisoned `std::sync::Mutex`es: recover the value and go on.
//!
//! Every critical section in this crate replaces whole values (a token pair, a user entry, the
//! list of pending sign-ins) and calls nothing that can panic half-way through an update, so a
//! panic on another thread while it held the lock cannot have left the data half-changed.
//! Recovering keeps one panic (say, in a caller's event handler thread) from turning every later
//! SDK call into a panic too. Locks are never held across an `.await`.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering the inner value if a panicking thread poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
