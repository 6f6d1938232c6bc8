/**
 * The gateway the relay end-to-end tests talk to: the real one (src/ssh/gateway.ts), so the relay
 * is tested behind the real authentication, limits and live policy. Set
 * PORTCULLIS_RELAY_TEST_GATEWAY=1 to use the tiny password-only stand-in (relay-test-gateway.ts)
 * when debugging the relay alone.
 */
import type { Portcullis } from "../../src/app/portcullis.ts";
import { startSshGateway } from "../../src/ssh/gateway.ts";
import { startTestGateway } from "./relay-test-gateway.ts";

export interface RelayGateway {
	readonly port: number;
	/** Runs the live-policy check now (real gateway only). */
	checkLivePolicy(): Promise<void>;
	close(): Promise<void>;
}

export async function startRelayGateway(app: Portcullis): Promise<RelayGateway> {
	if (process.env.PORTCULLIS_RELAY_TEST_GATEWAY === "1") {
		const stand = await startTestGateway(app);
		return { port: stand.port, checkLivePolicy: async () => undefined, close: () => stand.close() };
	}
	const gateway = await startSshGateway(app.ssh, { listen: "127.0.0.1:0" });
	return { port: gateway.address.port, checkLivePolicy: async () => void (await gateway.livePolicy.checkAll()), close: () => gateway.close() };
}
