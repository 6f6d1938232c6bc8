/**
 * Admin web pages of the relay through HTTP (the console's own Browser helper over inject()):
 * servers, grants, credentials, host keys, the gateway key, recordings and the player; plus the
 * player's terminal emulation under Node.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parseCast as parsePlayerCast, Terminal } from "../../src/servers/cast-player.js";
import { serverService } from "../../src/servers/server-service.ts";
import { SessionRecorder } from "../../src/ssh/recording.ts";
import { loadOrCreateGatewayKey } from "../../src/servers/gateway-key.ts";
import { ADMIN_ACTOR, Browser, createWebTest, mainOf, PASSWORD, type WebTest } from "../web/helpers.ts";

describe("relay admin pages", () => {
	let w: WebTest;
	let admin: Browser;
	let joe: Browser;

	before(async () => {
		w = await createWebTest();
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "root", password: PASSWORD, isAdmin: true, groups: [] });
		await w.app.admin.createUser(ADMIN_ACTOR, { username: "joe", password: PASSWORD, isAdmin: false, groups: [] });
		await w.app.admin.createGroup(ADMIN_ACTOR, { name: "ops", forceTwoFactor: false, allowedMethods: null });
		await w.app.admin.createGroup(ADMIN_ACTOR, { name: "dev", forceTwoFactor: false, allowedMethods: null });
		admin = new Browser(w.server);
		await admin.follow(await admin.login("root"));
		await admin.get("/account/step-up");
		await admin.follow(await admin.post("/account/step-up", { password: PASSWORD, next: "/account" }));
		joe = new Browser(w.server);
		await joe.follow(await joe.login("joe"));
	});
	after(async () => w.close());

	test("the servers page shows the gateway's public key and the add form; the nav links to it", async () => {
		const page = await admin.get("/admin/servers");
		assert.equal(page.statusCode, 200);
		const key = loadOrCreateGatewayKey(w.app.config);
		assert.ok(page.body.includes(key.publicKey), "the authorized_keys line is shown");
		assert.ok(page.body.includes(key.fingerprint));
		assert.match(mainOf(page.body), /No servers yet/);
		assert.match(page.body, /action="\/admin\/servers\/create"/);
		assert.match(page.body, /<a href="\/admin\/servers"[^>]*>Servers<\/a>/);
		assert.match(page.body, /<a href="\/admin\/recordings"[^>]*>Recordings<\/a>/);
	});

	test("add a server granted to a group, grant another, revoke, update; audited with the web admin", async () => {
		const created = await admin.post("/admin/servers/create", {
			name: "db1",
			host: "10.0.0.5",
			port: "2201",
			login: "root",
			description: "primary database",
			group: "ops",
		});
		assert.equal(created.statusCode, 303, created.body.slice(0, 300));
		assert.equal(created.headers.location, "/admin/server?name=db1&m=created");
		let page = await admin.follow(created);
		assert.match(mainOf(page.body), /Server added/);
		assert.match(mainOf(page.body), /href="\/admin\/group\?name=ops">ops</);
		assert.equal((await admin.post("/admin/servers/grant", { name: "db1", group: "dev" })).statusCode, 303);
		assert.equal((await admin.post("/admin/servers/revoke", { name: "db1", group: "ops" })).statusCode, 303);
		const updated = await admin.post("/admin/servers/update", { name: "db1", host: "10.0.0.6", port: "22", login: "", description: "moved" });
		assert.equal(updated.statusCode, 303, updated.body.slice(0, 300));
		page = await admin.get("/admin/servers");
		assert.match(mainOf(page.body), /db1<\/a><\/td><td class="nowrap">10\.0\.0\.6:22<\/td><td><span class="muted">user's own name<\/span><\/td><td>dev<\/td>/);
		const events = await w.app.stores.audit.query({});
		for (const event of ["server.created", "server.granted", "server.revoked", "server.updated"]) {
			const row = events.find((candidate) => candidate.event === event);
			assert.ok(row, event);
			assert.equal(row.actor, "root");
			assert.equal(row.channel, "web");
		}
	});

	test("refusals are form errors, not 500s", async () => {
		const duplicate = await admin.post("/admin/servers/create", { name: "db1", host: "h" });
		assert.equal(duplicate.statusCode, 409);
		assert.match(mainOf(duplicate.body), /already exists/);
		const badHost = await admin.post("/admin/servers/create", { name: "x", host: "no such host" });
		assert.equal(badHost.statusCode, 400);
		assert.match(mainOf(badHost.body), /DNS name or an IP address/);
		const badPort = await admin.post("/admin/servers/create", { name: "x", host: "h", port: "99999" });
		assert.equal(badPort.statusCode, 400);
		const unknownGroup = await admin.post("/admin/servers/grant", { name: "db1", group: "nosuch" });
		assert.equal(unknownGroup.statusCode, 404);
		const unknownServer = await admin.get("/admin/server?name=nosuch");
		assert.equal(unknownServer.statusCode, 404);
		const badKind = await admin.post("/admin/servers/credential", { name: "db1", kind: "telepathy" });
		assert.equal(badKind.statusCode, 400);
		const badKey = await admin.post("/admin/servers/credential", { name: "db1", kind: "key", privateKey: "not a key" });
		assert.equal(badKey.statusCode, 400);
		assert.deepEqual(
			(await serverService(w.app).list()).map((row) => row.name),
			["db1"],
		);
	});

	test("credential and host key: sealed, never shown back; forget and pin", async () => {
		const set = await admin.post("/admin/servers/credential", { name: "db1", kind: "password", password: "web-secret-pw" });
		assert.equal(set.statusCode, 303);
		const page = await admin.follow(set);
		assert.match(mainOf(page.body), /Now: <strong>a password<\/strong>/);
		assert.ok(!page.body.includes("web-secret-pw"));
		assert.ok(!JSON.stringify(await w.app.stores.audit.query({})).includes("web-secret-pw"));
		const pin = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIugxZ782lNyQAKHIYNraN8y1SMlkq+iQRhqYK9crIZc host";
		assert.equal((await admin.post("/admin/servers/forget-hostkey", { name: "db1", pin })).statusCode, 303);
		assert.match(mainOf((await admin.get("/admin/server?name=db1")).body), /Trusted: <code>SHA256:/);
		assert.equal((await admin.post("/admin/servers/forget-hostkey", { name: "db1", pin: "" })).statusCode, 303);
		assert.match(mainOf((await admin.get("/admin/server?name=db1")).body), /Not known yet/);
		assert.equal((await admin.post("/admin/servers/credential", { name: "db1", kind: "gateway-key" })).statusCode, 303);
		assert.equal((await serverService(w.app).list())[0]!.credential, "gateway-key");
	});

	test("a non-admin gets nothing: pages, changes, recordings, the cast file and the player script", async () => {
		for (const url of [
			"/admin/servers",
			"/admin/server?name=db1",
			"/admin/recordings",
			"/admin/recordings/0123456789abcdef0123456789abcdef",
			"/static/cast-player.js",
		]) {
			const response = await joe.get(url);
			assert.ok([303, 401, 403].includes(response.statusCode), `${url}: ${response.statusCode}`);
			// The player script itself (its Terminal class, its cast parser) must not leak; the nav link "Terminal" may show.
			assert.doesNotMatch(response.body, /portcullis-gateway|<table|class Terminal|parseCast/);
		}
		const post = await joe.post("/admin/servers/create", { name: "evil", host: "h" });
		assert.ok([303, 401, 403].includes(post.statusCode));
		assert.equal((await serverService(w.app).list()).length, 1);
	});

	test("recordings: listed, played by the ES module under the strict CSP, downloaded as asciicast, viewing audited", async () => {
		const user = await w.app.admin.requireUser("joe");
		const recorder = await SessionRecorder.start(w.app.ssh, { userId: user.id, username: "joe", cols: 90, rows: 20, term: "xterm" });
		await recorder.enterServer(await serverService(w.app).requireServer("db1"));
		recorder.output("joe@db1:~$ echo hi\r\nhi\r\n");
		await recorder.finish();

		const list = await admin.get("/admin/recordings");
		assert.equal(list.statusCode, 200);
		assert.match(mainOf(list.body), /<td>joe<\/td><td>db1<\/td>/);
		assert.ok(list.body.includes(`href="/admin/recordings/${recorder.id}"`));
		assert.match(mainOf((await admin.get("/admin/recordings?user=nobody")).body), /No recordings for nobody/);

		const player = await admin.get(`/admin/recordings/${recorder.id}`);
		assert.equal(player.statusCode, 200);
		assert.match(player.body, /<script type="module" src="\/static\/cast-player.js"><\/script>/);
		assert.ok(player.body.includes(`data-src="/admin/recordings/${recorder.id}/cast"`));
		assert.doesNotMatch(player.body, /<script(?![^>]*src=)[^>]*>|style="|onclick=/, "no inline script, style or handler");
		const csp = String(player.headers["content-security-policy"]);
		assert.match(csp, /script-src 'self'/);
		assert.doesNotMatch(csp, /unsafe-inline/);

		const script = await admin.get("/static/cast-player.js");
		assert.equal(script.statusCode, 200);
		assert.match(String(script.headers["content-type"]), /text\/javascript/);
		assert.match(script.body, /export class Terminal/);

		const cast = await admin.get(`/admin/recordings/${recorder.id}/cast`);
		assert.equal(cast.statusCode, 200);
		assert.match(String(cast.headers["content-type"]), /application\/x-asciicast/);
		assert.equal(cast.headers["cache-control"], "no-store");
		const parsed = parsePlayerCast(cast.body);
		assert.equal(parsed.header.width, 90);
		const term = new Terminal(90, 20);
		for (const event of parsed.events) if (event.type === "o") term.write(event.data);
		assert.match(term.text(), /^joe@db1:~\$ echo hi\nhi$/m);
		const viewed = await w.app.stores.audit.query({ event: "ssh.recording-viewed" });
		assert.equal(viewed.length, 1);
		assert.equal(viewed[0]!.actor, "root");
		assert.equal(viewed[0]!.username, "joe");

		for (const bad of ["nope", "0123456789abcdef0123456789abcdef", "..%2f..%2fetc%2fpasswd"]) {
			assert.equal((await admin.get(`/admin/recordings/${bad}`)).statusCode, 404, bad);
			assert.equal((await admin.get(`/admin/recordings/${bad}/cast`)).statusCode, 404, bad);
		}
	});

	test("recording mode: global and per server, validated, audited with the web admin", async () => {
		let page = await admin.get("/admin/servers");
		assert.match(page.body, /<option value="strict" selected[^>]*>Strict/);
		const global = await admin.post("/admin/recordings/mode", { mode: "best-effort" });
		assert.equal(global.headers.location, "/admin/servers?m=recording");
		page = await admin.follow(global);
		assert.match(mainOf(page.body), /Recording mode saved/);
		assert.match(page.body, /<option value="best-effort" selected/);
		assert.equal(await serverService(w.app).globalRecordingMode(), "best-effort");
		assert.equal((await admin.post("/admin/recordings/mode", { mode: "never" })).statusCode, 400);
		assert.equal(await serverService(w.app).globalRecordingMode(), "best-effort", "unchanged by a bad value");

		const perServer = await admin.post("/admin/servers/recording-mode", { name: "db1", mode: "strict" });
		assert.equal(perServer.headers.location, "/admin/server?name=db1&m=recording");
		page = await admin.follow(perServer);
		assert.match(page.body, /id="server-recording-mode"[\s\S]*<option value="strict" selected/);
		assert.equal((await serverService(w.app).requireServer("db1")).recording_mode, "strict");
		assert.equal((await admin.post("/admin/servers/recording-mode", { name: "db1", mode: "sometimes" })).statusCode, 400);
		assert.equal((await joe.post("/admin/recordings/mode", { mode: "strict" }, { csrf: null })).statusCode >= 400, true, "not for a non-admin");
		await admin.post("/admin/servers/recording-mode", { name: "db1", mode: "default" });
		assert.equal((await serverService(w.app).requireServer("db1")).recording_mode, null);
		await admin.post("/admin/recordings/mode", { mode: "strict" });

		const changes = await w.app.stores.audit.query({ event: "recording.mode-changed" });
		assert.ok(changes.length >= 2 && changes.every((row) => row.actor === "root" && row.channel === "web"));
		const updates = (await w.app.stores.audit.query({ event: "server.updated" })).map((row) => JSON.parse(row.detail!).changes.recording_mode);
		assert.ok(updates.includes("strict") && updates.includes("default"));
	});

	test("remove a server", async () => {
		const removed = await admin.post("/admin/servers/delete", { name: "db1" });
		assert.equal(removed.headers.location, "/admin/servers?m=deleted");
		assert.match(mainOf((await admin.follow(removed)).body), /Server removed/);
		assert.deepEqual(await serverService(w.app).list(), []);
	});
});

describe("player terminal emulation", () => {
	test("text, CR/LF, autowrap and scrolling", () => {
		const term = new Terminal(10, 3);
		term.write("hello\r\nworld\r\n0123456789AB");
		assert.equal(term.text(), "world\n0123456789\nAB");
	});

	test("clear screen, cursor position, erase line, backspace; colours dropped", () => {
		const term = new Terminal(20, 4);
		term.write("garbage\x1b[H\x1b[2J\x1b[1;31mred\x1b[0m text\x1b[3;5Hxy\x1b[1;4H\x1b[Kb\bB");
		assert.equal(term.text(), "redB\n\n    xy\n");
	});

	test("the alternate screen is restored on exit (full-screen programs leave the shell as it was)", () => {
		const term = new Terminal(20, 3);
		term.write("$ top\r\n");
		term.write("\x1b[?1049h\x1b[Htop screen\x1b[?1049l");
		assert.equal(term.text(), "$ top\n\n");
	});

	test("sequences split across events; OSC titles ignored; resize", () => {
		const term = new Terminal(20, 3);
		term.write("a\x1b[");
		term.write("2Cb\x1b]0;title\x07");
		term.write("c");
		assert.equal(term.text(), "a  bc\n\n");
		term.resize(4, 2);
		assert.equal(term.text(), "a  b\n");
	});

	test("parseCast shortens idle gaps to 2 s", () => {
		const cast = parsePlayerCast(['{"version":2,"width":80,"height":24}', '[0.5,"o","a"]', '[60.5,"o","b"]', '[61,"r","100x30"]'].join("\n"));
		assert.deepEqual(
			cast.events.map((event) => [event.time, event.type]),
			[
				[0.5, "o"],
				[2.5, "o"],
				[3, "r"],
			],
		);
	});
});
