/**
 * RADIUS passes the shared method conformance suite against a REAL FreeRADIUS (started once for
 * this file). The users are one-time-code users (FREERADIUS_USERS.otto: a replayed code is
 * rejected by the server, as a token server does); the unreachable-backend case points the
 * settings at a dead port, which also shows the settings are read on every use.
 */
import { after } from "node:test";
import { createMethodAdmin } from "../../src/methods/method-admin.ts";
import { deadUdpPort } from "../helpers/dead-ports.ts";
import { freeRadiusSkipReason, startFreeRadius, type FreeRadiusServer } from "../helpers/freeradius.ts";
import { ADMIN_ACTOR, type TestApp } from "../helpers/test-app.ts";
import { methodConformance } from "./conformance.ts";

const context = { channel: "web", source: "test", duringLogin: false } as const;

let radius: FreeRadiusServer | null = null;
after(async () => radius?.stop());
let users = 0;
let code = 700_000;
const nextCode = (): string => String(code++);

if (freeRadiusSkipReason() !== undefined) {
	console.log(`# skipped: ${freeRadiusSkipReason()}`);
} else {
	methodConformance({
		method: "radius",
		channels: ["web", "ssh"],
		replay: "new-attempt",
		async configure(t: TestApp) {
			radius ??= await startFreeRadius();
			await createMethodAdmin(t.app).update(ADMIN_ACTOR, "radius", {
				servers: [{ host: radius.host, port: radius.port, secret: radius.secret }],
				timeoutMs: 1000,
				retries: 1,
				nasIdentifier: "portcullis-conformance",
			});
		},
		async enroll(t, userId) {
			users += 1;
			const begin = await t.app.enrollment.begin(userId, "radius", "token", { username: `otto${users}`, password: nextCode() }, context);
			if (begin.kind !== "active") throw new Error(JSON.stringify(begin));
		},
		async answer() {
			return nextCode();
		},
		wrongAnswer: () => "812345",
		async breakBackend(t) {
			await createMethodAdmin(t.app).update(ADMIN_ACTOR, "radius", {
				servers: [{ host: "127.0.0.1", port: await deadUdpPort(), secret: radius!.secret }],
				timeoutMs: 200,
				retries: 0,
			});
		},
	});
}
