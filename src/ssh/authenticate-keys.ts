/**
 * SSH public-key management moved to src/servers/user-keys.ts (it is not SSH-protocol code, and the
 * CLI and the web console use it too); re-exported here until the web adapter imports it from there.
 */
export { addUserKey, listUserKeys, removeUserKey, type AddKeyResult } from "../servers/user-keys.ts";
