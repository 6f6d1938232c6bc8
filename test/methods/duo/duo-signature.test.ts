import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import { isPortcullisError } from "../../../src/core/errors.ts";
import {
	duoAuthorizationHeader,
	duoCanonParams,
	duoCanonicalRequest,
	duoSignatureHex,
	formatDuoDate,
	rfc3986Encode,
} from "../../../src/methods/duo/duo-signature.ts";

const require = createRequire(import.meta.url);
// Oracle: Duo's own Node.js reference signer (@duosecurity/duo_api 1.5.0, devDependency; no types shipped).
const oracle = require("@duosecurity/duo_api/lib/duo_sig.js") as {
	sign(ikey: string, skey: string, method: string, host: string, path: string, params: Record<string, string>, date: string): string;
	_canonParams(params: Record<string, string>): string;
	_canonicalize(method: string, host: string, path: string, params: Record<string, string>, date: string): string;
};

// Canonicalization vectors from duosecurity/duo_api_nodejs tests/duo_sig.js (values only).
const UNICODE_KEYS_AND_VALUES: Record<string, string> = {
	"\u469a\u287b\u35d0\u8ef3\u6727\u502a\u0810\ud091\xc8\uc170": "\u0f45\u1a76\u341a\u654c\uc23f\u9b09\uabe2\u8343\u1b27\u60d0",
	"\u7449\u7e4b\uccfb\u59ff\ufe5f\u83b7\uadcc\u900c\ucfd1\u7813": "\u8db7\u5022\u92d3\u42ef\u207d\u8730\uacfe\u5617\u0946\u4e30",
	"\u7470\u9314\u901c\u9eae\u40d8\u4201\u82d8\u8c70\u1d31\ua042": "\u17d9\u0ba8\u9358\uaadf\ua42a\u48be\ufb96\u6fe9\ub7ff\u32f3",
	"\uc2c5\u2c1d\u2620\u3617\u96b3F\u8605\u20e8\uac21\u5934": "\ufba9\u41aa\ubd83\u840b\u2615\u3e6e\u652d\ua8b5\ud56bU",
};
const UNICODE_CANON =
	"%E4%9A%9A%E2%A1%BB%E3%97%90%E8%BB%B3%E6%9C%A7%E5%80%AA%E0%A0%90%ED%82%91%C3%88%EC%85%B0=%E0%BD%85%E1%A9%B6%E3%90%9A%E6%95%8C%EC%88%BF%E9%AC%89%EA%AF%A2%E8%8D%83%E1%AC%A7%E6%83%90&%E7%91%89%E7%B9%8B%EC%B3%BB%E5%A7%BF%EF%B9%9F%E8%8E%B7%EA%B7%8C%E9%80%8C%EC%BF%91%E7%A0%93=%E8%B6%B7%E5%80%A2%E9%8B%93%E4%8B%AF%E2%81%BD%E8%9C%B0%EA%B3%BE%E5%98%97%E0%A5%86%E4%B8%B0&%E7%91%B0%E9%8C%94%E9%80%9C%E9%BA%AE%E4%83%98%E4%88%81%E8%8B%98%E8%B1%B0%E1%B4%B1%EA%81%82=%E1%9F%99%E0%AE%A8%E9%8D%98%EA%AB%9F%EA%90%AA%E4%A2%BE%EF%AE%96%E6%BF%A9%EB%9F%BF%E3%8B%B3&%EC%8B%85%E2%B0%9D%E2%98%A0%E3%98%97%E9%9A%B3F%E8%98%85%E2%83%A8%EA%B0%A1%E5%A4%B4=%EF%AE%A9%E4%86%AA%EB%B6%83%E8%90%8B%E2%98%95%E3%B9%AE%E6%94%AD%EA%A2%B5%ED%95%ABU";

test("canon params vectors (duo_api_nodejs)", () => {
	assert.equal(duoCanonParams({}), "");
	assert.equal(duoCanonParams({ realname: "First Last" }), "realname=First%20Last");
	assert.equal(duoCanonParams({ username: "root", realname: "First Last" }), "realname=First%20Last&username=root");
	assert.equal(
		duoCanonParams({
			digits: "0123456789",
			letters: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
			punctuation: "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
			whitespace: "\t\n\x0b\x0c\r ",
		}),
		"digits=0123456789&letters=abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ&punctuation=%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E_%60%7B%7C%7D~&whitespace=%09%0A%0B%0C%0D%20",
	);
	assert.equal(duoCanonParams(UNICODE_KEYS_AND_VALUES), UNICODE_CANON);
	assert.equal(duoCanonParams({ foo_bar: "2", foo: "1" }), "foo=1&foo_bar=2");
	assert.equal(duoCanonParams({ ip_whitelist_enroll_policy: "2", ip_whitelist: "1" }), "ip_whitelist=1&ip_whitelist_enroll_policy=2");
});

test("canonical request vector v2 (duo_api_nodejs test-v2)", () => {
	const canon = duoCanonicalRequest({
		date: "Fri, 07 Dec 2012 17:18:00 -0000",
		method: "PoSt",
		host: "foO.BAr52.cOm",
		path: "/Foo/BaR2/qux",
		params: UNICODE_KEYS_AND_VALUES,
	});
	assert.equal(canon, `Fri, 07 Dec 2012 17:18:00 -0000\nPOST\nfoo.bar52.com\n/Foo/BaR2/qux\n${UNICODE_CANON}`);
});

