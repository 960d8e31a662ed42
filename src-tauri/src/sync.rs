//! The one policy for poisoned locks in the desktop app.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a std `Mutex`, recovering the value when a thread panicked while holding it. The app's
/// std mutexes guard plain data (settings, notices, pending sign-ins, a flag or two), every
/// critical section is a read, a clone or a single assignment, and no lock is held across an
/// `.await`: a panic elsewhere cannot leave that data half-changed, so it stays usable and one
/// bug does not take every later command down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
