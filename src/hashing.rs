//! The hash maps' hasher.
//!
//! std's `RandomState` keys SipHash with randomness from the OS. On wasm32-unknown-unknown (the
//! page, and server mode under Deno and Node) there is no OS to ask, and std keys it with two
//! allocation addresses instead: the same in every run of a build. Whoever reads the published
//! build could then choose client, service or session ids that all land in one bucket and turn
//! every lookup into a walk. So the keys come from the driver's random seed instead
//! (`crypto.getRandomValues` in JS, the OS natively), which each [`crate::Router`] installs before
//! it makes its maps.

use std::cell::Cell;
use std::hash::BuildHasher;

use siphasher::sip::SipHasher13;

/// A `HashMap` keyed as above.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, Keyed>;
/// A `HashSet` keyed as above.
pub(crate) type HashSet<T> = std::collections::HashSet<T, Keyed>;

/// The hasher of the crate's maps.
pub(crate) type Keyed = SeededKeys;

thread_local! {
    /// The keys maps made from now on take.
    static KEYS: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

/// Key the maps made from now on from `seed` (the driver's randomness): a Router calls this
/// before it makes any.
pub(crate) fn seed(seed: u64) {
    KEYS.with(|keys| keys.set(Some(expand(seed))));
}

/// Two SipHash keys from one seed (splitmix64's output function on two steps).
fn expand(seed: u64) -> (u64, u64) {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let step = 0x9E37_79B9_7F4A_7C15_u64;
    (
        mix(seed.wrapping_add(step)),
        mix(seed.wrapping_add(step.wrapping_mul(2))),
    )
}

/// SipHash-1-3 (std's algorithm) with the keys last installed by [`seed`] on this thread; before
/// any, with keys drawn from std's own `RandomState`.
#[derive(Clone, Debug)]
pub(crate) struct SeededKeys(u64, u64);

impl Default for SeededKeys {
    fn default() -> Self {
        let (k0, k1) = KEYS.with(Cell::get).unwrap_or_else(|| {
            let std_keys = std::collections::hash_map::RandomState::new();
            (std_keys.hash_one(0_u8), std_keys.hash_one(1_u8))
        });
        Self(k0, k1)
    }
}

impl BuildHasher for SeededKeys {
    type Hasher = SipHasher13;

    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.0, self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_follow_the_seed_and_a_map_keeps_its_own() {
        let id = "lab/a-client-id-a-peer-chose";
        seed(1);
        let mut made_first: std::collections::HashMap<&str, u8, SeededKeys> =
            std::collections::HashMap::default();
        made_first.insert(id, 1);
        let first = SeededKeys::default();
        assert_eq!(first.hash_one(id), SeededKeys::default().hash_one(id));
        seed(2);
        assert_ne!(
            first.hash_one(id),
            SeededKeys::default().hash_one(id),
            "another seed puts the same id elsewhere"
        );
        // A map keeps the keys it was made with: another Router's seed changes nothing for it.
        assert_eq!(made_first.get(id), Some(&1));
    }
}
