import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { isPortcullisError } from "../../../src/core/errors.ts";
import { cryptoRandom, type Random } from "../../../src/core/random.ts";
import { YubicoCloudClient, parseWsapiResponse, type YubicoCloudClientOptions } from "../../../src/methods/yubikey-otp/cloud-client.ts";
import type { YubikeyOtpKey } from "../../../src/methods/yubikey-otp/offline-validator.ts";
import { generateOtp } from "../../../src/methods/yubikey-otp/otp-generator.ts";
import { decodeStrictBase64, signedLine, wsapiSign, wsapiVerify } from "../../../src/methods/yubikey-otp/wsapi-signature.ts";
import { startFakeYubicoServer, type FakeYubicoMode, type FakeYubicoServer } from "../../helpers/fake-yubico-server.ts";
import { makeTestCa, requireOpenssl } from "../../helpers/test-ca.ts";

const CLIENT_ID = "4711";
const API_KEY = Buffer.from("0123456789abcdefghij").toString("base64"); // 20 bytes, like YubiCloud keys

const key: YubikeyOtpKey = {
	publicId: "vvccccrrkrjb",
	privateId: Buffer.from("a1b2c3d4e5f6", "hex"),
	aesKey: Buffer.from("00112233445566778899aabbccddeeff", "hex"),
};
const strangerKey: YubikeyOtpKey = {
	publicId: "vvccccdddddd",
	privateId: Buffer.from("0f0e0d0c0b0a", "hex"),
	aesKey: Buffer.from("ffeeddccbbaa99887766554433221100", "hex"),
};

let useCounter = 1000; // above the explicit 900 used in the first test: the fake server tracks counters
function freshOtp(k: YubikeyOtpKey = key): string {
	return generateOtp({ ...k, useCounter: useCounter++, sessionCounter: 0 });
}

/** Counting Random: every nonce differs and is predictable. */
function countingRandom(): Random & { calls: number } {
	const random = {
		calls: 0,
		bytes(length: number): Buffer {
			random.calls++;
			return Buffer.alloc(length, random.calls);
		},
		int: (min: number) => min,
	};
	return random;
}

/** A local port with nothing listening (connection refused). */
async function deadUrl(): Promise<string> {
	const probe = createServer();
	await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
	const port = (probe.address() as { port: number }).port;
	await new Promise<void>((resolve) => probe.close(() => resolve()));
	return `http://127.0.0.1:${port}/wsapi/2.0/verify`;
}

function client(urls: string[], extra: Partial<YubicoCloudClientOptions> = {}): YubicoCloudClient {
	return new YubicoCloudClient({ clientId: CLIENT_ID, apiKey: API_KEY, urls, random: cryptoRandom, timeoutMs: 2_000, ...extra });
}

describe("wsapi signature", () => {
	test("signs the sorted pairs without h (ValidationProtocolV20 example b=1&a=2&c=3)", () => {
		assert.equal(signedLine({ b: "1", a: "2", c: "3", h: "ignored" }), "a=2&b=1&c=3");
		const apiKey = Buffer.from("secret");
		const h = wsapiSign({ b: "1", a: "2", c: "3" }, apiKey);
		assert.equal(h, createHmac("sha1", apiKey).update("a=2&b=1&c=3").digest("base64"));
		assert.equal(
			wsapiVerify(
				new Map([
					["b", "1"],
					["a", "2"],
					["c", "3"],
					["h", h],
				]),
				apiKey,
			),
			true,
		);
		assert.equal(
			wsapiVerify(
				new Map([
					["b", "1"],
					["a", "2"],
					["c", "4"],
					["h", h],
				]),
				apiKey,
			),
			false,
		);
		assert.equal(wsapiVerify(new Map([["b", "1"]]), apiKey), false);
	});

	test("only canonical base64 decodes", () => {
		assert.deepEqual(decodeStrictBase64("Zm9v"), Buffer.from("foo"));
		for (const bad of ["", "Zm9", "Zm9v\n", "Zm9v=", "Zm8=x", "Zm9=", "%%%%", "Zm-v"]) {
			assert.equal(decodeStrictBase64(bad), null, bad);
		}
	});
});

