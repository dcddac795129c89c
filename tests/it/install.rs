//! scripts/install.sh (what the composite action runs) against a release
//! served from here: the binary for this machine is installed only when its
//! checksum is the release's, and input that could leave the URL is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use axum::extract::Path as UrlPath;
use axum::http::StatusCode;
use axum::Router;

use crate::harness::{temp_dir, write};

/// The release archive name this machine's installer asks for.
fn target() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("x86_64-unknown-linux-musl"),
        ("linux", "aarch64") => Some("aarch64-unknown-linux-musl"),
        _ => None,
    }
}

/// Serves the files of `dir` under `/v9.9.9/`; returns the base URL.
async fn serve(dir: PathBuf) -> String {
    let app = Router::new().route(
        "/v9.9.9/{file}",
        axum::routing::get(move |UrlPath(file): UrlPath<String>| {
            let dir = dir.clone();
            async move {
                std::fs::read(dir.join(file))
                    .map(|b| (StatusCode::OK, b))
                    .unwrap_or((StatusCode::NOT_FOUND, Vec::new()))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn install(base: &str, version: &str, to: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh");
    let (base, version, to) = (base.to_string(), version.to_string(), to.to_path_buf());
    tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg(script)
            .arg(version)
            .arg("owner/ampx")
            .arg(to)
            .env("AMPX_RELEASE_BASE", base)
            // No source build to fall back on: a failed download must fail.
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installer_installs_the_release_binary_only_when_its_checksum_matches() {
    let Some(target) = target() else {
        return;
    };
    let dir = temp_dir("install");
    let stage = dir.join("stage");
    let release = dir.join("release");
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::create_dir_all(&release).unwrap();
    write(&stage, "ampx", "#!/bin/sh\necho 'ampx 9.9.9'\n");
    let archive = format!("ampx-v9.9.9-{target}.tar.gz");
    let made = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "chmod 755 ampx && tar -czf {}/{archive} ampx",
            release.display()
        ))
        .current_dir(&stage)
        .status()
        .unwrap();
    assert!(made.success());
    let sum = Command::new("sha256sum")
        .arg(release.join(&archive))
        .output()
        .unwrap();
    let hash = String::from_utf8_lossy(&sum.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    write(&release, "SHA256SUMS", &format!("{hash}  {archive}\n"));
    let base = serve(release.clone()).await;

    let good = dir.join("good");
    let o = install(&base, "9.9.9", &good).await;
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("ampx 9.9.9"), "{out}");
    assert!(good.join("ampx").exists());

    // A checksum that is not the archive's: refused, nothing installed.
    write(
        &release,
        "SHA256SUMS",
        &format!("{}  {archive}\n", "0".repeat(64)),
    );
    let bad = dir.join("bad");
    let o = install(&base, "9.9.9", &bad).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("checksum"), "{err}");
    assert!(!bad.join("ampx").exists());

    // A version that would change the URL or the command line is refused
    // before any download.
    let o = install(&base, "9.9.9/../../x", &bad).await;
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("VERSION must look like"),
        "{:?}",
        o
    );
}
