/**
 * YubiKey (Yubico OTP) passes the shared method conformance suite in both validation modes:
 * offline (AES key per factor, replay refused by the strictly rising counter) and cloud (a local
 * fake Validation Protocol 2.0 server over HTTPS with a test CA; replay refused by its
 * REPLAYED_OTP; the unreachable-backend case stops the server).
 */
import { after } from "node:test";
import { createMethodAdmin } from "../../src/methods/method-admin.ts";
import { startFakeYubicoServer, type FakeYubicoServer } from "../helpers/fake-yubico-server.ts";
import { ADMIN_ACTOR, type TestApp } from "../helpers/test-app.ts";
import { sharedTestCa } from "../helpers/test-ca.ts";
import { simulatedYubikey, type SimulatedYubikey } from "../helpers/yubikey-keys.ts";
import { methodConformance } from "./conformance.ts";

const context = { channel: "web", source: "test", duringLogin: false } as const;

function harness(mode: "offline" | "cloud") {
	let current: SimulatedYubikey | null = null;
	const servers: FakeYubicoServer[] = [];
	const cloudKeys: SimulatedYubikey[] = [];
	after(async () => {
		for (const server of servers) await server.close();
	});
	return {
		method: "yubikey-otp" as const,
		channels: ["web", "ssh"] as const,
		replay: "new-attempt" as const,
		async configure(t: TestApp) {
			if (mode === "offline") {
				await createMethodAdmin(t.app).update(ADMIN_ACTOR, "yubikey-otp", { mode: "offline" });
				return;
			}
			const apiKey = Buffer.from("conformance api key 20b").toString("base64");
			const ca = sharedTestCa();
			const server = await startFakeYubicoServer({ clients: { "4711": apiKey }, keys: cloudKeys, tls: { cert: ca.serverCert, key: ca.serverKey } });
			servers.push(server);
			await createMethodAdmin(t.app).update(ADMIN_ACTOR, "yubikey-otp", {
				mode: "cloud",
				urls: [server.url],
				clientId: "4711",
				apiKey,
				timeoutMs: 2000,
				caPem: ca.caCert,
			});
		},
		async enroll(t: TestApp, userId: string) {
			current = simulatedYubikey();
			cloudKeys.push(current);
			const begin = await t.app.enrollment.begin(
				userId,
				"yubikey-otp",
				"key",
				{ otp: current.otp(), aesKey: current.aesKeyHex, privateId: current.privateIdHex },
				context,
			);
			if (begin.kind !== "active") throw new Error(JSON.stringify(begin));
		},
		async answer() {
			return current!.otp();
		},
		wrongAnswer: () => current!.forgedOtp(),
		...(mode === "cloud"
			? {
					async breakBackend() {
						for (const server of servers) await server.close();
					},
				}
			: {}),
	};
}

methodConformance(harness("offline"));
methodConformance(harness("cloud"));
