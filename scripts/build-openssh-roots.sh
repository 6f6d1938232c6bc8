#!/usr/bin/env bash
# Builds (once, cached) minimal Debian roots holding newer OpenSSH releases than the machine's, so the
# tests can check the post-quantum key exchange (mlkem768x25519-sha256) against real peers:
#   trixie  (Debian 13):      OpenSSH 10.0 client and server  -> $cache/trixie
#   testing (Debian "forky"): OpenSSH 10.1+ client, the first that warns on every connection without
#                             a post-quantum key exchange     -> $cache/testing
# Idempotent: a root whose `ssh -V` runs is kept. testing's Release file may be past its Valid-Until
# date on a cached mirror, hence Acquire::Check-Valid-Until "false" for it. docs/dependencies.md, "OpenSSH client in tests".
# Usage: scripts/build-openssh-roots.sh [cache-dir]   (default /var/cache/portcullis)
set -euo pipefail
cache="${1:-${PORTCULLIS_OPENSSH_ROOTS:-/var/cache/portcullis}}"
mirror="${PORTCULLIS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

runs() {
	# The root's own dynamic loader and libraries, so nothing from the host is mixed in.
	"$1/lib64/ld-linux-x86-64.so.2" --library-path "$1/lib/x86_64-linux-gnu:$1/usr/lib/x86_64-linux-gnu" "$1/usr/bin/ssh" -V >/dev/null 2>&1
}

build() {
	local name="$1" suite="$2" packages="$3"
	shift 3
	local root="$cache/$name"
	if runs "$root"; then
		echo "openssh-roots: $name cached at $root"
		return
	fi
	if ! command -v mmdebstrap >/dev/null 2>&1; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		apt-get install -y -q --no-install-recommends mmdebstrap
	fi
	local tmp="$root.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$cache"
	trap 'rm -rf "$tmp"' EXIT
	mmdebstrap --variant=apt --include="$packages" "$@" "$suite" "$tmp" "$mirror"
	rm -rf "$root"
	mv "$tmp" "$root"
	trap - EXIT
	runs "$root"
	echo "openssh-roots: $name built at $root"
}

build trixie trixie openssh-client,openssh-server
build testing testing openssh-client --aptopt='Acquire::Check-Valid-Until "false"'