describe("response parser", () => {
	const ok = "h=abc=\r\nt=2010-04-23T20:34:51Z0678\r\notp=x\r\nnonce=y\r\nsl=75\r\nstatus=OK\r\n\r\n";
	test("parses CRLF key=value lines, value may contain '='", () => {
		const params = parseWsapiResponse(Buffer.from(ok));
		assert.ok(params);
		assert.equal(params.get("h"), "abc=");
		assert.equal(params.get("status"), "OK");
		assert.equal(params.size, 6);
	});
	test("rejects duplicates, bare LF, stray CR, empty lines inside, binary, no '='", () => {
		for (const body of [
			"status=OK\r\nstatus=OK\r\n",
			"status=OK\nh=x\n",
			"status=OK\rh=x\r\n",
			"status=OK\r\n\r\nh=x\r\n",
			"status=OK\r\n\u0000\r\n",
			"status=OK\r\njunk\r\n",
			"=OK\r\n",
			"st atus=OK\r\n",
			"",
			"\r\n",
			"status=ÖK\r\n",
			Array.from({ length: 40 }, (_, i) => `k${i}=v`).join("\r\n"),
		]) {
			assert.equal(parseWsapiResponse(Buffer.from(body, "latin1")), null, JSON.stringify(body));
		}
	});
});

