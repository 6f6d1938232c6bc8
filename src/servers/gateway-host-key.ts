/**
 * The gateway's SSH host key fingerprint as the console shows it: the gateway stores it in the
 * shared settings table when it starts, so every node's console shows the key users must trust.
 */
import type { SettingsStore } from "../storage/settings-store.ts";

/** Settings key where the admin console reads the host key fingerprint. */
export const HOST_FINGERPRINT_SETTING = "ssh_host_fingerprint";

/** "SHA256:…" of the running gateway's host key, or null before the gateway first started. */
export async function gatewayHostFingerprint(settings: Pick<SettingsStore, "get">): Promise<string | null> {
	return (await settings.get(HOST_FINGERPRINT_SETTING)) ?? null;
}
