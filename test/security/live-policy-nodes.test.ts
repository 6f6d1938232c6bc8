/**
 * Live policy across nodes after the console's hot-path work (issue 10 §2; docs/threat-model.md
 * I7; docs/benchmarks.md "Console hot path"): node A is a real `portcullis serve` process holding
 * a logged-in web session whose requests take the fast path (one read: session + user + policy
 * version); node B is another process on the same PostgreSQL that changes the policy or the user.
 * The very next request on node A must see the change, with no wait and no cache to expire.
 * Each change has its twin: a change on B that does not concern the session (the version still
 * moves, so A re-decides) leaves the next request on A served as before.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type RaceNode, startRaceNode } from "../helpers/race-nodes.ts";
import { startServeNode, type ServeNode } from "../helpers/serve-node.ts";
import { ADMIN_ACTOR, createPostgresDatabase } from "../helpers/test-app.ts";

const PASSWORD = "correct horse battery";

/** A browser against node A: cookie jar, CSRF token from the last form. */
class Browser {
	readonly jar = new Map<string, string>();
	constructor(readonly base: string) {}

	private keep(response: Response): void {
		for (const line of response.headers.getSetCookie()) {
			const [pair] = line.split(";");
			const eq = (pair ?? "").indexOf("=");
			if (eq <= 0) continue;
			const value = pair!.slice(eq + 1);
			if (value === "") this.jar.delete(pair!.slice(0, eq));
			else this.jar.set(pair!.slice(0, eq), value);
		}
	}

	async get(path: string): Promise<{ status: number; location: string | null; denied: string | null; body: string }> {
		const response = await fetch(`${this.base}${path}`, { redirect: "manual", headers: { cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ") } });
		this.keep(response);
		return {
			status: response.status,
			location: response.headers.get("location"),
			denied: response.headers.get("x-access-denied"),
			body: await response.text(),
		};
	}

	async login(username: string): Promise<void> {
		const form = await this.get("/login");
		const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1]?.replace(/&amp;/g, "&") ?? "";
		const response = await fetch(`${this.base}/login`, {
			method: "POST",
			redirect: "manual",
			headers: { "content-type": "application/x-www-form-urlencoded", cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ") },
			body: new URLSearchParams({ _csrf: csrf, username, password: PASSWORD }).toString(),
		});
		this.keep(response);
		await response.arrayBuffer();
		assert.equal(response.status, 303, `login of ${username}`);
		assert.notEqual(response.headers.get("location"), "/login/2fa", "no second factor is required before the change");
	}
}

describe("a change on node B bites the very next request on node A (web console, PostgreSQL)", () => {
	let database: { url: string; drop(): Promise<void> };
	let dir: string;
	let nodeA: ServeNode;
	let nodeB: RaceNode;
	let counter = 0;

	before(async () => {
		database = await createPostgresDatabase();
		dir = mkdtempSync(join(tmpdir(), "portcullis-live-nodes-"));
		const key = randomBytes(32);
		nodeA = await startServeNode({ dataDir: join(dir, "a"), databaseUrl: database.url, secretKey: key.toString("base64") });
		nodeB = await startRaceNode(database.url, key);
	});

	after(async () => {
		await nodeB?.stop();
		if (nodeA) {
			nodeA.child.kill("SIGTERM");
			await nodeA.exited;
		}
		await database?.drop();
		rmSync(dir, { recursive: true, force: true });
	});

	/** A fresh user logged in on node A, whose session has already taken the fast path. */
	async function loggedIn(options: { isAdmin?: boolean } = {}): Promise<{ name: string; browser: Browser }> {
		const name = `u${++counter}`;
		await nodeB.call("admin.createUser", ADMIN_ACTOR, { username: name, password: PASSWORD, isAdmin: options.isAdmin ?? false, groups: [] });
		const browser = new Browser(nodeA.consoleUrl.replace(/\/$/, ""));
		await browser.login(name);
		// The first request runs the full check and stamps the version; the second is the fast path.
		for (let i = 0; i < 2; i++) assert.equal((await browser.get("/account")).status, 200);
		return { name, browser };
	}

	test("2FA forced on the user's group on node B: the next request on node A is sent to the second factor", async () => {
		const { name, browser } = await loggedIn();
		await nodeB.call("admin.createGroup", ADMIN_ACTOR, { name: `g-${name}`, forceTwoFactor: false, allowedMethods: null });
		await nodeB.call("admin.addMember", ADMIN_ACTOR, `g-${name}`, name);
		// Twin: the version moved (a group and a membership changed) but nothing demands more of this session.
		assert.equal((await browser.get("/account")).status, 200);
		await nodeB.call("admin.updateGroup", ADMIN_ACTOR, `g-${name}`, { forceTwoFactor: true });
		const next = await browser.get("/account");
		assert.equal(next.status, 303);
		assert.equal(next.denied, "second-factor");
		assert.equal(next.location, "/login/2fa");
	});

	test("twin: 2FA forced on a group the user is not in, on node B: node A keeps serving the session", async () => {
		const { name, browser } = await loggedIn();
		await nodeB.call("admin.createGroup", ADMIN_ACTOR, { name: `other-${name}`, forceTwoFactor: true, allowedMethods: null });
		const next = await browser.get("/account");
		assert.equal(next.status, 200);
		assert.equal(next.denied, null);
	});

	test("user disabled on node B: the next request on node A finds the session ended", async () => {
		const { name, browser } = await loggedIn();
		await nodeB.call("admin.setDisabled", ADMIN_ACTOR, name, true);
		const next = await browser.get("/account");
		assert.equal(next.status, 303);
		assert.equal(next.location, "/login?m=ended");
		// And it stays ended: the cookie was dropped.
		assert.equal((await browser.get("/account")).denied, "login");
	});

	test("twin: another user disabled on node B: node A keeps serving the session", async () => {
		const { browser } = await loggedIn();
		const { name: other } = await loggedIn();
		await nodeB.call("admin.setDisabled", ADMIN_ACTOR, other, true);
		assert.equal((await browser.get("/account")).status, 200);
	});

	test("admin right removed on node B (the user's session epoch moves, no policy version bump): the next request on node A finds the session ended", async () => {
		const { name, browser } = await loggedIn({ isAdmin: true });
		assert.equal((await browser.get("/admin/users")).status, 200);
		await nodeB.call("admin.setAdmin", ADMIN_ACTOR, name, false);
		const next = await browser.get("/admin/users");
		assert.equal(next.status, 303);
		assert.equal(next.location, "/login?m=ended");
	});

	test("twin: another user's admin right removed on node B: node A keeps serving the admin pages", async () => {
		const { browser } = await loggedIn({ isAdmin: true });
		const { name: other } = await loggedIn({ isAdmin: true });
		await nodeB.call("admin.setAdmin", ADMIN_ACTOR, other, false);
		assert.equal((await browser.get("/admin/users")).status, 200);
	});
});
