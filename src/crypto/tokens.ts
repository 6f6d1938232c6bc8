import { createHash, timingSafeEqual } from "node:crypto";
import type { Random } from "../core/random.ts";

/** 256-bit random token, base64url: session ids, attempt ids, enrolment links. */
export function newToken(random: Random, bytes = 32): string {
	return random.bytes(bytes).toString("base64url");
}

export function newId(random: Random): string {
	return random.bytes(16).toString("hex");
}

/** Tokens are stored only as SHA-256 digests, so a database read does not yield live sessions. */
export function sha256Hex(value: string): string {
	return createHash("sha256").update(value, "utf8").digest("hex");
}

export function constantTimeEqual(a: string, b: string): boolean {
	const left = Buffer.from(a, "utf8");
	const right = Buffer.from(b, "utf8");
	if (left.length !== right.length) {
		timingSafeEqual(left, left);
		return false;
	}
	return timingSafeEqual(left, right);
}
