/**
 * Per-server step-up at channel open (docs/decisions.md "Per-server step-up"): the SSH adapter
 * asks here before it opens a relay to a server (menu choice, `ssh gw SERVER`, ProxyJump); the
 * pure decideServerAccess decides, this flow reads the clock, audits a refusal and words it.
 */
import { decideServerAccess, describeServerStepUp, describeWebServerStepUp } from "../core/decide-second-factor.ts";
import type { Clock } from "../core/clock.ts";
import type { AuditLog } from "../storage/audit-log.ts";
import type { ServerRow } from "../storage/server-store.ts";
import { serverStepUpRule } from "./policy-inputs.ts";

export interface ServerStepUpDeps {
	readonly clock: Clock;
	readonly audit: Pick<AuditLog, "record">;
}

/** What the adapter knows about the connection: who, from where, and what its own login proved. */
export interface ConnectionProof {
	readonly userId: string;
	readonly username: string;
	readonly sourceAddress: string;
	readonly connectionId: string;
	/** The second factor proven by this connection's authentication (null: none). */
	readonly secondFactorMethod: string | null;
	/** A remember-window grant stood in for the factor: nothing was proven by this connection (docs/decisions.md "Per-server step-up"). */
	readonly secondFactorRemembered: boolean;
	/** Epoch ms of that authentication. */
	readonly authenticatedAt: number;
}

export type ServerAccess = { readonly kind: "allowed" } | { readonly kind: "refused"; readonly message: string; readonly problem: "none" | "stale" };

/** Where a relay is opened from: the SSH menu, `ssh gw SERVER`, ProxyJump, or the console's web terminal. */
export type ServerAccessVia = "menu" | "command" | "direct-tcpip" | "web-terminal";

export async function checkServerAccess(
	deps: ServerStepUpDeps,
	proof: ConnectionProof,
	server: Pick<ServerRow, "name" | "require_2fa" | "fresh_minutes">,
	via: ServerAccessVia,
): Promise<ServerAccess> {
	const decision = decideServerAccess({
		server: serverStepUpRule(server),
		provenMethod: provenHere(proof),
		provenAt: provenHere(proof) === null ? null : proof.authenticatedAt,
		now: deps.clock.now().getTime(),
	});
	if (decision.kind === "allowed") return decision;
	await deps.audit.record({
		event: "ssh.step-up-required",
		outcome: "failure",
		userId: proof.userId,
		username: proof.username,
		channel: via === "web-terminal" ? "web" : "ssh",
		method: proof.secondFactorMethod,
		source: proof.sourceAddress,
		detail: { server: server.name, problem: decision.problem, freshMinutes: decision.reason.freshMinutes, via, connection: proof.connectionId },
	});
	// The same reason on both channels; only the remedy differs (SSH reconnects as USER+SERVER, the console steps up in place).
	const message = via === "web-terminal" ? describeWebServerStepUp(decision) : describeServerStepUp(decision, proof.username);
	return { kind: "refused", message, problem: decision.problem };
}

/** Live re-check of an open relay: false when its server now requires a factor the connection never proved. */
export function relayMayContinue(
	proof: Pick<ConnectionProof, "secondFactorMethod" | "secondFactorRemembered" | "authenticatedAt">,
	server: Pick<ServerRow, "name" | "require_2fa" | "fresh_minutes">,
	now: number,
): boolean {
	return (
		decideServerAccess({
			server: serverStepUpRule(server),
			provenMethod: provenHere(proof),
			provenAt: provenHere(proof) === null ? null : proof.authenticatedAt,
			now,
			continuing: true,
		}).kind === "allowed"
	);
}

/** The second factor this connection proved itself: a remembered grant proves nothing here. */
function provenHere(proof: Pick<ConnectionProof, "secondFactorMethod" | "secondFactorRemembered">): string | null {
	return proof.secondFactorRemembered ? null : proof.secondFactorMethod;
}
