//! Password hashing: Argon2id in PHC strings, run off the async runtime on a bounded number of
//! blocking threads. A request that cannot get a hashing slot within the queue timeout gets 503
//! instead of piling up (security.md S-3).

pub mod policy;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordConfig;
use crate::error::ApiError;

pub use policy::{PasswordPolicy, PolicyViolation};

#[derive(Clone)]
pub struct Hasher {
    argon2: Argon2<'static>,
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
    /// Verifications performed (equal-work checks in tests compare it across paths).
    verifications: Arc<AtomicU64>,
    /// Hashes made (tests check that refused requests never reach Argon2).
    hashes: Arc<AtomicU64>,
    /// A hash of a random password with the current parameters, verified when the account does
    /// not exist so both paths cost the same (security.md S-12).
    dummy: Arc<String>,
    /// Argon2 working memory (19 MiB at the default cost) reused across hashes: allocating it
    /// fresh each time made every login fault in 19 MiB of new pages (docs/benchmarks.md). At
    /// most one buffer per hashing slot is kept.
    memory: Arc<MemoryPool>,
}

struct MemoryPool {
    free: std::sync::Mutex<Vec<Vec<Block>>>,
    keep: usize,
}

/// Blocks (1 KiB each) in a reservation above glibc's largest dynamic mmap threshold (32 MiB on
/// 64-bit): such an allocation is always mapped fresh and unmapped when freed, while a smaller
/// one, once freed, stays in the allocator's arena for good. Only the blocks used are touched,
/// so only they become resident.
const ALWAYS_UNMAPPED_BLOCKS: usize = 33 * 1024;

impl MemoryPool {
    fn with_blocks<R>(&self, count: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
        let reused = crate::sync::lock(&self.free)
            .pop()
            .filter(|b| b.len() >= count);
        let mut blocks = reused.unwrap_or_else(|| {
            if self.keep > 0 {
                return vec![Block::default(); count];
            }
            let mut blocks = Vec::with_capacity(count.max(ALWAYS_UNMAPPED_BLOCKS));
            blocks.resize(count, Block::default());
            blocks
        });
        let result = f(&mut blocks[..count]);
        let mut free = crate::sync::lock(&self.free);
        if free.len() < self.keep {
            free.push(blocks);
        }
        result
    }
}

/// Argon2id of `password` with `salt`, into a PHC string, using pooled memory.
fn hash_with(
    argon2: &Argon2<'_>,
    pool: &MemoryPool,
    password: &[u8],
    salt: Salt<'_>,
) -> argon2::password_hash::Result<String> {
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes)?;
    let params = argon2.params();
    let output = Output::init_with(
        params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN),
        |out| {
            pool.with_blocks(params.block_count(), |blocks| {
                argon2.hash_password_into_with_memory(password, salt_raw, out, blocks)
            })
            .map_err(argon2::password_hash::Error::from)
        },
    )?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Recomputes a stored PHC hash's output for `password` with the stored parameters and compares