describe("YubicoCloudClient against the fake validation server (http)", () => {
	let server: FakeYubicoServer;
	before(async () => {
		server = await startFakeYubicoServer({ clients: { [CLIENT_ID]: API_KEY }, keys: [key] });
	});
	after(() => server.close());

	const setMode = (mode: FakeYubicoMode): void => {
		server.mode = mode;
	};

	test("ok: valid only with status OK, valid h, echoed otp and nonce", async () => {
		setMode("ok");
		const random = countingRandom();
		const result = await client([server.url], { random }).verify(generateOtp({ ...key, useCounter: 900, sessionCounter: 3 }));
		assert.equal(result.kind, "valid");
		assert.ok(result.kind === "valid");
		assert.equal(result.publicId, "vvccccrrkrjb");
		assert.equal(result.useCounter, 900);
		assert.equal(result.sessionCounter, 3);
		assert.equal(result.counter, 900 * 256 + 3);
		const request = server.requests.at(-1)!;
		assert.equal(request.signatureValid, true, "request carried a valid h");
		assert.equal(request.params.get("id"), CLIENT_ID);
		assert.equal(request.params.get("timestamp"), "1");
		assert.equal(request.params.get("nonce"), Buffer.alloc(16, 1).toString("hex"), "nonce comes from the injected Random");
		const nonce = request.params.get("nonce")!;
		assert.ok(nonce.length >= 16 && nonce.length <= 40);
	});

	test("optional sl and timeout are sent and signed", async () => {
		setMode("ok");
		await client([server.url], { syncLevel: "secure", serverTimeoutSeconds: 8 }).verify(freshOtp());
		const request = server.requests.at(-1)!;
		assert.equal(request.params.get("sl"), "secure");
		assert.equal(request.params.get("timeout"), "8");
		assert.equal(request.signatureValid, true);
	});

	test("caps-lock OTP is sent lower-cased and accepted", async () => {
		setMode("ok");
		const otp = freshOtp();
		const result = await client([server.url]).verify(otp.toUpperCase());
		assert.equal(result.kind, "valid");
		assert.equal(server.requests.at(-1)!.params.get("otp"), otp);
	});

	test("ok server: the same OTP twice is REPLAYED_OTP -> replayed", async () => {
		setMode("ok");
		const otp = freshOtp();
		assert.equal((await client([server.url]).verify(otp)).kind, "valid");
		const second = await client([server.url]).verify(otp);
		assert.deepEqual(
			{ kind: second.kind, reason: second.kind === "invalid" && second.reason, status: second.kind === "invalid" && second.status },
			{
				kind: "invalid",
				reason: "replayed",
				status: "REPLAYED_OTP",
			},
		);
	});

	test("ok server: an OTP of an unregistered key is BAD_OTP -> rejected", async () => {
		setMode("ok");
		const result = await client([server.url]).verify(freshOtp(strangerKey));
		assert.ok(result.kind === "invalid");
		assert.equal(result.reason, "rejected");
		assert.equal(result.status, "BAD_OTP");
	});

	test("client with a wrong API key: server answers BAD_SIGNATURE, which does not verify under our key", async () => {
		setMode("ok");
		const wrongKey = Buffer.from("another twenty bytes").toString("base64");
		const result = await client([server.url], { apiKey: wrongKey }).verify(freshOtp());
		assert.ok(result.kind === "invalid");
		assert.equal(result.reason, "bad-signature");
		assert.equal(server.requests.at(-1)!.signatureValid, false);
	});

	test("unknown client id: NO_SUCH_CLIENT signed with an empty key -> bad-signature", async () => {
		setMode("ok");
		const result = await client([server.url], { clientId: "999" }).verify(freshOtp());
		assert.ok(result.kind === "invalid");
		assert.equal(result.reason, "bad-signature");
	});

	const denials: [FakeYubicoMode, string, string | null, number][] = [
		["replayed", "replayed", "REPLAYED_OTP", 200],
		["unsigned", "missing-signature", null, 200],
		["wrong-h", "bad-signature", null, 200],
		["non-base64-h", "bad-signature", null, 200],
		["otp-mismatch", "otp-mismatch", "OK", 200],
		["nonce-mismatch", "nonce-mismatch", "OK", 200],
		["garbage", "malformed-response", null, 200],
		["duplicate-key", "malformed-response", null, 200],
		["lf-only", "malformed-response", null, 200],
		["unknown-status", "unknown-status", "MAYBE", 200],
		["bad-signature-status", "rejected", "BAD_SIGNATURE", 200],
		["http-500", "http-error", null, 500],
		["huge", "oversized-response", null, 200],
		["huge-chunked", "oversized-response", null, 200],
	];
	for (const [mode, reason, status, httpStatus] of denials) {
		test(`mode ${mode} -> denial "${reason}"`, async () => {
			setMode(mode);
			const result = await client([server.url]).verify(freshOtp());
			assert.deepEqual(result, { kind: "invalid", reason, status, url: server.url, httpStatus });
		});
	}

	test("mode slow: the only URL times out -> ERR_METHOD_UNAVAILABLE", async () => {
		setMode("slow");
		const started = Date.now();
		await assert.rejects(client([server.url], { timeoutMs: 300 }).verify(freshOtp()), (error) => {
			assert.ok(isPortcullisError(error, "ERR_METHOD_UNAVAILABLE"));
			assert.match(error.message, /timeout/);
			return true;
		});
		assert.ok(Date.now() - started < 2_000);
	});

	test("malformed OTPs are denied without any request", async () => {
		setMode("ok");
		const before = server.requests.length;
		for (const input of ["", "x".repeat(1024 * 1024), `vvccccrrkrjb${"0".repeat(32)}`, `ｖｖｃｃ${"c".repeat(32)}`, `vvccccrrkrjb\u0000${"c".repeat(31)}`, 7]) {
			assert.deepEqual(await client([server.url]).verify(input), {
				kind: "invalid",
				reason: "malformed-otp",
				status: null,
				url: null,
				httpStatus: null,
			});
		}
		assert.equal(server.requests.length, before);
	});

	test("allowedPublicIds: another key's valid OTP is denied before it is sent; the user's own passes", async () => {
		setMode("ok");
		const before = server.requests.length;
		const stranger = await client([server.url]).verify(freshOtp(strangerKey), { allowedPublicIds: ["vvccccrrkrjb"] });
		assert.deepEqual(stranger, { kind: "invalid", reason: "unknown-public-id", status: null, url: null, httpStatus: null });
		assert.equal(server.requests.length, before, "nothing sent");
		const empty = await client([server.url]).verify(freshOtp(), { allowedPublicIds: [] });
		assert.ok(empty.kind === "invalid" && empty.reason === "unknown-public-id");
		const own = await client([server.url]).verify(freshOtp(), { allowedPublicIds: ["VVCCCCRRKRJB", "cccccccccccc"] });
		assert.equal(own.kind, "valid");
	});

	test("HTTP(S)_PROXY in the environment is ignored", async () => {
		setMode("ok");
		const saved = { http: process.env.HTTP_PROXY, https: process.env.HTTPS_PROXY };
		process.env.HTTP_PROXY = "http://127.0.0.1:9";
		process.env.HTTPS_PROXY = "http://127.0.0.1:9";
		try {
			assert.equal((await client([server.url]).verify(freshOtp())).kind, "valid");
		} finally {
			if (saved.http === undefined) delete process.env.HTTP_PROXY;
			else process.env.HTTP_PROXY = saved.http;
			if (saved.https === undefined) delete process.env.HTTPS_PROXY;
			else process.env.HTTPS_PROXY = saved.https;
		}
	});
});

