//! Opaque refresh tokens: 256 random bits, base64url; only their SHA-256 is stored.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use storefront_app::ports::{RefreshTokenHash, RefreshTokenMint};

#[derive(Debug, Default, Clone, Copy)]
pub struct RandomRefreshTokens;

impl RefreshTokenMint for RandomRefreshTokens {
    fn generate(&self) -> (String, RefreshTokenHash) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let hash = self.hash(&token);
        (token, hash)
    }

    fn hash(&self, presented: &str) -> RefreshTokenHash {
        // A fast hash is right here: the token has 256 bits of entropy, unlike a password.
        let digest = Sha256::digest(presented.as_bytes());
        RefreshTokenHash(digest.iter().map(|b| format!("{b:02x}")).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_deterministically() {
        let mint = RandomRefreshTokens;
        let (a, ha) = mint.generate();
        let (b, hb) = mint.generate();
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert_eq!(mint.hash(&a), ha);
        assert_eq!(a.len(), 43);
        assert_eq!(ha.0.len(), 64);
    }
}
