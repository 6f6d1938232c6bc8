/**
 * Child process for the kill -9 test: begins a TOTP enrolment for `alice` (a pending factor is
 * written), prints the factor id, then waits to be killed before it could ever complete it.
 */
import { randomBytes } from "node:crypto";
import { configSchema } from "../../src/config/config.ts";
import { createPortcullis } from "../../src/app/portcullis.ts";

const [dir, engineUrl, keyHex] = process.argv.slice(2) as [string, string, string];
const database = engineUrl === "sqlite" ? { kind: "sqlite" as const, file: `${dir}/portcullis.sqlite` } : { kind: "postgres" as const, url: engineUrl };
const app = await createPortcullis(configSchema.parse({ data_dir: dir }), { database, secretKey: Buffer.from(keyHex, "hex") });
// A real forced enrolment: the password step of a login, then the enrolment bound to that attempt.
const step = await app.login.submitPassword({ channel: "web", sourceAddress: "192.0.2.10" }, "alice", "a long password");
if (step.kind !== "enroll") throw new Error(`expected the enrolment step, got ${step.kind}`);
const begin = await app.enrollment.begin(step.userId, "totp", "phone", {}, { channel: "web", source: "test", duringLogin: true, attemptId: step.attemptId });
process.stdout.write(`${begin.kind === "pending" ? begin.factorId : "none"}\n`);
void randomBytes;
setInterval(() => undefined, 1000);
