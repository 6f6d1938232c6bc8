import assert from "node:assert/strict";
import { test } from "node:test";
import { MODHEX_ALPHABET, hexToModhex, isModhex, modhexDecode, modhexEncode, modhexToHex } from "../../../src/methods/yubikey-otp/modhex.ts";

// Vectors: Yubico yubico-c test-vectors.txt "Modhex" and tests/selftest.c.
test("modhex vector: dteffuje decodes to 2d344e83", () => {
	assert.equal(modhexDecode("dteffuje")?.toString("hex"), "2d344e83");
});

test("modhex vector: OTP ciphertext decodes to the AES input block", () => {
	assert.equal(modhexDecode("hknhfjbrjnlnldnhcujvddbikngjrtgh")?.toString("hex"), "69b6481c8baba2b60e8f22179b58cd56");
});

test("modhex vector: AES key bytes encode to urtubjtnuihvntcreeeecvbregfjibtn", () => {
	assert.equal(modhexEncode(Buffer.from("ecde18dbe76fbd0c33330f1c354871db", "hex")), "urtubjtnuihvntcreeeecvbregfjibtn");
	assert.equal(hexToModhex("ecde18dbe76fbd0c33330f1c354871db"), "urtubjtnuihvntcreeeecvbregfjibtn");
	assert.equal(modhexToHex("urtubjtnuihvntcreeeecvbregfjibtn"), "ecde18dbe76fbd0c33330f1c354871db");
});

test("modhex vector: 'test' <-> ifhgieif", () => {
	assert.equal(modhexEncode(Buffer.from("test")), "ifhgieif");
	assert.equal(modhexDecode("ifhgieif")?.toString(), "test");
});

test("modhex vector: hhhvhvhdhbid is 'foobar' (mislabelled 'test' in test-vectors.txt)", () => {
	assert.equal(modhexDecode("hhhvhvhdhbid")?.toString(), "foobar");
	assert.equal(modhexEncode(Buffer.from("foobar")), "hhhvhvhdhbid");
});

test("the alphabet maps digit n to its n-th letter", () => {
	assert.equal(modhexEncode(Buffer.from("0123456789abcdef", "hex")), MODHEX_ALPHABET);
});

test("round trip over all byte values", () => {
	const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
	const encoded = modhexEncode(all);
	assert.equal(encoded.length, 512);
	assert.deepEqual(modhexDecode(encoded), all);
});

test("strict decoding returns null instead of throwing", () => {
	for (const bad of ["", "c", "cbd", "CBDE", "cbda", "cb de", "cb\u0000d", "0123", "ＣＢ", "cb\u212a\u212a", "cbdefghijklnrtuvw"]) {
		assert.equal(modhexDecode(bad), null, JSON.stringify(bad));
		assert.equal(isModhex(bad), false, JSON.stringify(bad));
	}
	assert.equal(hexToModhex("abc"), null);
	assert.equal(hexToModhex("zz"), null);
	assert.equal(hexToModhex(""), null);
	assert.equal(modhexToHex("xx"), null);
});
