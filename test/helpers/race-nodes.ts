/**
 * Starts race-node.ts processes (separate Node processes, each with its own connection pool) on one
 * PostgreSQL database, and fires commands at them. `fireTogether` sends every command before
 * awaiting any answer, so the nodes really race on the database.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./race-node.ts", import.meta.url));

export interface RaceNode {
	call(target: string, ...args: unknown[]): Promise<unknown>;
	send(command: Record<string, unknown>): Promise<unknown>;
	stop(): Promise<void>;
}

/** `config`: overrides of the node's test configuration (testConfig), e.g. { security: { … } }. */
export async function startRaceNode(databaseUrl: string, secretKey: Buffer, config?: Record<string, unknown>): Promise<RaceNode> {
	const args = ["--import", "tsx", SCRIPT, databaseUrl, secretKey.toString("base64"), ...(config ? [JSON.stringify(config)] : [])];
	const child: ChildProcess = spawn(process.execPath, args, {
		stdio: ["pipe", "pipe", "inherit"],
	});
	const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
	let nextId = 1;
	let ready: () => void = () => undefined;
	const started = new Promise<void>((resolve) => (ready = resolve));
	const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
	createInterface({ input: child.stdout! }).on("line", (line) => {
		const message = JSON.parse(line) as { ready?: boolean; id?: number; value?: unknown; error?: string };
		if (message.ready === true) return ready();
		const entry = waiting.get(message.id ?? -1);
		if (entry === undefined) return;
		waiting.delete(message.id!);
		if (message.error !== undefined) entry.reject(new Error(`race node: ${message.error}`));
		else entry.resolve(message.value);
	});
	// A node that dies fails every pending command instead of hanging the test.
	void exited.then(() => {
		for (const entry of waiting.values()) entry.reject(new Error("race node exited"));
		waiting.clear();
	});
	await Promise.race([started, exited.then(() => Promise.reject(new Error("race node exited before it was ready")))]);
	const send = (command: Record<string, unknown>): Promise<unknown> =>
		new Promise((resolve, reject) => {
			const id = nextId++;
			waiting.set(id, { resolve, reject });
			child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`);
		});
	return {
		send,
		call: (target, ...args) => send({ op: "call", target, args }),
		async stop() {
			child.stdin!.end();
			await exited;
		},
	};
}
