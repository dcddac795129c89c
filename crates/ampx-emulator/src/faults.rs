//! Fault injection: the settings ([`Faults`]) and what the fault layer in
//! `routes` asks of them for each request ([`FaultState::judge`]).
//!
//! Every random choice comes from one seeded generator, and every request
//! draws the same number of values from it whatever happens to it, so that
//! the same seed and the same order of requests give the same faults. Only
//! the rate limit depends on the clock.

use std::fmt;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::support::Rng;

/// The seed used when none is given.
pub const DEFAULT_FAULT_SEED: u64 = 1;

/// Faults the emulator injects into `/api/1` requests, to rehearse an
/// unreliable API. The default injects none.
///
/// Faults come after authentication (a wrong key still gets a 401), in this
/// order: the latency; the rate limit (a 429); the error rate (a 500, 502 or
/// 503 before anything is done); the request itself; and, for a write that
/// succeeded, the lost answer (a 502 or 504 although the change was made and
/// saved). Error bodies are JSON or plain text, as with the real API.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Every request waits this long before it is answered.
    pub latency_ms: u64,
    /// The fraction (0 to 1) of requests answered with a 500, 502 or 503
    /// without acting on them.
    pub error_rate: f64,
    /// The fraction (0 to 1) of successful writes (POST, PATCH, DELETE)
    /// whose answer is replaced by a gateway's 502 or 504: the change is
    /// made, but the client cannot know it.
    pub lost_answer_rate: f64,
    /// A token bucket holding this many requests (at least one) and refilled
    /// at this many a second; a request that finds it empty gets a 429,
    /// with or without `Retry-After`. `None`: no limit.
    pub rate_limit_rps: Option<f64>,
    /// Seeds every random choice: the same seed and the same requests in
    /// the same order give the same faults.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            error_rate: 0.0,
            lost_answer_rate: 0.0,
            rate_limit_rps: None,
            seed: DEFAULT_FAULT_SEED,
        }
    }
}

impl Faults {
    /// Whether any fault is switched on.
    pub fn any(&self) -> bool {
        self.latency_ms > 0
            || self.error_rate > 0.0
            || self.lost_answer_rate > 0.0
            || self.rate_limit_rps.is_some()
    }

    /// Checks that the rates are numbers from 0 to 1 and the rate limit is
    /// above 0; the message names the `ampx emulator` flag.
    pub fn validate(&self) -> Result<(), String> {
        for (flag, rate) in [
            ("--error-rate", self.error_rate),
            ("--lost-answer-rate", self.lost_answer_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "{flag} must be a number from 0 to 1 (a fraction of requests), not {rate}"
                ));
            }
        }
        if let Some(rps) = self.rate_limit_rps {
            if !(rps.is_finite() && rps > 0.0) {
                return Err(format!(
                    "--rate-limit-rps must be a number of requests a second above 0, not {rps}"
                ));
            }
        }
        Ok(())
    }
}

/// A short description for the start-up line, e.g.
/// `latency 50 ms, error rate 0.1, rate limit 5/s, seed 1`.
impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.latency_ms > 0 {
            parts.push(format!("latency {} ms", self.latency_ms));
        }
        if self.error_rate > 0.0 {
            parts.push(format!("error rate {}", self.error_rate));
        }
        if self.lost_answer_rate > 0.0 {
            parts.push(format!("lost-answer rate {}", self.lost_answer_rate));
        }
        if let Some(rps) = self.rate_limit_rps {
            parts.push(format!("rate limit {rps}/s"));
        }
        if parts.is_empty() {
            return f.write_str("no faults");
        }
        parts.push(format!("seed {}", self.seed));
        f.write_str(&parts.join(", "))
    }
}

/// What the fault layer does with one request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Verdict {
    /// Answer 429 without acting; `retry_after` in whole seconds.
    RateLimited {
        retry_after: Option<u64>,
        json: bool,
    },
    /// Answer this 5xx without acting.
    Fail { status: StatusCode, json: bool },
    /// Act; when `lose` is set and the request is a write that succeeds,
    /// answer that instead.
    Pass { lose: Option<(StatusCode, bool)> },
}

/// The settings, the generator and the token bucket.
pub(crate) struct FaultState {
    faults: Faults,
    rng: Rng,
    tokens: f64,
    refilled: Instant,
}

