/**
 * Imported by scripts/test.sh into every test process (`node --import tsx --import
 * ./test/helpers/low-hash-cost.ts --test …`): passwords and recovery codes the tests create are
 * hashed at argon2id's smallest cost (src/crypto/password-hash.ts useLowestHashCostForTests, and
 * why). Processes the tests start (a server, the CLI binary) hash at the production cost.
 */
import { useLowestHashCostForTests } from "../../src/crypto/password-hash.ts";

useLowestHashCostForTests();
