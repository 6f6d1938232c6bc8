/**
 * V8 flags the gateway process runs with. `npm start` (package.json) and the `portcullis` command
 * (the shebang of bin/portcullis.js) pass them; test/cli/node-flags.test.ts keeps both in step
 * with this list, and bench/ssh starts its gateway process with it.
 *
 * Why no memory reducer: every 32 KiB SSH packet and every 64 KiB socket read is a fresh
 * ArrayBuffer (ssh2 and Node allocate them, not our code), so a transfer allocates external memory
 * at its own speed. When the process has been quiet for a while, V8's memory reducer runs a
 * "Mark-Compact (reduce)" and shrinks the heap; from then on (seen with --trace-gc) every
 * external-memory-pressure event became a full mark-compact, about one every 60 ms during each
 * later transfer, and the gateway's CPU per GiB doubled for the rest of the process's life. With
 * the reducer off the young generation keeps collecting those buffers cheaply: bench:ssh
 * (docs/benchmarks.md) measured 1.1–1.8 CPU-s/GiB instead of 3–5, on every path. The cost: after
 * a burst, the heap is not shrunk while idle (it still shrinks at the next regular GC).
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ["--no-memory-reducer"];
