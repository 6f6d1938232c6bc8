/**
 * "Test connection" for RADIUS: a dummy Access-Request to each server. A verified (signed) reply
 * means reachable with the right shared secret; an Access-Accept for the dummy user is a problem.
 */
import type { ConnectionTest } from "../settings-spec.ts";
import { radiusClient } from "./radius-method.ts";
import type { RadiusSettings } from "./settings.ts";

export const testRadiusConnection: ConnectionTest<RadiusSettings> = async (settings, deps) => {
	const probes = await radiusClient(settings, { random: deps.random, clock: deps.clock }).testConnection();
	return probes.map((probe) => {
		const ok = probe.verified && probe.outcome !== "accept";
		const status = probe.verified ? `answered ${probe.outcome} in ${probe.roundTripMs ?? "?"} ms, reply verified` : "no verified reply";
		return { target: `radius ${probe.server}`, ok, message: probe.problem === null ? status : `${status}: ${probe.problem}` };
	});
};
