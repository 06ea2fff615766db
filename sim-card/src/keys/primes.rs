//! The RSA derivation's expensive part: the two primes, each the end of a walk
//! from a seeded candidate, with the sieve and the Fermat test that skip the
//! numbers the walk need not test.

use std::sync::OnceLock;

use openssl::bn::{BigNum, BigNumContext, BigNumRef};
use openssl::error::ErrorStack;
use openssl::hash::{Hasher, MessageDigest};

use super::{MODULUS_BITS, PUBLIC_EXPONENT};

/// The two primes of the key for `(seed, label)`: the expensive part of a
/// derivation, and all a cached key needs to keep.
pub(super) fn derive_primes(
    seed: &str,
    label: &str,
    ctx: &mut BigNumContext,
) -> Result<(BigNum, BigNum), ErrorStack> {
    let p = walk_to_prime(prime_candidate(seed, label, "p")?, ctx)?;
    let mut q = walk_to_prime(prime_candidate(seed, label, "q")?, ctx)?;
    let mut retry = 0u32;
    // Equal primes would need a SHA-256 collision in practice; the loop makes the
    // derivation total anyway.
    while q == p {
        retry += 1;
        q = walk_to_prime(prime_candidate(seed, label, &format!("q{retry}"))?, ctx)?;
    }
    Ok((p, q))
}

pub(super) fn sub(a: &BigNumRef, b: &BigNumRef) -> Result<BigNum, ErrorStack> {
    let mut r = BigNum::new()?;
    r.checked_sub(a, b)?;
    Ok(r)
}

/// Bytes of each prime: half the modulus.
pub(super) const PRIME_BYTES: usize = MODULUS_BITS / 16;

/// Where the walk for `which` prime starts: 1024 bits of SHA-256 in counter
/// mode over (seed, label, which), top two bits and low bit set.
pub(super) fn prime_candidate(seed: &str, label: &str, which: &str) -> Result<BigNum, ErrorStack> {
    let mut bytes = Vec::with_capacity(PRIME_BYTES);
    let mut counter = 0u32;
    while bytes.len() < PRIME_BYTES {
        let mut h = Hasher::new(MessageDigest::sha256())?;
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        for part in ["kazasu rsa prime", seed, label, which] {
            h.update(&(part.len() as u64).to_be_bytes())?;
            h.update(part.as_bytes())?;
        }
        h.update(&counter.to_be_bytes())?;
        bytes.extend_from_slice(&h.finish()?);
        counter += 1;
    }
    bytes.truncate(PRIME_BYTES);
    // Top two bits: the product of two such numbers has exactly 2048 bits.
    bytes[0] |= 0xC0;
    // Odd, so stepping by two visits odd numbers only.
    bytes[PRIME_BYTES - 1] |= 0x01;
    BigNum::from_slice(&bytes)
}

/// Odd numbers the sieve looks at in one pass of the walk. A walk visits
/// about 350 on average (primes near 2^1024 are ~710 apart); a longer one
/// takes another pass.
const SIEVE_WINDOW: usize = 4096;

/// The odd primes below 2^16: the sieve's divisors.
fn small_primes() -> &'static [u32] {
    static PRIMES: OnceLock<Vec<u32>> = OnceLock::new();
    PRIMES.get_or_init(|| {
        const LIMIT: usize = 1 << 16;
        let mut composite = vec![false; LIMIT];
        let mut primes = Vec::new();
        for n in (3..LIMIT).step_by(2) {
            if !composite[n] {
                primes.push(n as u32);
                for multiple in (n * n..LIMIT).step_by(2 * n) {
                    composite[multiple] = true;
                }
            }
        }
        primes
    })
}

/// Which of `base`, `base + 2`, …, `base + 2·(window - 1)` the walk
/// can skip without a primality test: those with an odd prime factor below
/// 2^16 (composite: every number here is far above 2^16), and those that are
/// 1 modulo `e` (refused anyway, `e` must be prime to `p - 1`).
fn sieve(base: &BigNumRef, window: usize) -> Result<Vec<bool>, ErrorStack> {
    let mut skip = vec![false; window];
    let rules = small_primes()
        .iter()
        .map(|&prime| (prime, 0))
        .chain([(PUBLIC_EXPONENT, 1)]);
    for (modulus, refused) in rules {
        let m = u64::from(modulus);
        let residue = base.mod_word(modulus)?;
        // base + 2k ≡ refused (mod m)  ⇔  k ≡ (refused − residue)·2⁻¹ (mod m),
        // and 2⁻¹ is (m + 1)/2 for an odd m.
        let first = (refused + m - residue) % m * m.div_ceil(2) % m;
        for k in (first as usize..window).step_by(modulus as usize) {
            skip[k] = true;
        }
    }
    Ok(skip)
}

