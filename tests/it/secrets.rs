//! Secrets never leak: every command runs at the highest verbosity
//! (`-vv` and `RUST_LOG=trace`, which includes the HTTP stack's own logs)
//! and all of its output, and every file it writes, is searched for the
//! Management API key and the deployments' SDK keys.

use crate::harness::{ampx, temp_dir, text, write, Ampx, Env, KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_prints_or_writes_a_key_at_any_verbosity() {
    let e = Env::builder().start().await;
    let sdk_keys = crate::harness::sdk_keys(&e).await;
    assert!(
        !sdk_keys.is_empty(),
        "the emulator's deployments carry SDK keys"
    );

    let dir = temp_dir("secrets");
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    for f in std::fs::read_dir("examples/manifests").unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, manifests.join(f.file_name().unwrap())).unwrap();
    }
    let (m, plan_file) = (
        manifests.to_str().unwrap().to_string(),
        dir.join("plan.json").to_str().unwrap().to_string(),
    );
    let export_dir = dir.join("export").to_str().unwrap().to_string();
    let url = e.emu.base_url.clone();
    let wrong = "wrong-key-that-must-not-show-9f8e7d";
    let runs: Vec<(Option<&str>, Vec<&str>)> = vec![
        (Some(KEY), vec!["-vv", "validate", &m]),
        (Some(KEY), vec!["-vv", "plan", &m, "--format", "json"]),
        (
            Some(KEY),
            vec![
                "-vv", "plan", &m, "--format", "markdown", "--out", &plan_file,
            ],
        ),
        (
            Some(KEY),
            vec!["-vv", "apply", "--plan", &plan_file, "--auto-approve"],
        ),
        (Some(KEY), vec!["-vv", "plan", &m, "--detailed-exitcode"]),
        (Some(KEY), vec!["-vv", "drift", &m, "--format", "json"]),
        (Some(KEY), vec!["-vv", "drift", &m]),
        (Some(KEY), vec!["-vv", "apply", &m]),
        (Some(KEY), vec!["-vv", "export"]),
        (Some(KEY), vec!["-vv", "export", "--out", &export_dir]),
        (Some(wrong), vec!["-vv", "plan", &m]),
        (Some(wrong), vec!["-vv", "apply", &m, "--auto-approve"]),
    ];
    let mut seen = String::new();
    for (key, args) in &runs {
        let mut run = Ampx::at(&url).args(args).var("RUST_LOG", "trace");
        if let Some(k) = key {
            run = run.key(k);
        }
        let o = run.run().await;
        let (out, err) = text(&o);
        seen.push_str(&format!("$ ampx {}\n{out}{err}\n", args.join(" ")));
    }
    // An unreliable API: each retry is logged at debug level, naming the call.
    e.emu.set_faults(ampx::emulator::Faults {
        error_rate: 0.5,
        ..Default::default()
    });
    let o = Ampx::at(&url)
        .key(KEY)
        .args(&["-vv", "plan", &m])
        .run()
        .await;
    e.emu.set_faults(ampx::emulator::Faults::default());
    let (out, err) = text(&o);
    assert!(
        err.contains("retrying") && err.contains("GET /api/1/"),
        "retries are logged with their call: {err}"
    );
    seen.push_str(&out);
    seen.push_str(&err);

    // A remote plain-http server is refused before any request is made.
    let o = ampx("http://api.example.com", Some(KEY), &["-vv", "plan", &m]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("http"), "{err}");
    seen.push_str(&out);
    seen.push_str(&err);
    seen.push_str(&std::fs::read_to_string(&plan_file).unwrap());
    let mut exported = 0;
    let mut stack = vec![std::path::PathBuf::from(&export_dir)];
    while let Some(d) = stack.pop() {
        for f in std::fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            if f.is_dir() {
                stack.push(f);
            } else {
                exported += 1;
                seen.push_str(&std::fs::read_to_string(&f).unwrap());
            }
        }
    }
    assert!(exported >= 3, "the export wrote files");

    assert!(
        seen.contains("TRACE") || seen.contains("DEBUG"),
        "the logs were on"
    );
    assert!(seen.contains("401"), "the wrong key was rejected");
    for secret in std::iter::once(KEY)
        .chain([wrong])
        .chain(sdk_keys.iter().map(String::as_str))
    {
        assert!(
            !seen.contains(secret),
            "a secret leaked: {secret}\n{}",
            seen.lines()
                .filter(|l| l.contains(secret))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    write(&dir, "done", "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_whitespace_or_odd_characters_is_refused_clearly() {
    let e = Env::builder().start().await;
    for bad in ["abc def", "abc\n", "abc\tdef", "ключ"] {
        let o = ampx(&e.emu.base_url, Some(bad), &["plan", "examples/manifests"]).await;
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("AMPLITUDE_MANAGEMENT_API_KEY"), "{err}");
        assert!(
            !err.contains(bad.trim()),
            "the key itself is not echoed: {err}"
        );
    }
    assert_eq!(e.emu.requests().len(), 0, "no request with a malformed key");
}
