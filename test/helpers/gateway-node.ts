/**
 * One SSH gateway node as a separate OS process, for the crash tests (a node killed with SIGKILL
 * mid-session):
 *
 *   node --import tsx test/helpers/gateway-node.ts '<json: { database, secretKey, dataDir, config }>'
 *
 * Opens Portcullis on the given database (the parent created users and servers there), starts the
 * real gateway on 127.0.0.1:0 and prints one line {"port": N}. It runs until killed.
 */
import { createPortcullis } from "../../src/app/portcullis.ts";
import { createLogger } from "../../src/core/logger.ts";
import { startSshGateway } from "../../src/ssh/gateway.ts";
import type { DatabaseTarget } from "../../src/storage/open-database.ts";
import { testConfig } from "./test-app.ts";

const options = JSON.parse(process.argv[2] ?? "{}") as { database: DatabaseTarget; secretKey: string; dataDir: string; config?: Record<string, unknown> };
const app = await createPortcullis(testConfig(options.dataDir, options.config ?? {}), {
	database: options.database,
	secretKey: Buffer.from(options.secretKey, "base64"),
	logger: createLogger({ level: "silent" }),
});
const gateway = await startSshGateway(app.ssh, { listen: "127.0.0.1:0" });
process.stdout.write(`${JSON.stringify({ port: gateway.address.port })}\n`);
