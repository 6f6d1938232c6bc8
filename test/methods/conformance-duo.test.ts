/**
 * Duo passes the shared method conformance suite against the local fake Duo (HTTPS with a test
 * CA, Duo's own signature checks). Answers are one-time passcodes (the fake accepts each once, so
 * a replay on a new attempt is refused by Duo); the unreachable-backend case points the settings
 * at a dead port, which also shows the settings are read on every use.
 */
import { after } from "node:test";
import { createMethodAdmin } from "../../src/methods/method-admin.ts";
import { deadTcpPort } from "../helpers/dead-ports.ts";
import { DUO_IKEY, DUO_SKEY, type FakeDuoServer, startFakeDuoServer } from "../helpers/fake-duo-server.ts";
import { ADMIN_ACTOR, type TestApp } from "../helpers/test-app.ts";
import { sharedTestCa } from "../helpers/test-ca.ts";
import { methodConformance } from "./conformance.ts";

const context = { channel: "web", source: "test", duringLogin: false } as const;

const servers: FakeDuoServer[] = [];
after(async () => {
	for (const server of servers) await server.close();
});
let passcodes: string[] = [];
let serial = 100000;

methodConformance({
	method: "duo",
	channels: ["web", "ssh"],
	replay: "new-attempt",
	async configure(t: TestApp) {
		const ca = sharedTestCa();
		const server = await startFakeDuoServer({ ikey: DUO_IKEY, skey: DUO_SKEY, tls: { cert: ca.serverCert, key: ca.serverKey }, clock: t.clock });
		servers.push(server);
		await createMethodAdmin(t.app).update(ADMIN_ACTOR, "duo", {
			apiHost: `localhost:${server.port}`,
			integrationKey: DUO_IKEY,
			secretKey: DUO_SKEY,
			timeoutMs: 2000,
			caPem: ca.caCert,
		});
	},
	async enroll(t, userId) {
		const user = (await t.app.stores.users.findById(userId))!;
		passcodes = Array.from({ length: 20 }, () => String(serial++));
		servers[servers.length - 1]!.users.set(user.username, { passcodes: [...passcodes] });
		const begin = await t.app.enrollment.begin(userId, "duo", "Duo", {}, context);
		if (begin.kind !== "active") throw new Error(JSON.stringify(begin));
	},
	async answer() {
		return passcodes.shift()!;
	},
	wrongAnswer: () => "999999",
	async breakBackend(t) {
		await createMethodAdmin(t.app).update(ADMIN_ACTOR, "duo", {
			apiHost: `localhost:${await deadTcpPort()}`,
			integrationKey: DUO_IKEY,
			timeoutMs: 1000,
			caPem: sharedTestCa().caCert,
		});
	},
});