/// in constant time (`Output`'s equality is constant-time).
fn verify_with(pool: &MemoryPool, password: &[u8], stored: &PasswordHash<'_>) -> bool {
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(stored.algorithm),
        Params::try_from(stored),
    ) else {
        return false;
    };
    let version = stored
        .version
        .map(Version::try_from)
        .transpose()
        .ok()
        .flatten()
        .unwrap_or_default();
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let computed = Output::init_with(expected.len(), |out| {
        pool.with_blocks(params.block_count(), |blocks| {
            argon2.hash_password_into_with_memory(password, salt_raw, out, blocks)
        })
        .map_err(argon2::password_hash::Error::from)
    });
    computed.is_ok_and(|c| c == expected)
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("slots", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl Hasher {
    pub fn new(config: &PasswordConfig) -> anyhow::Result<Hasher> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            Some(32),
        )
        .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let slots = match config.max_concurrent_hashes {
            0 => {
                2 * std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            }
            n => n,
        };
        let keep = if config.reuse_hash_memory { slots } else { 0 };
        let memory = Arc::new(MemoryPool {
            free: std::sync::Mutex::new(Vec::new()),
            keep,
        });
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let dummy = hash_with(
            &argon2,
            &memory,
            crate::crypto::secret_256().as_bytes(),
            salt.as_salt(),
        )
        .map_err(|e| anyhow::anyhow!("cannot hash: {e}"))?;
        Ok(Hasher {
            memory,
            argon2,
            slots: Arc::new(Semaphore::new(slots)),
            queue_timeout: Duration::from_millis(config.hash_queue_timeout_ms),
            verifications: Arc::new(AtomicU64::new(0)),
            hashes: Arc::new(AtomicU64::new(0)),
            dummy: Arc::new(dummy),
        })
    }

    /// Hashes an already normalised password.
    pub async fn hash(&self, normalized: String) -> Result<String, ApiError> {
        let argon2 = self.argon2.clone();
        let pool = self.memory.clone();
        self.hashes.fetch_add(1, Ordering::Relaxed);
        self.run(move || {
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            hash_with(&argon2, &pool, normalized.as_bytes(), salt.as_salt()).map_err(|e| {
                tracing::error!(error = %e, "argon2 hashing failed");
                ApiError::internal()
            })
        })
        .await
    }

    /// Verifies a password against a stored PHC hash; with `None` verifies against the dummy hash
    /// and returns false, so a missing account costs the same as a wrong password.
    /// Returns (matches, needs_rehash).
    pub async fn verify(
        &self,
        password: &str,
        stored: Option<String>,
    ) -> Result<(bool, bool), ApiError> {
        let pool = self.memory.clone();
        let exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy.as_str().to_string());
        let normalized = policy::normalize(password);
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let current = self.argon2.params().clone();
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                tracing::error!("a stored password hash is not a valid PHC string");
                return Ok((false, false));
            };
            let ok = verify_with(&pool, normalized.as_bytes(), &parsed) && exists;
            let stale = Params::try_from(&parsed)
                .map(|p| p != current)
                .unwrap_or(true);
            Ok((ok, ok && stale))
        })
        .await
    }

    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    pub fn hashes(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                ApiError::unavailable(
                    "the server is busy checking passwords; try again in a moment",
                )
            })?
            .map_err(|_| ApiError::internal())?;
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|_| ApiError::internal())?;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordConfig {
        PasswordConfig {
            argon2_memory_kib: 256,
            argon2_iterations: 1,
            insecure_fast_hashing: true,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn hashes_verify_and_nothing_is_truncated() {
        let h = Hasher::new(&cheap()).unwrap();
        let long = "x".repeat(256);
        let stored = h.hash(long.clone()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert_eq!(
            h.verify(&long, Some(stored.clone())).await.unwrap(),
            (true, false)
        );
        assert!(
            !h.verify(&format!("{long}y"), Some(stored.clone()))
                .await
                .unwrap()
                .0
        );
        assert!(!h.verify(&"x".repeat(255), Some(stored)).await.unwrap().0);
    }

    #[tokio::test]
    async fn nfc_and_nfd_forms_verify_alike() {
        let h = Hasher::new(&cheap()).unwrap();
        let nfc = "caf\u{e9} au lait, s'il vous pla\u{ee}t";
        let nfd = "cafe\u{301} au lait, s'il vous plai\u{302}t";
        let stored = h.hash(policy::normalize(nfc)).await.unwrap();
        assert!(h.verify(nfd, Some(stored)).await.unwrap().0);
    }

    #[tokio::test]
    async fn a_missing_account_costs_one_verification_and_never_matches() {
        let h = Hasher::new(&cheap()).unwrap();
        let before = h.verifications();
        assert_eq!(
            h.verify("anything at all here", None).await.unwrap(),
            (false, false)
        );
        assert_eq!(h.verifications(), before + 1);
    }

    #[tokio::test]
    async fn weaker_stored_parameters_ask_for_a_rehash() {
        let weak = Hasher::new(&cheap()).unwrap();
        let stored = weak.hash("a fine long passphrase".into()).await.unwrap();
        let stronger = Hasher::new(&PasswordConfig {
            argon2_memory_kib: 512,
            ..cheap()
        })
        .unwrap();
        assert_eq!(
            stronger
                .verify("a fine long passphrase", Some(stored))
                .await
                .unwrap(),
            (true, true)
        );
    }

    #[tokio::test]
    async fn work_areas_are_kept_per_slot_only_when_reuse_is_on() {
        let pooled = Hasher::new(&PasswordConfig {
            max_concurrent_hashes: 2,
            ..cheap()
        })
        .unwrap();
        let fresh = Hasher::new(&PasswordConfig {
            max_concurrent_hashes: 2,
            reuse_hash_memory: false,
            ..cheap()
        })
        .unwrap();
        for h in [&pooled, &fresh] {
            let stored = h.hash("a fine long passphrase".into()).await.unwrap();
            assert_eq!(
                h.verify("a fine long passphrase", Some(stored.clone()))
                    .await
                    .unwrap(),
                (true, false)
            );
            assert_eq!(
                h.verify("a fine long passphrasE", Some(stored))
                    .await
                    .unwrap(),
                (false, false)
            );
        }
        assert_eq!(
            pooled.memory.free.lock().unwrap().len(),
            1,
            "one work area kept for the next hash"
        );
        assert!(
            fresh.memory.free.lock().unwrap().is_empty(),
            "every work area freed after its hash"
        );
    }

    #[tokio::test]
    async fn pooled_hashes_are_standard_phc_argon2id() {
        use argon2::password_hash::PasswordVerifier as _;
        let h = Hasher::new(&cheap()).unwrap();
        let stored = h.hash("interoperable passphrase".into()).await.unwrap();
        // The reference implementation accepts what the pooled path wrote, and the other way round.
        let parsed = PasswordHash::new(&stored).unwrap();
        Argon2::default()
            .verify_password(b"interoperable passphrase", &parsed)
            .unwrap();
        assert!(Argon2::default()
            .verify_password(b"another passphrase", &parsed)
            .is_err());
        let reference = {
            use argon2::password_hash::PasswordHasher as _;
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(256, 1, 1, Some(32)).unwrap(),
            )
            .hash_password(b"made elsewhere, long", &salt)
            .unwrap()
            .to_string()
        };
        assert!(
            h.verify("made elsewhere, long", Some(reference.clone()))
                .await
                .unwrap()
                .0
        );
        assert!(
            !h.verify("made elsewhere, lonG", Some(reference))
                .await
                .unwrap()
                .0
        );
        assert!(h.memory.free.lock().unwrap().len() <= h.memory.keep);
    }

    #[tokio::test]
    async fn overload_answers_503_instead_of_queueing_forever() {
        let config = PasswordConfig {
            max_concurrent_hashes: 1,
            hash_queue_timeout_ms: 50,
            argon2_memory_kib: 64 * 1024,
            argon2_iterations: 4,
            ..cheap()
        };
        let h = Hasher::new(&config).unwrap();
        let busy = {
            let h = h.clone();
            tokio::spawn(async move { h.hash("one long password here".into()).await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = h.hash("another long password".into()).await;
        assert_eq!(
            second.unwrap_err().code,
            gatehouse_proto::ErrorCode::ServiceUnavailable
        );
        busy.await.unwrap().unwrap();
    }
}
