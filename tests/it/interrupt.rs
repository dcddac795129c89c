//! SIGINT and SIGTERM during `ampx apply`, sent to the real binary: the
//! first stops it gracefully (no new call, the report, exit 130), a second
//! exits at once, and the next apply converges.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use ampx::emulator::{self, EmulatorConfig, EmulatorHandle, Faults};

use crate::harness::{temp_dir, text, write, KEY};

/// An emulator that answers every request after `latency_ms`, so that an
/// apply of many calls takes a while.
async fn slow_emulator(latency_ms: u64) -> EmulatorHandle {
    let config = EmulatorConfig {
        api_key: KEY.into(),
        faults: Faults {
            latency_ms,
            ..Faults::default()
        },
        ..Default::default()
    };
    emulator::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap()
}

/// Manifests of 40 new flags, each a create and a PATCH.
fn many_flags(name: &str) -> String {
    let dir = temp_dir(name);
    let mut text = String::from("apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n");
    for i in 0..40 {
        text.push_str(&format!(
            "---\napiVersion: ampx/v1\nkind: Flag\nkey: flag-{i:02}\nenabled: true\n"
        ));
    }
    write(&dir, "m.yaml", &text);
    dir.to_string_lossy().into_owned()
}

/// Runs `ampx apply` and sends `signals` (one after another, 200 ms apart)
/// `delay` after a line of its output contains `after`; its exit code,
/// stdout and stderr.
fn apply_interrupted(
    url: &str,
    dir: &str,
    (after, delay): (&str, Duration),
    signals: &[i32],
) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ampx"))
        .args(["apply", dir, "--auto-approve"])
        .env("AMPX_SERVER", url)
        .env("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut out = String::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        out.push_str(&line);
        let started = line.contains(after);
        line.clear();
        if started {
            break;
        }
    }
    std::thread::sleep(delay);
    for s in signals {
        // SAFETY: `kill` only sends a signal to the child this test started.
        unsafe {
            libc::kill(pid, *s);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    out.push_str(&rest);
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        out,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_interrupt_stops_the_apply_with_a_report_and_the_next_apply_converges() {
    for (signal, name) in [(libc::SIGINT, "sigint"), (libc::SIGTERM, "sigterm")] {
        let emu = slow_emulator(150).await;
        let dir = many_flags(name);
        let (url, d) = (emu.base_url.clone(), dir.clone());
        let (code, out, err) = tokio::task::spawn_blocking(move || {
            apply_interrupted(
                &url,
                &d,
                ("Applying", Duration::from_millis(400)),
                &[signal],
            )
        })
        .await
        .unwrap();
        assert_eq!(code, Some(130), "{name}: {out}{err}");
        assert!(
            err.contains("Interrupted: no new call starts"),
            "{name}: {err}"
        );
        assert!(out.contains("not attempted"), "{name}: {out}");
        assert!(out.contains("call(s) applied"), "{name}: {out}");
        assert!(
            err.contains("Run apply again: it plans from the live state and converges"),
            "{name}: {err}"
        );
        // What the report says was applied was applied, and nothing else.
        let created = (0..40)
            .filter(|i| emu.flag_json(&format!("flag-{i:02}")).is_some())
            .count();
        assert!(created > 0 && created < 40, "{name}: {created} created");
        let o = crate::harness::ampx(&emu.base_url, Some(KEY), &["apply", &dir, "--auto-approve"])
            .await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{name}: {out}{err}");
        assert!(out.contains("Verified"), "{name}: {out}");
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_interrupt_exits_at_once() {
    // Calls in flight take 1 s: the second interrupt comes long before they
    // end.
    let emu = slow_emulator(1000).await;
    let dir = many_flags("sigint-twice");
    let url = emu.base_url.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        apply_interrupted(
            &url,
            &dir,
            ("Applying", Duration::from_millis(400)),
            &[libc::SIGINT, libc::SIGINT],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, Some(130), "{out}{err}");
    assert!(err.contains("Interrupted again: exiting at once"), "{err}");
    assert!(!out.contains("Verified"), "{out}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_during_verification_exits_130_saying_so() {
    // The verification's one list read takes 1 s; the interrupt comes
    // 50 ms into it.
    let emu = slow_emulator(1000).await;
    let dir = many_flags("sigint-verify");
    let url = emu.base_url.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        apply_interrupted(
            &url,
            &dir,
            ("Applied ", Duration::from_millis(50)),
            &[libc::SIGINT],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, Some(130), "{out}{err}");
    assert!(
        out.contains("Applied 80 call(s)"),
        "every call was made: {out}"
    );
    assert!(err.contains("Interrupted while verifying"), "{err}");
    assert!(!out.contains("Verified"), "{out}");
}
