/**
 * A process that makes admin changes in a loop, for the crash test (test/storage/audit-crash.test.ts):
 * the parent kills it with SIGKILL at a random point, then checks that every persisted change has
 * its audit event and every audit event its change.
 *
 *   node --import tsx test/helpers/admin-loop.ts <data dir> <prefix> [postgres url]
 *
 * The secret key is the data directory's key file, as for the CLI run on the same directory.
 *
 * Prints "ready" once the app is open and "done <n>" after each completed change. The changes go
 * through the same services as the console and the CLI (AdminService, ServerService).
 */
import { randomInt } from "node:crypto";
import { createPortcullis } from "../../src/app/portcullis.ts";
import { isPortcullisError } from "../../src/core/errors.ts";
import { testConfig } from "./test-app.ts";

const [dir, prefix, url] = process.argv.slice(2);
if (dir === undefined || prefix === undefined) throw new Error("usage: admin-loop.ts <data dir> <prefix> [postgres url]");
const app = await createPortcullis(testConfig(dir), {
	database: url === undefined ? { kind: "sqlite", file: `${dir}/portcullis.sqlite` } : { kind: "postgres", url },
});
const actor = { name: "crash-loop", channel: "cli" as const, source: "local" };

function pick<T>(items: readonly T[]): T | undefined {
	return items.length === 0 ? undefined : items[randomInt(items.length)];
}

let n = 0;
async function step(): Promise<void> {
	const [users, groups, servers] = await Promise.all([app.stores.users.list(), app.stores.groups.list(), app.stores.servers.list()]);
	const user = pick(users);
	const group = pick(groups);
	const server = pick(servers);
	switch (randomInt(10)) {
		case 0:
			await app.admin.createUser(actor, { username: `${prefix}u${n}`, password: null, isAdmin: false, groups: group ? [group.name] : [] });
			return;
		case 1:
			await app.admin.createGroup(actor, { name: `${prefix}g${n}`, forceTwoFactor: false, allowedMethods: null });
			return;
		case 2:
			if (user && group) await app.admin.addMember(actor, group.name, user.username);
			return;
		case 3:
			if (user && group) await app.admin.removeMember(actor, group.name, user.username);
			return;
		case 4:
			if (user) await app.admin.setDisabled(actor, user.username, user.disabled === 0);
			return;
		case 5:
			if (group && groups.length > 3) await app.admin.deleteGroup(actor, group.name);
			return;
		case 6:
			await app.servers.add(actor, { name: `${prefix}s${n}`, host: "192.0.2.7", groups: group ? [group.name] : [] });
			return;
		case 7:
			if (server && group) await app.servers.grant(actor, server.name, group.name);
			return;
		case 8:
			if (server && group) await app.servers.revoke(actor, server.name, group.name);
			return;
		default:
			if (server && servers.length > 3) await app.servers.remove(actor, server.name);
	}
}

process.stdout.write("ready\n");
for (;;) {
	try {
		await step();
	} catch (error) {
		// Another loop on the same database removed what this one picked, or took the name first:
		// the unit of work re-checked it inside its transaction and refused. Anything else is a failure.
		if (!isPortcullisError(error, "ERR_NOT_FOUND") && !isPortcullisError(error, "ERR_CONFLICT")) throw error;
	}
	n += 1;
	process.stdout.write(`done ${n}\n`);
}
