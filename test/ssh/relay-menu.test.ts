/**
 * Unit tests of the pure pieces behind the relay: the menu's key handling and rendering, the exec
 * command grammar, and the asciicast v2 recorder.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseTargetCommand } from "../../src/ssh/channels.ts";
import { Menu, terminalSafe, type MenuEntry } from "../../src/ssh/menu.ts";
import { parseCast, SessionRecorder, terminalLineEndings } from "../../src/ssh/recording.ts";
import { recordingPath } from "../../src/storage/recording-files.ts";
import { serverService } from "../../src/servers/server-service.ts";
import { ADMIN_ACTOR, createTestApp } from "../helpers/test-app.ts";

const ENTRIES: MenuEntry[] = [
	{ name: "db1", host: "10.0.0.5", port: 22, description: "primary database" },
	{ name: "db2", host: "10.0.0.6", port: 22, description: "replica" },
	{ name: "web1", host: "web1.internal", port: 2222, description: "frontend" },
];

function menu(entries: MenuEntry[] = ENTRIES, rows = 24) {
	const screens: string[] = [];
	const m = new Menu({ username: "alice", cols: 80, rows, write: (text) => screens.push(text) }, entries);
	return { m, screens, last: () => screens.at(-1) ?? "" };
}

describe("menu in line mode (no PTY: `ssh -T gw`)", () => {
	const lineMenu = () => {
		const screens: string[] = [];
		const m = new Menu({ username: "alice", cols: 80, rows: 24, write: (text) => screens.push(text), lineMode: true }, ENTRIES);
		return { m, screens, all: () => screens.join("") };
	};

	test("plain lines: no screen clearing, no colours or inverse video, every entry listed once, then a prompt", () => {
		const { m, all } = lineMenu();
		m.render();
		assert.ok(!all().includes("\x1b"), "not a single escape sequence");
		assert.equal(
			all(),
			"Portcullis: servers for alice\r\nType a server's name or number and Enter to connect; q to quit.\r\n\r\n1  db1  10.0.0.5:22  primary database\r\n2  db2  10.0.0.6:22  replica\r\n3  web1  web1.internal:2222  frontend\r\n\r\nServer: ",
		);
	});

	test("the negotiated key exchange is shown under the title, post-quantum or classical", () => {
		for (const [kex, kind] of [
			["sntrup761x25519-sha512@openssh.com", "post-quantum"],
			["mlkem768x25519-sha256", "post-quantum"],
			["curve25519-sha256", "classical, not post-quantum"],
		] as const) {
			const screens: string[] = [];
			new Menu({ username: "alice", kex, cols: 80, rows: 24, write: (text) => screens.push(text), lineMode: true }, ENTRIES).render();
			assert.ok(screens.join("").startsWith(`Portcullis: servers for alice\r\nKey exchange: ${kex} (${kind})\r\nType`), screens.join(""));
			const full: string[] = [];
			const tui = new Menu({ username: "alice", kex, cols: 80, rows: 8, write: (text) => full.push(text) }, ENTRIES);
			tui.render();
			assert.match(full.join(""), new RegExp(`Key exchange: ${kex.replace(/[.]/g, "\\.")} \\(${kind}\\)`));
		}
		// Without a negotiated name (unit tests of the list) there is no such line.
		const screens: string[] = [];
		new Menu({ username: "alice", cols: 80, rows: 24, write: (text) => screens.push(text), lineMode: true }, ENTRIES).render();
		assert.doesNotMatch(screens.join(""), /Key exchange/);
	});

	test("typing does not redraw; a line that matches nothing is said and forgotten; an exact name wins; a blank line chooses nothing", () => {
		const { m, screens, all } = lineMenu();
		m.render();
		const printed = screens.length;
		assert.equal(m.input("zz"), null);
		assert.equal(screens.length, printed, "no redraw per character");
		assert.equal(m.input("z\n"), null);
		assert.ok(all().endsWith('No server matches "zzz".\r\nServer: '), JSON.stringify(all().slice(-60)));
		assert.equal(m.filter, "", "the refused line is not prefixed to the next");
		assert.equal(m.input("\n"), null, "a blank line does not connect to entry 1");
		assert.deepEqual(m.input("db2\n"), { kind: "choose", entry: ENTRIES[1] });
		m.resetFilter();
		assert.deepEqual(m.input("3\n"), { kind: "choose", entry: ENTRIES[2] });
		assert.ok(!all().includes("\x1b"));
	});

	test("the same menu with a terminal still draws the full-screen list (the twin)", () => {
		const { m, last } = menu();
		m.render();
		assert.ok(last().startsWith("\x1b[H\x1b[2J"));
		assert.ok(last().includes("\x1b[7m"), "inverse video marks the selection");
	});

	test("recordings of line-mode output get CR LF, as a terminal shows them", () => {
		assert.equal(terminalLineEndings(Buffer.from("a\nb\r\nc\n\n")).toString(), "a\r\nb\r\nc\r\n\r\n");
		const untouched = Buffer.from("no newline");
		assert.equal(terminalLineEndings(untouched), untouched);
		assert.equal(terminalLineEndings(Buffer.from("\nä\n")).toString(), "\r\nä\r\n");
	});
});

describe("menu", () => {
	test("renders name, address and description, the first entry highlighted", () => {
		const { m, last } = menu();
		m.render();
		assert.match(last(), /servers for alice/);
		assert.match(last(), /> 1 {2}db1 {3}10\.0\.0\.5:22 {9}primary database/);
		assert.match(last(), /3 {2}web1 {2}web1\.internal:2222 {2}frontend/);
		assert.ok(last().startsWith("\x1b[H\x1b[2J"));
	});

	test("Enter chooses the highlighted entry; arrows (CSI and SS3) and Ctrl-N/P move", () => {
		const { m } = menu();
		assert.equal(m.input("\x1b[B"), null);
		assert.equal(m.input("\x1bOB"), null);
		assert.deepEqual(m.input("\r"), { kind: "choose", entry: ENTRIES[2] });
		assert.equal(m.input("\x1b[A\x10"), null);
		assert.deepEqual(m.input("\r"), { kind: "choose", entry: ENTRIES[0] });
		m.input("\x0e");
		assert.deepEqual(m.input("\n"), { kind: "choose", entry: ENTRIES[1] });
	});

	test("typing filters on name, address and description; Backspace, Esc and Ctrl-U edit", () => {
		const { m, last } = menu();
		m.input("rep");
		assert.deepEqual(
			m.visible().map((v) => v.entry.name),
			["db2"],
		);
		assert.match(last(), /Filter: rep/);
		m.input("\x7f\x7f\x7f");
		assert.equal(m.filter, "");
		m.input("web1.int");
		assert.deepEqual(
			m.visible().map((v) => v.entry.name),
			["web1"],
		);
		assert.deepEqual(m.input("\r"), { kind: "choose", entry: ENTRIES[2] });
		m.input("\x1b");
		assert.equal(m.filter, "");
		m.input("zzz");
		assert.match(last(), /No server matches "zzz"/);
		assert.equal(m.input("\r"), null, "Enter with nothing visible does nothing");
		m.input("\x15");
		assert.equal(m.filter, "");
	});

	test("a number chooses that entry, even when other names contain the digit", () => {
		const { m } = menu();
		assert.deepEqual(m.input("2\r"), { kind: "choose", entry: ENTRIES[1] });
		m.input("\x15");
		assert.deepEqual(m.input("1\r"), { kind: "choose", entry: ENTRIES[0] }, "1 matches db1 and web1 by name, the number wins");
		m.input("\x15");
		assert.deepEqual(m.input("9\r"), null, "no entry 9 and no name with 9");
	});

	test("q quits only with an empty filter; Ctrl-D quits; Ctrl-C clears, then quits", () => {
		const { m } = menu();
		assert.deepEqual(m.input("q"), { kind: "quit" });
		const second = menu().m;
		assert.equal(second.input("sq"), null);
		assert.equal(second.filter, "sq");
		assert.equal(second.input("\x03"), null);
		assert.equal(second.filter, "");
		assert.deepEqual(second.input("\x03"), { kind: "quit" });
		assert.deepEqual(menu().m.input("\x04"), { kind: "quit" });
	});

	test("what was typed after the choosing Enter is kept for the target", () => {
		const { m } = menu();
		assert.deepEqual(m.input("web\r\nuname -s\nexit\n"), { kind: "choose", entry: ENTRIES[2] });
		assert.equal(m.takeRest(), "uname -s\nexit\n");
		assert.equal(m.takeRest(), "");
	});

	test("an escape sequence split across reads is reassembled", () => {
		const { m } = menu();
		assert.equal(m.input("\x1b["), null);
		assert.equal(m.input("B"), null);
		assert.deepEqual(m.input("\r"), { kind: "choose", entry: ENTRIES[1] });
	});

	test("scrolls to keep the selection visible on a small terminal; resize re-renders", () => {
		const many = Array.from({ length: 30 }, (_, i) => ({ name: `host${i + 1}`, host: `10.0.1.${i + 1}`, port: 22, description: "" }));
		const { m, last } = menu(many, 12);
		m.render();
		assert.match(last(), /more: scroll/);
		for (let i = 0; i < 20; i++) m.input("\x1b[B");
		assert.match(last(), /> 21 {2}host21/);
		assert.doesNotMatch(last(), / 1 {2}host1 /);
		m.resize(100, 50);
		assert.match(last(), / 1 {2}host1 /);
		assert.deepEqual(m.input("\r"), { kind: "choose", entry: many[20] });
	});

	test("no servers: says so and still quits with q", () => {
		const { m, last } = menu([]);
		m.render();
		assert.match(last(), /No servers are granted to you/);
		assert.equal(m.input("\r"), null);
		assert.deepEqual(m.input("q"), { kind: "quit" });
	});

	test("server data cannot inject terminal escapes", () => {
		assert.equal(terminalSafe("a\x1b[2Jb\u202ec\x9b"), "a?[2Jb?c?");
		const { m, last } = menu([{ name: "x", host: "h", port: 22, description: "\x1b]0;pwned\x07" }]);
		m.render();
		assert.ok(!last().includes("\x1b]0;"));
	});
});

describe("exec command grammar", () => {
	test("NAME, NAME -- CMD, NAME CMD", () => {
		assert.deepEqual(parseTargetCommand("db1"), { server: "db1", command: null });
		assert.deepEqual(parseTargetCommand("  db1  "), { server: "db1", command: null });
		assert.deepEqual(parseTargetCommand("db1 --"), { server: "db1", command: null });
		assert.deepEqual(parseTargetCommand("db1 -- ls -la /tmp"), { server: "db1", command: "ls -la /tmp" });
		assert.deepEqual(parseTargetCommand("db1 uptime"), { server: "db1", command: "uptime" });
		assert.deepEqual(parseTargetCommand("db1 --version"), { server: "db1", command: "--version" }, "only a lone -- is a separator");
		assert.deepEqual(parseTargetCommand("db1 -- 'a\nb'"), { server: "db1", command: "'a\nb'" });
		assert.equal(parseTargetCommand(""), null);
		assert.equal(parseTargetCommand("   "), null);
	});
});

describe("asciicast v2 recorder", () => {
	test("header, output and resize events; split UTF-8 kept whole; row stamped", async () => {
		const t = await createTestApp();
		try {
			await t.app.admin.createUser(ADMIN_ACTOR, { username: "alice", password: "correct horse battery", isAdmin: false, groups: [] });
			const user = await t.app.admin.requireUser("alice");
			const server = await serverService(t.app).add(ADMIN_ACTOR, { name: "db1", host: "127.0.0.1" });
			const recorder = await SessionRecorder.start(t.app.ssh, { userId: user.id, username: "alice", cols: 100, rows: 30, term: "xterm-256color" });
			const euro = Buffer.from("price: 5€\r\n");
			recorder.output(euro.subarray(0, 9));
			recorder.output(euro.subarray(9));
			await recorder.enterServer(server);
			recorder.resize(120, 40);
			recorder.output("bye\r\n");
			await recorder.finish();
			await recorder.finish();
			const row = (await t.app.stores.recordings.find(recorder.id))!;
			assert.equal(row.username, "alice");
			assert.equal(row.server_id, server.id);
			assert.deepEqual(JSON.parse(row.servers), ["db1"]);
			assert.ok(row.ended_at !== null && row.bytes > 0);
			let text = "";
			for await (const piece of t.app.stores.recordings.read(row)) text += piece;
			assert.equal(Buffer.byteLength(text), row.bytes);
			assert.equal(row.storage, "db");
			assert.ok(row.chunks >= 1);
			const cast = parseCast(text);
			assert.equal(cast.header.version, 2);
			assert.equal(cast.header.width, 100);
			assert.equal(cast.header.height, 30);
			assert.equal(cast.header.timestamp, Math.floor(t.clock.now().getTime() / 1000));
			assert.deepEqual(cast.header.env, { TERM: "xterm-256color", SHELL: "portcullis-menu" });
			assert.deepEqual(
				cast.events.map((e) => [e[1], e[2]]),
				[
					["o", "price: 5"],
					["o", "€\r\n"],
					["r", "120x40"],
					["o", "bye\r\n"],
				],
			);
			assert.ok(
				cast.events.every((e, i) => i === 0 || e[0] >= cast.events[i - 1]![0]),
				"times never go back",
			);
			assert.deepEqual(await t.app.stores.recordings.verify(row.id), { id: row.id, status: "ok", chunks: row.chunks });
		} finally {
			await t.cleanup();
		}
	});

	test("stored paths cannot escape the recordings directory", async () => {
		const t = await createTestApp();
		try {
			for (const bad of ["../x.cast", "/etc/passwd", "a/../../x", ""]) assert.throws(() => recordingPath(t.app.config, bad), bad);
		} finally {
			await t.cleanup();
		}
	});
});
