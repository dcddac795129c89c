//! Small pieces the emulator needs and the crate's dependencies do not give:
//! the API's error answer, a random generator (seedable, for reproducible
//! fault injection) and an ISO 8601 clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error answer: `{"error": {"code": N, "message": "..."}}` with status N.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.status.as_u16(), "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

/// SplitMix64: tiny, fast and good enough for bucketing salts and fake SDK keys.
/// Nothing here needs cryptographic strength: the emulator guards no real data.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn from_entropy() -> Self {
        static CALLS: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let call = CALLS.fetch_add(1, Ordering::Relaxed);
        let seed = nanos
            ^ u64::from(std::process::id()).rotate_left(32)
            ^ call.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self(seed)
    }

    /// A generator that always gives the same sequence for the same seed.
    pub(crate) fn seeded(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`, from the top 53 bits (all an `f64` holds).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| {
                let index = (self.next_u64() % alphabet.len() as u64) as usize;
                char::from(alphabet[index])
            })
            .collect()
    }

    /// `len` characters from `[A-Za-z0-9]`, like the API's bucketing salts.
    pub(crate) fn alphanumeric(&mut self, len: usize) -> String {
        self.pick(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            len,
        )
    }

    /// `len` lowercase hexadecimal digits.
    pub(crate) fn hex(&mut self, len: usize) -> String {
        self.pick(b"0123456789abcdef", len)
    }
}

impl Default for Rng {
    fn default() -> Self {
        Self::from_entropy()
    }
}

/// The current time as the API writes it: `2023-07-29T03:32:49.594Z`.
pub(crate) fn now_iso8601() -> String {
    format_iso8601(SystemTime::now())
}

/// Formats a time as ISO 8601 in UTC with milliseconds.
pub(crate) fn format_iso8601(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let of_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since_epoch.subsec_millis()
    )
}

/// Milliseconds since the epoch of an ISO 8601 date-time
/// (`YYYY-MM-DDTHH:MM:SS`, an optional fraction, then `Z` or `±HH:MM`) or of
/// a bare date (`YYYY-MM-DD`, taken as midnight UTC); `None` for anything
/// else. The syntax is checked by the caller's rules; this only reads it.
pub(crate) fn epoch_millis(s: &str) -> Option<i64> {
    fn num(b: &[u8]) -> Option<i64> {
        if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(b).ok()?.parse().ok()
    }
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(&b[..4])?, num(&b[5..7])?, num(&b[8..10])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    if b.len() == 10 {
        return Some(days * 86_400_000);
    }
    if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        let mut digits = fraction[..len.min(3)].to_vec();
        digits.resize(3, b'0');
        millis = num(&digits)?;
        rest = &fraction[len..];
    }
    let offset_minutes = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (num(&[*h1, *h2])?, num(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// The UTC day (`YYYY-MM-DD`) of an ISO 8601 date-time or date, as the API
/// answers `startDate` and `endDate`; `None` when `s` is neither.
pub(crate) fn utc_day(s: &str) -> Option<String> {
    let days = epoch_millis(s)?.div_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    Some(format!("{year:04}-{month:02}-{day:02}"))
}

/// A proleptic Gregorian date to days since 1970-01-01, after Howard
/// Hinnant's `days_from_civil`.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, millis: u64) -> String {
        format_iso8601(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_690_601_569, 594), "2023-07-29T03:32:49.594Z");
        assert_eq!(at(4_102_444_799, 999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn reads_date_times_and_their_utc_days() {
        assert_eq!(epoch_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch_millis("1970-01-01"), Some(0));
        assert_eq!(
            epoch_millis("2023-07-29T03:32:49.594Z"),
            Some(1_690_601_569_594)
        );
        assert_eq!(
            epoch_millis("2023-07-29T05:32:49.5941+02:00"),
            Some(1_690_601_569_594)
        );
        assert_eq!(epoch_millis("2000-02-29"), Some(951_782_400_000));
        assert_eq!(
            utc_day("2023-07-29T10:26:00.996Z").as_deref(),
            Some("2023-07-29")
        );
        assert_eq!(
            utc_day("2023-07-30T01:00:00+02:00").as_deref(),
            Some("2023-07-29")
        );
        assert_eq!(
            utc_day("2023-07-29T23:30:00-01:00").as_deref(),
            Some("2023-07-30")
        );
        assert_eq!(utc_day("2023-07-29").as_deref(), Some("2023-07-29"));
        for bad in [
            "",
            "2023-7-29",
            "2023-07-29T00:00:00",
            "tomorrow",
            "2023-13-01",
        ] {
            assert_eq!(epoch_millis(bad), None, "{bad}");
        }
        for days in [-800_000, -1, 0, 1, 19_567, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn generator_alphabets() {
        let mut rng = Rng::from_entropy();
        let salt = rng.alphanumeric(8);
        assert_eq!(salt.len(), 8);
        assert!(salt.chars().all(|c| c.is_ascii_alphanumeric()));
        let hex = rng.hex(32);
        assert_eq!(hex.len(), 32);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(rng.hex(32), hex);
    }

    #[test]
    fn seeded_generators_repeat_and_fractions_stay_below_one() {
        let mut a = Rng::seeded(7);
        let mut b = Rng::seeded(7);
        let first: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..16).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(Rng::seeded(8).next_u64(), first[0]);
        assert!((0..10_000).all(|_| (0.0..1.0).contains(&a.next_f64())));
    }
}
