//! RFC 6238 TOTP (SHA-1, 6 digits, 30 s) with `totp-rs`, provisioning QR codes drawn as SVG
//! by `qrcode` on the server (no third-party QR service ever sees a secret), and random
//! recovery codes.

use rand::RngCore;
use storefront_app::ports::{TokenError, TotpAuthenticator, TotpProvisioning};
use storefront_domain::mfa::TOTP_STEP_SECS;
use totp_rs::{Algorithm, Secret, TOTP};

/// The name authenticator apps show above the account.
const ISSUER: &str = "Storefront";

/// Characters of recovery codes: the RFC 4648 base32 alphabet, lower case (32 symbols, so
/// `next_u32() % 32` is unbiased).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";

#[derive(Debug, Default, Clone, Copy)]
pub struct RfcTotp;

impl RfcTotp {
    fn totp(secret: &str) -> Option<TOTP> {
        let bytes = Secret::Encoded(secret.to_owned()).to_bytes().ok()?;
        // `new_unchecked`: RFC 6238's own test keys are shorter than the 128 bits
        // `new` insists on; the secrets made here are 160 bits.
        Some(TOTP::new_unchecked(Algorithm::SHA1, 6, 0, TOTP_STEP_SECS as u64, bytes))
    }

    /// The code of `secret` for the time step `step`.
    pub fn code_at_step(secret: &str, step: i64) -> Option<String> {
        let time = u64::try_from(step).ok()?.checked_mul(TOTP_STEP_SECS as u64)?;
        Some(Self::totp(secret)?.generate(time))
    }
}

impl TotpAuthenticator for RfcTotp {
    fn new_secret(&self) -> String {
        let mut bytes = [0u8; 20];
        rand::rng().fill_bytes(&mut bytes);
        match Secret::Raw(bytes.to_vec()).to_encoded() {
            Secret::Encoded(encoded) => encoded,
            Secret::Raw(_) => String::new(),
        }
    }

    fn provisioning(&self, secret: &str, account: &str) -> Result<TotpProvisioning, TokenError> {
        let otpauth_uri = format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits=6&period={TOTP_STEP_SECS}",
            issuer = percent_encode(ISSUER),
            account = percent_encode(account),
        );
        let qr = qrcode::QrCode::new(otpauth_uri.as_bytes()).map_err(|e| TokenError::Signing(e.to_string()))?;
        let qr_svg = qr.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build();
        Ok(TotpProvisioning { otpauth_uri, qr_svg })
    }

    fn code_matches(&self, secret: &str, step: i64, code: &str) -> bool {
        match Self::code_at_step(secret, step) {
            Some(expected) => constant_time_eq(expected.as_bytes(), code.as_bytes()),
            None => false,
        }
    }

    fn recovery_codes(&self, count: usize) -> Vec<String> {
        let mut rng = rand::rng();
        (0..count)
            .map(|_| {
                // 10 characters of 5 bits: 50 random bits, shown as `xxxxx-xxxxx`.
                let chars: String =
                    (0..10).map(|_| RECOVERY_ALPHABET[(rng.next_u32() % 32) as usize] as char).collect();
                format!("{}-{}", &chars[..5], &chars[5..])
            })
            .collect()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the SHA-1 key is the ASCII of "12345678901234567890".
    const RFC_KEY: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors_truncated_to_six_digits() {
        // (Unix time, the appendix's 8-digit TOTP): six digits are its last six.
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, eight) in vectors {
            let step = time / TOTP_STEP_SECS;
            assert_eq!(RfcTotp::code_at_step(RFC_KEY, step).unwrap(), &eight[2..], "T = {time}");
            assert!(RfcTotp.code_matches(RFC_KEY, step, &eight[2..]));
        }
    }

    #[test]
    fn secrets_are_160_bit_base32_and_provision_an_otpauth_uri_and_an_svg() {
        let secret = RfcTotp.new_secret();
        assert_eq!(secret.len(), 32);
        assert!(secret.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
        assert_ne!(secret, RfcTotp.new_secret());
        let shown = RfcTotp.provisioning(&secret, "ada+shop@example.com").unwrap();
        assert!(shown.otpauth_uri.starts_with("otpauth://totp/Storefront:ada%2Bshop%40example.com?secret="));
        assert!(shown.otpauth_uri.contains(&secret));
        assert!(shown.qr_svg.contains("<svg") && shown.qr_svg.contains("</svg>"));
    }

    #[test]
    fn a_malformed_secret_matches_nothing() {
        assert!(!RfcTotp.code_matches("not base32!", 1, "123456"));
    }

    #[test]
    fn recovery_codes_are_distinct_and_readable() {
        let codes = RfcTotp.recovery_codes(10);
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
    }
}
