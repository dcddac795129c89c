//! The secrets this process holds: the Management API key, and the SDK keys
//! of the deployments the API has shown it. Whatever text leaves the
//! process (standard output, errors, log lines at every level, files that
//! export and `plan --out` write) passes through [`scrub`] first, so that a
//! server or proxy echoing a secret back (in an error body, a field of the
//! wrong type, a description) cannot get it printed or committed.

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

/// Secrets shorter than this are not registered: scrubbing them would
/// garble ordinary text, and no real key is this short.
const MIN_LEN: usize = 8;

/// Each secret with the text that stands in for it.
static SECRETS: RwLock<Vec<(String, &'static str)>> = RwLock::new(Vec::new());

/// Remembers `secret`; from now on [`scrub`] shows it as `shown_as`.
pub fn register(secret: &str, shown_as: &'static str) {
    if secret.len() < MIN_LEN {
        return;
    }
    let mut all = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|(s, _)| s == secret) {
        all.push((secret.to_string(), shown_as));
        // Longer first: a secret that contains another is replaced whole.
        all.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    }
}

/// Remembers the SDK keys a deployment answer shows: the `key` of every
/// object in it (a deployment, or the items of a deployment list).
pub fn register_sdk_keys(answer: &serde_json::Value) {
    match answer {
        serde_json::Value::Object(m) => {
            if let Some(serde_json::Value::String(k)) = m.get("key") {
                register(k, "[an SDK key]");
            }
            m.values().for_each(register_sdk_keys);
        }
        serde_json::Value::Array(items) => items.iter().for_each(register_sdk_keys),
        _ => {}
    }
}

/// `text` with every registered secret replaced by its stand-in.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let all = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for (secret, shown_as) in all.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), shown_as));
        }
    }
    out
}

/// The log writer: each event is gathered whole, scrubbed, and written to
/// standard error in one piece.
pub struct ScrubbedStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ScrubbedStderr {
    type Writer = EventBuffer;
    fn make_writer(&'a self) -> EventBuffer {
        EventBuffer(Vec::new())
    }
}

/// One log event on its way to standard error.
pub struct EventBuffer(Vec<u8>);

impl Write for EventBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let _ = std::io::stderr().write_all(scrub(&text).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_replaced_and_short_ones_ignored() {
        register("sdk-secret-0123456789", "[an SDK key]");
        register("short", "[x]");
        register_sdk_keys(&serde_json::json!({"deployments": [
            {"id": 1, "label": "web", "key": "client-abcdefghijkl"}
        ]}));
        assert_eq!(
            scrub("a sdk-secret-0123456789 b client-abcdefghijkl short"),
            "a [an SDK key] b [an SDK key] short"
        );
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }
}