/// Whether `2^(n-1) ≡ 1 (mod n)`. Every odd prime passes, so a number that
/// fails is proven composite by one modular exponentiation, against the 64
/// Miller-Rabin rounds OpenSSL's test runs to accept a prime.
pub(super) fn passes_fermat_base_2(
    n: &BigNumRef,
    ctx: &mut BigNumContext,
) -> Result<bool, ErrorStack> {
    let one = BigNum::from_u32(1)?;
    let two = BigNum::from_u32(2)?;
    let exponent = sub(n, &one)?;
    let mut power = BigNum::new()?;
    power.mod_exp(&two, &exponent, n, ctx)?;
    Ok(power == one)
}

/// The first number `p` at or after `start` (odd) that OpenSSL's primality
/// test accepts, with `gcd(p - 1, e) = 1`.
///
/// The sieve and the Fermat test only skip numbers that are composite or
/// refused for `e` (neither can skip a prime OpenSSL's test would accept), so
/// the walk ends where testing every odd number with OpenSSL's test alone
/// would end; it just runs that expensive test on the prime and on the rare
/// base-2 pseudoprime only.
fn walk_to_prime(start: BigNum, ctx: &mut BigNumContext) -> Result<BigNum, ErrorStack> {
    walk_in_windows(start, SIEVE_WINDOW, ctx)
}

/// [`walk_to_prime`], sieving `window` odd numbers at a time.
fn walk_in_windows(
    start: BigNum,
    window: usize,
    ctx: &mut BigNumContext,
) -> Result<BigNum, ErrorStack> {
    let mut base = start;
    loop {
        let skip = sieve(&base, window)?;
        for (k, _) in skip.iter().enumerate().filter(|(_, skip)| !**skip) {
            let mut candidate = base.to_owned()?;
            candidate.add_word(2 * k as u32)?;
            if passes_fermat_base_2(&candidate, ctx)?
                && candidate.is_prime_fasttest(0, ctx, true)?
            {
                return Ok(candidate);
            }
        }
        base.add_word(2 * window as u32)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk as it was: OpenSSL's test on every odd number not refused
    /// for `e`. The definition the sieve must not change.
    fn walk_testing_everything(mut candidate: BigNum, ctx: &mut BigNumContext) -> BigNum {
        loop {
            if candidate.mod_word(PUBLIC_EXPONENT).unwrap() != 1
                && candidate.is_prime_fasttest(0, ctx, true).unwrap()
            {
                return candidate;
            }
            candidate.add_word(2).unwrap();
        }
    }

    #[test]
    fn the_sieved_walk_ends_where_testing_everything_ends() {
        let mut ctx = BigNumContext::new().unwrap();
        for i in 0..4 {
            let start = prime_candidate(&format!("walk-{i}"), "auth", "p").unwrap();
            let expected = walk_testing_everything(start.to_owned().unwrap(), &mut ctx);
            assert_eq!(
                walk_to_prime(start, &mut ctx).unwrap(),
                expected,
                "walk-{i}"
            );
        }
        // Windows of 8 odd numbers: the walk crosses dozens of them.
        let start = prime_candidate("walk-windows", "auth", "p").unwrap();
        let expected = walk_testing_everything(start.to_owned().unwrap(), &mut ctx);
        assert_eq!(walk_in_windows(start, 8, &mut ctx).unwrap(), expected);
    }

    #[test]
    fn the_sieve_skips_exactly_small_factors_and_one_mod_e() {
        // Numbers above 2^40, where u64 arithmetic can check each one.
        let base: u64 = (1 << 40) + 12_345 * 2 + 1;
        let skip = sieve(
            &BigNum::from_dec_str(&base.to_string()).unwrap(),
            SIEVE_WINDOW,
        )
        .unwrap();
        let primes = small_primes();
        assert_eq!(primes.len(), 6541, "odd primes below 2^16");
        for (k, skipped) in skip.iter().enumerate() {
            let n = base + 2 * k as u64;
            let small_factor = primes.iter().any(|&p| n.is_multiple_of(u64::from(p)));
            let refused = n % u64::from(PUBLIC_EXPONENT) == 1;
            assert_eq!(*skipped, small_factor || refused, "{n}");
        }
    }
}
