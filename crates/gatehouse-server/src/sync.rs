//! The one policy for poisoned locks: recover the data and go on.
//!
//! The server's `std::sync::Mutex`es guard caches and counters (rate-limit buckets, mail
//! limits, JWKS sets, Argon2 work areas) whose critical sections are a few map or vector
//! operations. A panic inside one (a bug) leaves at worst one stale entry; turning every later
//! request into a panic by unwrapping the poison would take the whole server down instead.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking over the data if a panicking thread poisoned it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_poisoned_lock_still_yields_its_data() {
        let m = std::sync::Arc::new(std::sync::Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _guard = m2.lock().unwrap();
            panic!("poison");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*super::lock(&m), 1);
    }
}