impl FaultState {
    /// Starts the generator from the seed and fills the bucket.
    pub(crate) fn new(faults: Faults) -> Self {
        Self {
            rng: Rng::seeded(faults.seed),
            tokens: faults.rate_limit_rps.map_or(0.0, bucket_capacity),
            refilled: Instant::now(),
            faults,
        }
    }

    pub(crate) fn latency(&self) -> Option<Duration> {
        (self.faults.latency_ms > 0).then(|| Duration::from_millis(self.faults.latency_ms))
    }

    /// Decides the fate of one request that arrives at `now`.
    pub(crate) fn judge(&mut self, is_write: bool, now: Instant) -> Verdict {
        // Always three draws, so that a request's fate depends only on its
        // place in the sequence, not on what happened to those before it.
        let error_roll = self.rng.next_f64();
        let lost_roll = self.rng.next_f64();
        let pick = self.rng.next_u64();
        let json = pick & 1 == 0;
        if let Err(wait) = self.take_token(now) {
            let retry_after = ((pick >> 1) & 1 == 0).then(|| wait.ceil().max(1.0) as u64);
            return Verdict::RateLimited { retry_after, json };
        }
        if error_roll < self.faults.error_rate {
            let status = [
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
            ][(pick >> 8) as usize % 3];
            return Verdict::Fail { status, json };
        }
        let lose = (is_write && lost_roll < self.faults.lost_answer_rate).then(|| {
            let status = if (pick >> 16) & 1 == 0 {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::GATEWAY_TIMEOUT
            };
            (status, json)
        });
        Verdict::Pass { lose }
    }

    /// Takes a token from the bucket, or says how many seconds until one is there.
    fn take_token(&mut self, now: Instant) -> Result<(), f64> {
        let Some(rps) = self.faults.rate_limit_rps else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rps).min(bucket_capacity(rps));
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - self.tokens) / rps)
        }
    }
}

/// A bucket holds a second's worth of requests, and at least one.
fn bucket_capacity(rps: f64) -> f64 {
    rps.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(f: impl FnOnce(&mut Faults)) -> Faults {
        let mut faults = Faults::default();
        f(&mut faults);
        faults
    }

    #[test]
    fn validation_names_the_flag() {
        assert!(Faults::default().validate().is_ok());
        assert!(!Faults::default().any());
        let bad = faults(|f| f.error_rate = 2.0);
        assert!(bad.validate().unwrap_err().contains("--error-rate"));
        let bad = faults(|f| f.lost_answer_rate = f64::NAN);
        assert!(bad.validate().unwrap_err().contains("--lost-answer-rate"));
        for rps in [0.0, -1.0, f64::INFINITY] {
            let bad = faults(|f| f.rate_limit_rps = Some(rps));
            assert!(bad.validate().unwrap_err().contains("--rate-limit-rps"));
        }
        assert!(faults(|f| f.error_rate = 1.0).validate().is_ok());
    }

    #[test]
    fn bucket_refills_at_the_rate() {
        let mut state = FaultState::new(faults(|f| f.rate_limit_rps = Some(2.0)));
        let t0 = Instant::now();
        state.refilled = t0;
        let limited = |v: &Verdict| matches!(v, Verdict::RateLimited { .. });
        assert!(!limited(&state.judge(false, t0)));
        assert!(!limited(&state.judge(false, t0)));
        assert!(limited(&state.judge(false, t0)));
        // Half a second refills one token at 2 a second.
        let t1 = t0 + Duration::from_millis(500);
        assert!(!limited(&state.judge(false, t1)));
        assert!(limited(&state.judge(false, t1)));
    }

    #[test]
    fn lost_answers_only_for_writes() {
        let mut state = FaultState::new(faults(|f| f.lost_answer_rate = 1.0));
        let now = Instant::now();
        assert_eq!(state.judge(false, now), Verdict::Pass { lose: None });
        assert!(matches!(
            state.judge(true, now),
            Verdict::Pass { lose: Some(_) }
        ));
    }

    #[test]
    fn display_lists_what_is_on() {
        assert_eq!(Faults::default().to_string(), "no faults");
        let f = faults(|f| {
            f.latency_ms = 50;
            f.rate_limit_rps = Some(5.0);
            f.seed = 9;
        });
        assert_eq!(f.to_string(), "latency 50 ms, rate limit 5/s, seed 9");
    }
}
