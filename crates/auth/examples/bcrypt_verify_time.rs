//! Times one password verification (bcrypt over the HMAC pre-hash, exactly as a login does
//! it) at a given cost, so that `bench/run` can compute the login ceiling: cores / time.
//!
//! `cargo run --release -p storefront-auth --example bcrypt_verify_time -- [COST] [ROUNDS]`
//! prints the median seconds of ROUNDS sequential verifications (one at a time, so one core).

use std::io::Write;
use std::time::Instant;
use storefront_app::ports::PasswordHasher;
use storefront_auth::BcryptHasher;
use storefront_domain::PlainPassword;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let cost: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(12);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(7);
    let hasher = BcryptHasher::new(b"bench-pepper".to_vec(), cost)?;
    let password = PlainPassword::new("correct horse battery staple");
    let hash = hasher.hash(&password).await?;
    let mut seconds = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        let ok = hasher.verify(&password, Some(&hash)).await?;
        seconds.push(started.elapsed().as_secs_f64());
        if !ok {
            return Err("the hash did not verify its own password".into());
        }
    }
    seconds.sort_by(f64::total_cmp);
    writeln!(std::io::stdout(), "{:.6}", seconds[seconds.len() / 2])?;
    Ok(())
}
