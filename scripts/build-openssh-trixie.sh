#!/usr/bin/env bash
# Builds (once, cached) a minimal Debian 13 "trixie" root holding OpenSSH 10's client and server, so
# the tests can check the post-quantum key exchange (mlkem768x25519-sha256) against a real OpenSSH
# >= 9.9 peer while the machine itself runs an older OpenSSH. Idempotent: an existing root whose
# `ssh -V` runs is kept. docs/operations.md ("Test peers") and docs/decisions.md.
# Usage: scripts/build-openssh-trixie.sh [root]   (default /var/cache/portcullis/trixie)
set -euo pipefail
root="${1:-${PORTCULLIS_TRIXIE_ROOT:-/var/cache/portcullis/trixie}}"
mirror="${PORTCULLIS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

runs() {
	# The root's own dynamic loader and libraries, so nothing from the host is mixed in.
	"$root/lib64/ld-linux-x86-64.so.2" --library-path "$root/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu" "$root/usr/bin/ssh" -V >/dev/null 2>&1
}

if [ -x "$root/usr/bin/ssh" ] && [ -x "$root/usr/sbin/sshd" ] && runs; then
	echo "openssh-trixie: cached at $root"
	exit 0
fi

if ! command -v mmdebstrap >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends mmdebstrap
fi

tmp="$root.tmp.$$"
rm -rf "$tmp"
mkdir -p "$(dirname "$root")"
trap 'rm -rf "$tmp"' EXIT
mmdebstrap --variant=apt --include=openssh-client,openssh-server trixie "$tmp" "$mirror"
rm -rf "$root"
mv "$tmp" "$root"
trap - EXIT
runs
echo "openssh-trixie: built at $root"