describe("URL list and failover", () => {
	let slow: FakeYubicoServer;
	let good: FakeYubicoServer;
	before(async () => {
		slow = await startFakeYubicoServer({ clients: { [CLIENT_ID]: API_KEY }, keys: [key], mode: "slow" });
		good = await startFakeYubicoServer({ clients: { [CLIENT_ID]: API_KEY }, keys: [key] });
	});
	after(async () => {
		await slow.close();
		await good.close();
	});

	test("a refused and a slow URL are skipped; the next answering URL decides, with a fresh nonce", async () => {
		const random = countingRandom();
		const dead = await deadUrl();
		const result = await client([dead, slow.url, good.url], { random, timeoutMs: 300 }).verify(freshOtp());
		assert.ok(result.kind === "valid");
		assert.equal(result.url, good.url);
		assert.equal(random.calls, 3, "one nonce per attempt");
		assert.notEqual(slow.requests.at(-1)!.params.get("nonce"), good.requests.at(-1)!.params.get("nonce"));
	});

	test("the first URL that answers decides, even with a denial (no shopping for a better answer)", async () => {
		const denying = await startFakeYubicoServer({ clients: { [CLIENT_ID]: API_KEY }, mode: "http-500" });
		try {
			const before = good.requests.length;
			const result = await client([denying.url, good.url]).verify(freshOtp());
			assert.ok(result.kind === "invalid");
			assert.equal(result.reason, "http-error");
			assert.equal(good.requests.length, before);
		} finally {
			await denying.close();
		}
	});

	test("every URL unreachable -> ERR_METHOD_UNAVAILABLE naming each URL", async () => {
		const a = await deadUrl();
		const b = await deadUrl();
		await assert.rejects(client([a, b]).verify(freshOtp()), (error) => {
			assert.ok(isPortcullisError(error, "ERR_METHOD_UNAVAILABLE"));
			assert.ok(error.message.includes(a) && error.message.includes(b));
			return true;
		});
	});
});

describe("https with a private CA", () => {
	let server: FakeYubicoServer | undefined;
	after(() => server?.close());

	test("valid over https when the client trusts the test CA; unreachable with another CA", async (t) => {
		if (!requireOpenssl(t)) return;
		const ca = makeTestCa();
		server = await startFakeYubicoServer({
			clients: { [CLIENT_ID]: API_KEY },
			keys: [key],
			tls: { cert: ca.serverCert, key: ca.serverKey },
		});
		assert.match(server.url, /^https:\/\/localhost:/);
		const ok = await client([server.url], { ca: ca.caCert }).verify(freshOtp());
		assert.equal(ok.kind, "valid");

		const otherCa = makeTestCa("Unrelated CA");
		await assert.rejects(client([server.url], { ca: otherCa.caCert }).verify(freshOtp()), (error) => isPortcullisError(error, "ERR_METHOD_UNAVAILABLE"));
		// Without `ca`, the system roots do not know the test CA either.
		await assert.rejects(client([server.url]).verify(freshOtp()), (error) => isPortcullisError(error, "ERR_METHOD_UNAVAILABLE"));
	});
});

describe("configuration checks", () => {
	const base: YubicoCloudClientOptions = { clientId: CLIENT_ID, apiKey: API_KEY, urls: ["https://api.yubico.com/wsapi/2.0/verify"], random: cryptoRandom };
	const bad: Partial<YubicoCloudClientOptions>[] = [
		{ clientId: "" },
		{ clientId: "1&otp=x" },
		{ apiKey: "not base64!" },
		{ apiKey: "" },
		{ urls: [] },
		{ urls: ["ftp://example.com/verify"] },
		{ urls: ["https://example.com/verify?id=1"] },
		{ urls: ["https://user:pw@example.com/verify"] },
		{ urls: ["not a url"] },
		{ timeoutMs: 0 },
		{ syncLevel: 101 },
		{ serverTimeoutSeconds: -1 },
	];
	for (const change of bad) {
		test(`rejects ${JSON.stringify(change)}`, () => {
			assert.throws(
				() => new YubicoCloudClient({ ...base, ...change }),
				(error) => isPortcullisError(error, "ERR_CONFIG_INVALID"),
			);
		});
	}
	test("accepts http and https URLs, sl 0..100 / fast / secure", () => {
		new YubicoCloudClient({ ...base, urls: ["http://127.0.0.1:8080/wsapi/2.0/verify", "https://api2.yubico.com/wsapi/2.0/verify"], syncLevel: 0 });
		new YubicoCloudClient({ ...base, syncLevel: "fast" });
	});
});
