/**
 * One Portcullis node as a separate OS process, for race tests across nodes ("a race
 * harness that fires each guarded transition against its guard N times in parallel across two
 * real server processes on one PostgreSQL").
 *
 *   node --import tsx test/helpers/race-node.ts <postgres url> <secret key base64> [config overrides JSON]
 *
 * Reads one JSON command per line on stdin, answers one JSON line on stdout:
 *   { id, op: "call", target: "enrollment.remove", args: [...] } → { id, value } | { id, error }
 *   { id, op: "attack-enrol", userId, attemptId, method } → begins an enrolment during the given
 *     login attempt and, if a TOTP secret came back, completes it with a valid code, then tries to
 *     finish the login with it: { id, value: { begin, complete, finish } }.
 * The node uses the system clock (both processes must agree on time, as real nodes do).
 */
import { createInterface } from "node:readline";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPortcullis } from "../../src/app/portcullis.ts";
import { totpCodeAt } from "../../src/methods/totp/totp-method.ts";
import { base32Decode } from "./base32.ts";
import { testConfig } from "./test-app.ts";

const [url, key, overrides] = process.argv.slice(2);
if (url === undefined || key === undefined) throw new Error("usage: race-node.ts <postgres url> <secret key base64>");
const app = await createPortcullis(
	testConfig(mkdtempSync(join(tmpdir(), "portcullis-race-")), overrides ? (JSON.parse(overrides) as Record<string, unknown>) : {}),
	{
		database: { kind: "postgres", url },
		secretKey: Buffer.from(key, "base64"),
	},
);

type Callable = Record<string, (...args: unknown[]) => Promise<unknown>>;
const targets: Record<string, unknown> = { enrollment: app.enrollment, login: app.login, admin: app.admin };

async function handle(command: Record<string, unknown>): Promise<unknown> {
	if (command.op === "call") {
		const [owner, name] = String(command.target).split(".");
		const object = targets[owner ?? ""] as Callable | undefined;
		const fn = object?.[name ?? ""];
		if (object === undefined || typeof fn !== "function") throw new Error(`unknown target ${String(command.target)}`);
		return fn.apply(object, command.args as unknown[]);
	}
	if (command.op === "attack-enrol") {
		const userId = String(command.userId);
		const attemptId = String(command.attemptId);
		const context = { channel: "web", source: "198.51.100.66", duringLogin: true, attemptId };
		// What the forced-enrolment page does first (src/web/routes/enroll.tsx forcedEnrollStep).
		const step = await app.login.currentStep(attemptId);
		if (step.kind !== "enroll") return { begin: `step:${step.kind}` };
		const begin = await app.enrollment.begin(userId, "totp", "attacker", {}, context);
		if (begin.kind !== "pending" || begin.display.secret === undefined) return { begin: begin.kind };
		const code = totpCodeAt(base32Decode(begin.display.secret.replace(/ /g, "")), Date.now());
		const complete = await app.enrollment.complete(userId, begin.factorId, { code }, context);
		const finish = await app.login.finishEnrollment(attemptId, begin.factorId);
		return { begin: begin.kind, complete: complete.kind, finish: finish.kind };
	}
	throw new Error(`unknown op ${String(command.op)}`);
}

process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
	const command = JSON.parse(line) as Record<string, unknown>;
	handle(command).then(
		(value) => process.stdout.write(`${JSON.stringify({ id: command.id, value: value ?? null })}\n`),
		(error: unknown) => process.stdout.write(`${JSON.stringify({ id: command.id, error: error instanceof Error ? error.message : String(error) })}\n`),
	);
});
lines.on("close", () => {
	void app.close().then(() => process.exit(0));
});
