//! The store's randomness: Maildir unique names, IMAP delivery ids, MIME boundaries and
//! `Message-ID`s. Seeded from the OS in production; a test that compares bytes or names seeds
//! it ([`IdRng::seeded`], `Maildir::with_rng_seed`, `Imap::with_rng_seed`).

use std::sync::{Mutex, PoisonError};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A random number generator the store's threads share (deposits run on the blocking pool).
pub struct IdRng(Mutex<StdRng>);

impl IdRng {
    /// Seeded from the operating system: what the gateway uses.
    pub fn from_entropy() -> IdRng {
        IdRng(Mutex::new(StdRng::from_entropy()))
    }

    /// The same sequence on every run, for tests.
    pub fn seeded(seed: u64) -> IdRng {
        IdRng(Mutex::new(StdRng::seed_from_u64(seed)))
    }

    fn with<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        // The generator's state is valid whatever a panicking holder did.
        let mut rng = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut rng)
    }

    /// A random `u64`.
    pub fn next_u64(&self) -> u64 {
        self.with(|r| r.gen())
    }

    /// A random `u128`.
    pub fn next_u128(&self) -> u128 {
        self.with(|r| r.gen())
    }

    /// A generator of the caller's own, seeded (256 bits) from this one: for work that draws
    /// while it does something long, such as rendering a message around a large attachment,
    /// which must not hold the other deposits' generator meanwhile.
    pub fn fork(&self) -> StdRng {
        StdRng::from_seed(self.with(|r| r.gen()))
    }
}

impl Default for IdRng {
    fn default() -> IdRng {
        IdRng::from_entropy()
    }
}

impl std::fmt::Debug for IdRng {
    // The state would let a reader predict the next ids.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdRng")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_repeats_its_sequence_and_entropy_does_not() {
        let (a, b) = (IdRng::seeded(7), IdRng::seeded(7));
        let first: Vec<u128> = (0..3).map(|_| a.next_u128()).collect();
        assert_eq!(first, (0..3).map(|_| b.next_u128()).collect::<Vec<_>>());
        assert_ne!(first[0], first[1]);
        assert_ne!(IdRng::seeded(8).next_u128(), first[0]);
        let (mut fa, mut fb) = (a.fork(), b.fork());
        assert_eq!(fa.gen::<u64>(), fb.gen::<u64>());
        assert_ne!(a.next_u64(), fa.gen::<u64>());
        assert_ne!(IdRng::default().next_u128(), IdRng::default().next_u128());
    }
}
