/**
 * The WebAuthn relying party: RP ID, origin and name, from configuration only (docs/dependencies.md, WebAuthn:
 * never from the Host header or any other request data). Checked once at start, so a deployment
 * whose RP ID cannot work fails loudly instead of at the first key registration.
 *
 * W3C WebAuthn L2 §5.1.3 / §5.1.4: the RP ID must equal the origin's effective domain or be a
 * registrable domain suffix of it; browsers refuse IP addresses as RP IDs; the origin must be a
 * secure context (https, or http on localhost).
 */
import { isIP } from "node:net";
import type { Config } from "../../config/config.ts";
import { publicUrl } from "../../config/config.ts";
import { PortcullisError } from "../../core/errors.ts";

export interface RelyingParty {
	readonly id: string;
	/** scheme://host[:port], compared exactly with clientDataJSON.origin. */
	readonly origin: string;
	readonly name: string;
	/** The console's public URL (links in SSH prompts). */
	readonly consoleUrl: string;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function invalid(message: string): PortcullisError {
	return new PortcullisError("ERR_CONFIG_INVALID", `invalid configuration: ${message}`);
}

export function resolveRelyingParty(config: Config): RelyingParty {
	const consoleUrl = publicUrl(config);
	const section = config.webauthn;
	let origin: URL;
	try {
		origin = new URL(section.origin !== "" ? section.origin : consoleUrl);
	} catch {
		throw invalid(`webauthn.origin: not a URL (${JSON.stringify(section.origin.slice(0, 80))})`);
	}
	if (section.origin !== "" && (origin.origin !== section.origin.replace(/\/$/, "") || origin.pathname !== "/")) {
		throw invalid("webauthn.origin: must be scheme://host[:port] with no path, e.g. https://bastion.example.com");
	}
	const host = origin.hostname.toLowerCase();
	// W3C Secure Contexts §3.2 "potentially trustworthy": https, or http to a loopback name or address.
	const loopback = host === "localhost" || host.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(host) || host === "[::1]";
	if (origin.protocol !== "https:" && !(origin.protocol === "http:" && loopback)) {
		throw invalid(`webauthn.origin: ${origin.origin} is not a secure context: WebAuthn needs https:// (or http://localhost)`);
	}
	const id = (section.rp_id !== "" ? section.rp_id : host).toLowerCase();
	if (isIP(id.replace(/^\[|\]$/g, "")) !== 0) {
		throw invalid(`webauthn.rp_id: ${id} is an IP address; browsers accept only a domain name (set http.public_url to https://<name> or webauthn.rp_id)`);
	}
	if (!id.split(".").every((label) => LABEL.test(label))) throw invalid(`webauthn.rp_id: ${JSON.stringify(id.slice(0, 80))} is not a domain name`);
	if (id !== host && !host.endsWith(`.${id}`)) {
		throw invalid(`webauthn.rp_id: ${id} is neither the origin's host ${host} nor a parent domain of it`);
	}
	return { id, origin: origin.origin, name: section.rp_name, consoleUrl };
}

/**
 * Like resolveRelyingParty, but a deployment that does not use WebAuthn must still start when its
 * console is reached by IP address: the problem is kept and reported when the method is used.
 */
export function relyingPartyOrProblem(config: Config): RelyingParty | { readonly problem: string; readonly consoleUrl: string } {
	try {
		return resolveRelyingParty(config);
	} catch (error) {
		return { problem: error instanceof Error ? error.message : "invalid WebAuthn configuration", consoleUrl: publicUrl(config) };
	}
}
