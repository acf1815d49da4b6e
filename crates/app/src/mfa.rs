//! The second factor: enrolling a TOTP authenticator (pending until a first code confirms
//! it), its recovery codes, turning it off, and checking a code (a TOTP code of the current
//! time step or a neighbour, each step at most once; or an unused recovery code).

use crate::client::ClientContext;
use crate::credentials::CurrentPassword;
use crate::ports::{AuditContext, Clock, RefreshTokenMint, SecondFactorRepository, TotpAuthenticator};
use crate::{AppError, Principal};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use storefront_domain::mfa::{
    RECOVERY_CODE_COUNT, acceptable_steps, looks_like_totp, normalize_recovery_code, step_is_fresh,
};
use storefront_domain::{AuditAction, PlainPassword, UserId};

/// What an enrolment hands the user (once): the secret, its URI and its QR code.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// Checks second-factor codes; shared by the login's second step and the settings.
#[derive(Clone)]
pub struct CodeChecker {
    pub(crate) factors: Arc<dyn SecondFactorRepository>,
    pub(crate) totp: Arc<dyn TotpAuthenticator>,
    pub(crate) digests: Arc<dyn RefreshTokenMint>,
}

impl CodeChecker {
    /// Whether `code` is right for the user's enabled second factor, spending it: a TOTP
    /// code's step is recorded (a code works once), a recovery code is used up.
    pub(crate) async fn spend(&self, user_id: UserId, code: &str, now: DateTime<Utc>) -> Result<bool, AppError> {
        let Some(state) = self.factors.totp_state(user_id).await? else { return Ok(false) };
        let (true, Some(secret)) = (state.enabled, state.secret) else { return Ok(false) };
        if looks_like_totp(code) {
            let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
            for step in acceptable_steps(now) {
                if step_is_fresh(step, state.last_step) && self.totp.code_matches(&secret, step, &code) {
                    return Ok(self.factors.accept_totp_step(user_id, step).await?);
                }
            }
            return Ok(false);
        }
        let digest = self.digests.hash(&normalize_recovery_code(code));
        Ok(self.factors.use_recovery_code(user_id, &digest, now).await?)
    }
}

#[derive(Clone)]
pub struct SecondFactorService {
    checker: CodeChecker,
    password: CurrentPassword,
    clock: Arc<dyn Clock>,
}

impl SecondFactorService {
    pub(crate) fn new(checker: CodeChecker, password: CurrentPassword, clock: Arc<dyn Clock>) -> Self {
        Self { checker, password, clock }
    }

    /// Starts (or restarts) a TOTP enrolment after the current password; the second factor
    /// stays off until `confirm`.
    ///
    /// # Errors
    /// `InvalidCredentials` or `RateLimited` (a failed login); `Conflict` when already on.
    pub async fn enrol(
        &self,
        principal: &Principal,
        current: &PlainPassword,
        client: &ClientContext,
    ) -> Result<TotpEnrolment, AppError> {
        self.password.confirm(principal, current, client).await?;
        if principal.user.mfa_enabled {
            return Err(AppError::Conflict("The second factor is already enabled.".into()));
        }
        let secret = self.checker.totp.new_secret();
        let shown = self
            .checker
            .totp
            .provisioning(&secret, principal.user.email.as_str())
            .map_err(|e| AppError::Internal(e.to_string()))?;
        if !self.checker.factors.begin_totp(principal.user.id, &secret, self.clock.now()).await? {
            return Err(AppError::Conflict("The second factor is already enabled.".into()));
        }
        Ok(TotpEnrolment { secret, otpauth_uri: shown.otpauth_uri, qr_svg: shown.qr_svg })
    }

    /// Confirms a pending enrolment with a first code: the second factor is on, and the
    /// recovery codes (shown once, stored hashed) are returned.
    ///
    /// # Errors
    /// `InvalidEnrolmentCode` for a wrong code; `Conflict` with nothing pending or already on.
    pub async fn confirm(&self, principal: &Principal, code: &str) -> Result<Vec<String>, AppError> {
        let factors = &self.checker.factors;
        let state = factors.totp_state(principal.user.id).await?.ok_or(AppError::InvalidToken)?;
        if state.enabled {
            return Err(AppError::Conflict("The second factor is already enabled.".into()));
        }
        let Some(secret) = state.secret else {
            return Err(AppError::Conflict("No enrolment is pending: start one with POST /users/me/mfa/totp.".into()));
        };
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let now = self.clock.now();
        let Some(step) = acceptable_steps(now).find(|step| {
            step_is_fresh(*step, state.last_step) && self.checker.totp.code_matches(&secret, *step, &code)
        }) else {
            return Err(AppError::InvalidEnrolmentCode);
        };
        let codes = self.checker.totp.recovery_codes(RECOVERY_CODE_COUNT);
        let digests = codes.iter().map(|c| self.checker.digests.hash(&normalize_recovery_code(c))).collect();
        let ctx = AuditContext { actor: principal.user.id, now };
        if factors.enable_totp(principal.user.id, &secret, step, digests, ctx).await? {
            Ok(codes)
        } else {
            // A concurrent confirmation or a new enrolment won the race.
            Err(AppError::InvalidEnrolmentCode)
        }
    }

    /// Turns the second factor off after the password and a code; every other session ends.
    ///
    /// # Errors
    /// `InvalidCredentials`/`InvalidCode` (failed logins), `RateLimited`; `Conflict` when off.
    pub async fn disable(
        &self,
        principal: &Principal,
        current: &PlainPassword,
        code: &str,
        client: &ClientContext,
    ) -> Result<(), AppError> {
        self.password.confirm(principal, current, client).await?;
        if !principal.user.mfa_enabled {
            return Err(AppError::Conflict("The second factor is not enabled.".into()));
        }
        let now = self.clock.now();
        let user_id = principal.user.id;
        let account = principal.user.email.as_str();
        self.password.code_attempt(account, client.ip.as_deref(), self.checker.spend(user_id, code, now)).await?;
        let ctx = AuditContext { actor: user_id, now };
        self.checker
            .factors
            .disable_mfa(user_id, Some(principal.session_id), AuditAction::UserMfaDisabled, ctx)
            .await
            .map_err(AppError::on_own_account)
    }
}
