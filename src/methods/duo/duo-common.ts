/**
 * Constants, public types and helpers shared by the Duo method's parts (duo-method.ts: the Auth
 * API rounds and wiring; duo-universal-round.ts: the Universal Prompt; duo-enrollment.ts). Split
 * out of createDuoMethod.
 */
import { isIP } from "node:net";
import type { Clock } from "../../core/clock.ts";
import { PortcullisError, isPortcullisError } from "../../core/errors.ts";
import type { FactorStore } from "../../storage/factor-store.ts";
import type { FactorRecord, SecondFactorMethod } from "../method.ts";
import { splitDuoHost, type DuoSettings, type MethodSettingsStore } from "../method-settings.ts";
import { DuoAuthClient, sanitizeDuoText, type DuoDevice } from "./duo-auth-client.ts";

/** Duo itself times a push out after about 60 s. */
export const DUO_PUSH_MAX_WAIT_MS = 60_000;
export const DUO_POLL_INTERVAL_MS = 1_000;
export const MAX_OPTIONS = 9;
export const MAX_PROMPT = 190;
export const DEVICE_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const PASSCODE = /^[\x21-\x7e]{2,64}$/;

export interface DuoMethodEvent {
	readonly event: string;
	readonly outcome: "success" | "failure" | "info";
	readonly userId: string;
	readonly username: string;
	readonly source: string | null;
	readonly detail: Record<string, unknown>;
}

export interface DuoMethodDeps {
	readonly settings: MethodSettingsStore;
	readonly factors: FactorStore;
	readonly clock: Clock;
	/** Between auth_status polls; injected by tests so a fake clock moves. */
	readonly sleep?: (ms: number) => Promise<void>;
	readonly pushMaxWaitMs?: number;
	readonly pollIntervalMs?: number;
	/** Audit sink (bypass logins, refused callbacks, outages); awaited, so the event is written before the outcome returns. */
	readonly onEvent?: (event: DuoMethodEvent) => void | Promise<void>;
	/** The console's public URL: Duo's Universal Prompt redirects the browser back under it. */
	readonly consoleUrl?: string;
}

/** The Duo method, plus what the web layer needs to choose between the two web prompts. */
export interface DuoMethod extends SecondFactorMethod {
	readonly id: "duo";
	/** Which prompt the web shows now: Duo's Universal Prompt (Web SDK configured) or the typed Auth API prompt. */
	webPrompt(): Promise<"universal" | "auth-api">;
}

export function isDuoMethod(method: SecondFactorMethod | undefined): method is DuoMethod {
	return method !== undefined && method.id === "duo" && "webPrompt" in method;
}

export const CODE = /^[\x21-\x7e]{1,1024}$/;

export interface DuoOption {
	readonly f: "push" | "phone";
	readonly d: string;
}

export function unavailable(message: string, cause?: unknown): PortcullisError {
	return new PortcullisError("ERR_METHOD_UNAVAILABLE", `Duo: ${message}`, cause === undefined ? undefined : { cause });
}

/** Any failure inside a Duo exchange fails closed as ERR_METHOD_UNAVAILABLE (Decision 10). */
export async function closed<T>(what: string, run: () => Promise<T>): Promise<T> {
	try {
		return await run();
	} catch (error) {
		if (isPortcullisError(error, "ERR_METHOD_UNAVAILABLE") || isPortcullisError(error, "ERR_METHOD_REFUSED")) throw error;
		throw unavailable(`${what} failed`, error);
	}
}

export function duoClient(
	settings: DuoSettings,
	clock: Clock,
	extra: { sleep?: (ms: number) => Promise<void>; longPollTimeoutMs?: number } = {},
): DuoAuthClient {
	const { host, port } = splitDuoHost(settings.apiHost);
	try {
		return new DuoAuthClient({
			integrationKey: settings.integrationKey,
			secretKey: settings.secretKey,
			apiHost: host,
			port,
			timeoutMs: settings.timeoutMs,
			clock,
			...(settings.caPem !== undefined ? { ca: settings.caPem } : {}),
			...(extra.sleep !== undefined ? { sleep: extra.sleep } : {}),
			...(extra.longPollTimeoutMs !== undefined ? { longPollTimeoutMs: extra.longPollTimeoutMs } : {}),
		});
	} catch (error) {
		throw unavailable("the settings are unusable", error);
	}
}

export function shortName(device: DuoDevice): string {
	const name = sanitizeDuoText(device.displayName).trim() || "your device";
	return name.length > 40 ? `${name.slice(0, 39)}…` : name;
}

/** pam_duo's menu, in one line: only the capabilities the devices have, numbered 1..9, in Duo's device order. */
export function duoPrompt(devices: readonly DuoDevice[]): { prompt: string; options: DuoOption[] } {
	const options: DuoOption[] = [];
	let prompt = "Duo: enter a passcode";
	const parts: string[] = [];
	for (const device of devices) {
		for (const [factor, words] of [
			["push", "push to"],
			["phone", "phone call to"],
		] as const) {
			if (!device.capabilities.includes(factor) || !DEVICE_ID.test(device.device) || options.length >= MAX_OPTIONS) continue;
			const part = `${options.length + 1} for ${words} ${shortName(device)}`;
			if (`${prompt}, or ${[...parts, part].join(", ")}`.length > MAX_PROMPT) continue;
			parts.push(part);
			options.push({ f: factor, d: device.device });
		}
	}
	if (parts.length > 0) prompt += `, or ${parts.join(", ")}`;
	return { prompt, options };
}

export type Answer = { kind: "option"; option: DuoOption } | { kind: "passcode"; passcode: string } | { kind: "malformed" };

export function readAnswer(response: string, options: readonly DuoOption[]): Answer {
	const answer = response.trim();
	if (/^[1-9]$/.test(answer)) {
		const option = options[Number(answer) - 1];
		return option === undefined ? { kind: "malformed" } : { kind: "option", option };
	}
	const word = answer.toLowerCase();
	if (word === "push" || word === "phone") {
		const option = options.find((candidate) => candidate.f === word);
		return option === undefined ? { kind: "malformed" } : { kind: "option", option };
	}
	return PASSCODE.test(answer) ? { kind: "passcode", passcode: answer } : { kind: "malformed" };
}

export function duoFactor(factors: readonly FactorRecord[]): FactorRecord & { publicId: string } {
	const factor = factors.find((candidate) => candidate.publicId !== null);
	if (factor === undefined) throw unavailable("no Duo username is enrolled for this user");
	return factor as FactorRecord & { publicId: string };
}

export function ipaddrOf(source: string): { ipaddr?: string } {
	return isIP(source) !== 0 ? { ipaddr: source } : {};
}
