/**
 * The gateway the relay end-to-end tests talk to. Until the real gateway (src/ssh/gateway.ts)
 * lands, this is the test-only password gateway; afterwards the real one, so the relay is tested
 * behind the real authentication.
 */
import type { Portcullis } from "../../src/app/portcullis.ts";
import { startTestGateway } from "./relay-test-gateway.ts";

export interface RelayGateway {
	readonly port: number;
	close(): Promise<void>;
}

export async function startRelayGateway(app: Portcullis): Promise<RelayGateway> {
	const gateway = await startTestGateway(app);
	return { port: gateway.port, close: () => gateway.close() };
}