test("signature is lower-case hex HMAC-SHA512 (128 characters)", () => {
	const hex = duoSignatureHex("gtdfxv9YgVBYcF6dl2Eq17KUQJN2PLM2ODVTkvoT", {
		date: "Fri, 07 Dec 2012 17:18:00 -0000",
		method: "POST",
		host: "foo.bar52.com",
		path: "/Foo/BaR2/qux",
		params: { a: "b" },
	});
	assert.match(hex, /^[0-9a-f]{128}$/);
});

test("oracle: Authorization header equals @duosecurity/duo_api sign() for many requests", () => {
	const ikey = "DIWJ8X6AEYOR5OMC6TQ1";
	const skey = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep";
	const cases: { method: string; host: string; path: string; params: Record<string, string>; date: string }[] = [
		{ method: "GET", host: "api-xxxxxxxx.duosecurity.com", path: "/auth/v2/check", params: {}, date: "Tue, 21 Aug 2012 17:29:18 -0000" },
		{
			method: "POST",
			host: "API-XXXXXXXX.duosecurity.com",
			path: "/auth/v2/preauth",
			params: { username: "alice", ipaddr: "192.0.2.7" },
			date: "Thu, 01 Jan 2026 12:00:00 -0000",
		},
		{
			method: "post",
			host: "localhost",
			path: "/auth/v2/auth",
			params: { username: "o'brien+test@example.com", factor: "passcode", passcode: "123 456!*()~" },
			date: "Thu, 01 Jan 2026 12:00:00 -0000",
		},
		{
			method: "GET",
			host: "localhost",
			path: "/auth/v2/auth_status",
			params: { txid: "45f7c92b-f45f-4862-8545-e0f58e78075a" },
			date: "Mon, 02 Feb 2026 03:04:05 -0000",
		},
		{ method: "POST", host: "foO.BAr52.cOm", path: "/Foo/BaR2/qux", params: UNICODE_KEYS_AND_VALUES, date: "Fri, 07 Dec 2012 17:18:00 -0000" },
		{
			method: "POST",
			host: "localhost",
			path: "/auth/v2/preauth",
			params: { username: "jürgen.müller", ipaddr: "2001:db8::1" },
			date: "Fri, 07 Dec 2012 17:18:00 -0000",
		},
		{ method: "POST", host: "localhost", path: "/auth/v2/auth", params: { "": "", a: "", "&=": "=&" }, date: "Fri, 07 Dec 2012 17:18:00 -0000" },
	];
	for (const c of cases) {
		assert.equal(duoAuthorizationHeader(ikey, skey, c), oracle.sign(ikey, skey, c.method, c.host, c.path, c.params, c.date), JSON.stringify(c));
		assert.equal(duoCanonParams(c.params), oracle._canonParams(c.params));
		assert.equal(duoCanonicalRequest(c), oracle._canonicalize(c.method, c.host, c.path, c.params, c.date));
	}
	const header = duoAuthorizationHeader(ikey, skey, cases[0]!);
	const [user, sig] = Buffer.from(header.replace(/^Basic /, ""), "base64")
		.toString()
		.split(":");
	assert.equal(user, ikey);
	assert.match(sig!, /^[0-9a-f]{128}$/);
});

test("oracle: randomised printable and non-ASCII parameters", () => {
	const alphabet = "abcXYZ019 -._~!*'()&=+/?#%@:;,[]$\"<>\\^`{|}\u00e9\u4e2d\u{1f511}";
	const chars = [...alphabet];
	let seed = 12345;
	const next = (n: number): number => {
		seed = (seed * 1103515245 + 12345) % 2 ** 31;
		return seed % n;
	};
	const word = (): string => Array.from({ length: next(8) }, () => chars[next(chars.length)]).join("");
	for (let i = 0; i < 200; i++) {
		const params: Record<string, string> = {};
		for (let j = 0; j < next(5); j++) params[word() || "k"] = word();
		const date = formatDuoDate(new Date(Date.UTC(2026, 0, 1) + i * 86_400_123));
		assert.equal(
			duoAuthorizationHeader("DIWJ8X6AEYOR5OMC6TQ1", "skey-skey-skey-skey-skey", { date, method: "POST", host: "localhost", path: "/x", params }),
			oracle.sign("DIWJ8X6AEYOR5OMC6TQ1", "skey-skey-skey-skey-skey", "POST", "localhost", "/x", params, date),
		);
	}
});

test("RFC 3986 encoding leaves only unreserved characters bare; lone surrogates are ERR_INPUT", () => {
	assert.equal(rfc3986Encode("AZaz09-._~"), "AZaz09-._~");
	assert.equal(rfc3986Encode("!'()* +"), "%21%27%28%29%2A%20%2B");
	assert.equal(rfc3986Encode("é"), "%C3%A9");
	assert.throws(
		() => rfc3986Encode("\ud800"),
		(error) => isPortcullisError(error, "ERR_INPUT"),
	);
});

test("RFC 2822 Date in UTC with -0000, parseable back", () => {
	assert.equal(formatDuoDate(new Date(Date.UTC(2026, 0, 1, 12, 0, 0))), "Thu, 01 Jan 2026 12:00:00 -0000");
	assert.equal(formatDuoDate(new Date(Date.UTC(2012, 7, 21, 17, 29, 18))), "Tue, 21 Aug 2012 17:29:18 -0000");
	assert.equal(formatDuoDate(new Date(Date.UTC(1999, 11, 31, 23, 59, 59, 999))), "Fri, 31 Dec 1999 23:59:59 -0000");
	const now = new Date(Date.UTC(2030, 5, 15, 1, 2, 3));
	assert.equal(Date.parse(formatDuoDate(now)), now.getTime());
});
