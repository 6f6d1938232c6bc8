/**
 * `npm run bench:argon2`: Node.js 24's built-in argon2id (crypto.argon2, OpenSSL 3.5) against
 * @node-rs/argon2, the library src/crypto/password-hash.ts uses, at the parameters it uses
 * (m = 19456 KiB, t = 2, p = 1; RFC 9106 argon2id, OWASP minimum). Measures:
 *  1. time per hash, sequentially;
 *  2. event-loop delay (perf_hooks.monitorEventLoopDelay) while 8 hashes run in parallel, and
 *     how long the 8 take: both run on libuv's thread pool, so the loop should stay free;
 *  3. compatibility: a PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash) from each side must
 *     verify on the other, so switching would not make any user reset a password.
 * Figures go to docs/benchmarks.md; the choice to docs/decisions.md.
 */
import { argon2, randomBytes, timingSafeEqual } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { promisify } from "node:util";
import { hash as rsHash, verify as rsVerify } from "@node-rs/argon2";

const M = 19456;
const T = 2;
const P = 1;
const TAG = 32;
const argon2Async = promisify(argon2);
const b64 = (buffer: Buffer): string => buffer.toString("base64").replace(/=+$/, "");

async function nodeHash(password: string, salt = randomBytes(16)): Promise<string> {
	const tag = await argon2Async("argon2id", { message: password, nonce: salt, parallelism: P, tagLength: TAG, memory: M, passes: T });
	return `$argon2id$v=19$m=${M},t=${T},p=${P}$${b64(salt)}$${b64(tag)}`;
}

async function nodeVerify(phc: string, password: string): Promise<boolean> {
	const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(phc);
	if (!match) return false;
	const expected = Buffer.from(match[5]!, "base64");
	const tag = await argon2Async("argon2id", {
		message: password,
		nonce: Buffer.from(match[4]!, "base64"),
		parallelism: Number(match[3]),
		tagLength: expected.length,
		memory: Number(match[1]),
		passes: Number(match[2]),
	});
	return timingSafeEqual(tag, expected);
}

const rs = {
	hash: (password: string) => rsHash(password, { algorithm: 2, memoryCost: M, timeCost: T, parallelism: P }),
	verify: (phc: string, password: string) => rsVerify(phc, password),
};
const node = { hash: (password: string) => nodeHash(password), verify: nodeVerify };
const impls = { "@node-rs/argon2": rs, "node:crypto argon2": node } as const;

const rounds = Number(process.env.ROUNDS ?? 20);
console.log(
	`node ${process.version}, OpenSSL ${process.versions.openssl}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}, ${rounds} rounds`,
);

// 3. Compatibility, both ways (and a wrong password is refused by both).
const fromRs = await rs.hash("correct horse");
const fromNode = await node.hash("correct horse");
const compat = {
	rsHashVerifiedByNode: await node.verify(fromRs, "correct horse"),
	nodeHashVerifiedByRs: await rs.verify(fromNode, "correct horse"),
	wrongRefusedByNode: !(await node.verify(fromRs, "wrong")),
	wrongRefusedByRs: !(await rs.verify(fromNode, "wrong")),
};
console.log("compatibility", compat);

for (const [name, impl] of Object.entries(impls)) {
	await impl.hash("warm-up");
	// 1. Sequential.
	const started = process.hrtime.bigint();
	for (let i = 0; i < rounds; i += 1) await impl.hash(`password ${i}`);
	const perHash = Number(process.hrtime.bigint() - started) / 1e6 / rounds;
	// 2. Eight in parallel, event-loop delay sampled every 10 ms.
	const histogram = monitorEventLoopDelay({ resolution: 10 });
	histogram.enable();
	const parallelStarted = process.hrtime.bigint();
	for (let batch = 0; batch < Math.max(1, Math.floor(rounds / 8)); batch += 1)
		await Promise.all(Array.from({ length: 8 }, (_, i) => impl.hash(`parallel ${i}`)));
	const perBatch = Number(process.hrtime.bigint() - parallelStarted) / 1e6 / Math.max(1, Math.floor(rounds / 8));
	histogram.disable();
	const ms = (ns: number): string => (ns / 1e6).toFixed(1);
	console.log(
		`${name}: ${perHash.toFixed(1)} ms/hash sequential; 8 in parallel: ${perBatch.toFixed(0)} ms per batch, event-loop delay p50 ${ms(histogram.percentile(50))} ms, p99 ${ms(histogram.percentile(99))} ms, max ${ms(histogram.max)} ms`,
	);
}
