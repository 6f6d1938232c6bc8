/**
 * Per-server step-up asks what the connection itself proved: a second factor that a remember-window
 * grant stood in for proves nothing on this connection (docs/decisions.md "Per-server step-up").
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { relayMayContinue } from "../../src/flows/server-step-up.ts";

const dbProd = { name: "db-prod", require_2fa: 1, fresh_minutes: null };
const now = 1_800_000_000_000;

test("a relay to a step-up server: a factor proven by the connection passes, a remembered one does not", () => {
	assert.equal(relayMayContinue({ secondFactorMethod: "totp", secondFactorRemembered: false, authenticatedAt: now }, dbProd, now), true);
	assert.equal(relayMayContinue({ secondFactorMethod: "totp", secondFactorRemembered: true, authenticatedAt: now }, dbProd, now), false);
	assert.equal(relayMayContinue({ secondFactorMethod: null, secondFactorRemembered: false, authenticatedAt: now }, dbProd, now), false);
	// A server without its own rule does not care how the login was made.
	assert.equal(relayMayContinue({ secondFactorMethod: "totp", secondFactorRemembered: true, authenticatedAt: now }, { ...dbProd, require_2fa: 0 }, now), true);
});
