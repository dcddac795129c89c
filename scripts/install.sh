#!/usr/bin/env bash
# Installs an ampx release binary, checked against the release's SHA256SUMS.
#
#   scripts/install.sh VERSION [OWNER/REPO] [DIR]
#
# VERSION is a release without its `v` (0.1.0). OWNER/REPO is the GitHub
# repository the release is published from (default: $AMPX_REPO). DIR is
# where the binary goes (default: ~/.local/bin). Linux (x86_64, aarch64;
# static), macOS (x86_64, arm64) and Windows (x86_64, from Git Bash) are
# published. Where no binary fits, or the download fails, it builds the same
# tag from source with `cargo install --locked --git`, when cargo is there.
# A binary whose checksum is not the release's is never installed.
set -euo pipefail

version=${1:-}
repo=${2:-${AMPX_REPO:-}}
dir=${3:-$HOME/.local/bin}

die() {
  echo "install.sh: $*" >&2
  exit 1
}

# The version and repository end up in a URL and a command line: only the
# characters they can hold are accepted.
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] ||
  die "VERSION must look like 0.1.0 (got '${version}')"
[[ $repo =~ ^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$ ]] ||
  die "OWNER/REPO must name a GitHub repository (got '${repo}')"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) target=x86_64-unknown-linux-musl ;;
  Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
  Darwin-x86_64) target=x86_64-apple-darwin ;;
  Darwin-arm64) target=aarch64-apple-darwin ;;
  MINGW*-x86_64 | MSYS*-x86_64 | CYGWIN*-x86_64) target=x86_64-pc-windows-msvc ;;
  *) target= ;;
esac

from_source() {
  command -v cargo >/dev/null 2>&1 ||
    die "no release binary for this machine and no cargo to build one: install Rust (rustup.rs) and run this again"
  echo "install.sh: building ampx v${version} from source" >&2
  root=$(mktemp -d)
  cargo install --locked --git "https://github.com/${repo}" --tag "v${version}" --root "$root" ampx
  mkdir -p "$dir"
  cp "$root/bin/"ampx* "$dir/"
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

if [ -z "$target" ]; then
  from_source
else
  case "$target" in
    *windows*) archive="ampx-v${version}-${target}.zip" ;;
    *) archive="ampx-v${version}-${target}.tar.gz" ;;
  esac
  # AMPX_RELEASE_BASE serves the releases from a mirror instead of GitHub.
  base="${AMPX_RELEASE_BASE:-https://github.com/${repo}/releases/download}/v${version}"
  tmp=$(mktemp -d)
  if curl --fail --silent --show-error --location --retry 3 \
    --output "$tmp/$archive" "$base/$archive" &&
    curl --fail --silent --show-error --location --retry 3 \
      --output "$tmp/SHA256SUMS" "$base/SHA256SUMS"; then
    want=$(awk -v f="$archive" '$2 == f || $2 == "*"f { print $1 }' "$tmp/SHA256SUMS")
    [ -n "$want" ] || die "SHA256SUMS of v${version} does not list ${archive}"
    got=$(sha256 "$tmp/$archive")
    [ "$want" = "$got" ] || die "${archive}: checksum ${got} is not the release's ${want}"
    mkdir -p "$dir"
    case "$archive" in
      *.zip) unzip -o -q "$tmp/$archive" -d "$tmp/x" ;;
      *) mkdir -p "$tmp/x" && tar -xzf "$tmp/$archive" -C "$tmp/x" ;;
    esac
    cp "$tmp/x/"ampx* "$dir/"
  else
    echo "install.sh: no release binary at ${base}/${archive}" >&2
    from_source
  fi
fi
"$dir/ampx" --version
