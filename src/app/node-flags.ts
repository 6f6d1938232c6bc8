/**
 * V8 flags the gateway process runs with. `npm start` (package.json) and the `portcullis` command
 * (the shebang of bin/portcullis.js) pass them; test/app/node-flags.test.ts keeps both in step
 * with this list, and bench/ssh starts its gateway process with it.
 *
 * Why a larger young generation: every 32 KiB SSH packet and every 64 KiB socket read is a fresh
 * ArrayBuffer (ssh2 and Node allocate them, not our code). With V8's default semi-space (16 MiB
 * at most, shrunk again when the process idles), buffers still queued for a slow client survive
 * a scavenge, get promoted, and the external-memory heuristic then runs a full mark-compact
 * every ~60 ms during a transfer. Measured with `npm run bench:ssh` (docs/benchmarks.md): 64 MiB
 * halves the gateway's CPU per GiB on `-J` downloads (3.3 → 1.6–2.1 CPU-s/GiB) and lifts them from
 * 90–97 % to 106–121 % of OpenSSH as a jump host. The cost is memory the young generation may
 * grow into under load (at most 3 × 64 MiB reserved, committed only as it is used).
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=64"];
