#!/bin/sh
# Install the clawdtalk binary from a release, checksum verified.
#
#   curl -fsSL https://github.com/clawdtalk/clawdtalk/releases/latest/download/install.sh | sh
#   sh install.sh [--prefix DIR] [--version TAG] [--target TRIPLE]
#
# It picks the release asset for this machine, checks it against the
# release's SHA256SUMS, and installs `clawdtalk` into PREFIX/bin
# (default ~/.local/bin). Running it again with the same release changes
# nothing. CLAWDTALK_INSTALL_FROM points it at another source of assets: a
# local directory (used by the project's tests) or a URL base.
#
# The asset names are defined here and only here: the release workflow
# names what it builds with `sh install.sh --asset-name TARGET`.
set -eu

REPO="clawdtalk/clawdtalk"
# The targets the release workflow builds, one per line.
TARGETS="x86_64-unknown-linux-musl
aarch64-unknown-linux-musl
x86_64-apple-darwin
aarch64-apple-darwin"

asset_name() {
    printf 'clawdtalk-%s.tar.gz\n' "$1"
}

say() { printf '%s\n' "$*" >&2; }
die() { say "install.sh: $*"; exit 1; }
usage() {
    cat <<USAGE
usage: install.sh [--prefix DIR] [--version TAG] [--target TRIPLE]
       install.sh --asset-name TARGET | --list-targets | --detect-target

  --prefix DIR     install into DIR/bin (default: \$HOME/.local)
  --version TAG    a release tag such as v0.2.0 (default: the latest release)
  --target TRIPLE  the asset to install (default: this machine's)
Environment: CLAWDTALK_INSTALL_FROM=DIR|URL  where the assets are
USAGE
}

detect_target() {
    os=$(uname -s)
    arch=$(uname -m)
    case "$arch" in
        x86_64 | amd64) arch=x86_64 ;;
        aarch64 | arm64) arch=aarch64 ;;
        *) die "no release for the $arch processor; build from source with: cargo install clawdtalk" ;;
    esac
    case "$os" in
        Linux) printf '%s-unknown-linux-musl\n' "$arch" ;;
        Darwin) printf '%s-apple-darwin\n' "$arch" ;;
        *) die "no release for $os; build from source with: cargo install clawdtalk" ;;
    esac
}

known_target() {
    printf '%s\n' "$TARGETS" | grep -qx -- "$1"
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        die "need sha256sum or shasum to verify the download"
    fi
}

# fetch NAME DEST: copy or download one asset.
fetch() {
    case "$source" in
        http://* | https://*)
            if command -v curl >/dev/null 2>&1; then
                curl -fsSL --proto '=https,http' -o "$2" "$source/$1" || die "cannot download $source/$1"
            elif command -v wget >/dev/null 2>&1; then
                wget -q -O "$2" "$source/$1" || die "cannot download $source/$1"
            else
                die "need curl or wget to download $source/$1"
            fi
            ;;
        *)
            [ -f "$source/$1" ] || die "no $1 in $source"
            cp "$source/$1" "$2"
            ;;
    esac
}

prefix="${HOME:-}/.local"
version=""
target=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --version) [ $# -ge 2 ] || die "--version needs a tag"; version=$2; shift 2 ;;
        --version=*) version=${1#--version=}; shift ;;
        --target) [ $# -ge 2 ] || die "--target needs a target triple"; target=$2; shift 2 ;;
        --target=*) target=${1#--target=}; shift ;;
        --asset-name) [ $# -ge 2 ] || die "--asset-name needs a target triple"; asset_name "$2"; exit 0 ;;
        --list-targets) printf '%s\n' "$TARGETS"; exit 0 ;;
        --detect-target) detect_target; exit 0 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

[ -n "$prefix" ] || die "no --prefix given and HOME is not set"
[ -n "$target" ] || target=$(detect_target)
known_target "$target" || die "no release asset for $target (known: $(printf '%s' "$TARGETS" | tr '\n' ' '))"
asset=$(asset_name "$target")

if [ -n "${CLAWDTALK_INSTALL_FROM:-}" ]; then
    source=${CLAWDTALK_INSTALL_FROM%/}
elif [ -n "$version" ]; then
    source="https://github.com/$REPO/releases/download/$version"
else
    source="https://github.com/$REPO/releases/latest/download"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

fetch SHA256SUMS "$tmp/SHA256SUMS"
fetch "$asset" "$tmp/$asset"
expected=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1; exit }' "$tmp/SHA256SUMS")
[ -n "$expected" ] || die "SHA256SUMS lists no $asset; refusing to install"
actual=$(sha256_of "$tmp/$asset")
[ "$expected" = "$actual" ] || die "checksum mismatch for $asset (expected $expected, got $actual); refusing to install"

mkdir "$tmp/x"
tar -xzf "$tmp/$asset" -C "$tmp/x" || die "$asset is not a readable archive"
[ -f "$tmp/x/clawdtalk" ] || die "$asset holds no clawdtalk binary"

bindir="$prefix/bin"
dest="$bindir/clawdtalk"
mkdir -p "$bindir"
if [ -f "$dest" ] && cmp -s "$tmp/x/clawdtalk" "$dest"; then
    say "clawdtalk in $bindir is already this release; nothing to do"
    exit 0
fi
# Copy beside the destination, then rename: a running clawdtalk keeps its
# file, and nobody sees a half-written binary.
cp "$tmp/x/clawdtalk" "$dest.new.$$"
chmod 0755 "$dest.new.$$"
mv -f "$dest.new.$$" "$dest"
say "installed clawdtalk ($target) to $dest"
case ":${PATH:-}:" in
    *":$bindir:"*) ;;
    *) say "add $bindir to your PATH to run it: export PATH=\"$bindir:\$PATH\"" ;;
esac
