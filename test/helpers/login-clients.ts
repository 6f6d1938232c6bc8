/**
 * Lightweight login clients for soak, restart and fault runs (many logins, so no OpenSSH process
 * per login): an SSH login with ssh2 (password, then a TOTP answer over keyboard-interactive when
 * the gateway asks), and a web login over fetch (GET /login for the CSRF token, POST the form, then
 * the TOTP step when asked). Each resolves to a result, never throws.
 */
import ssh2 from "ssh2";

export interface LoginResult {
	readonly ok: boolean;
	readonly ms: number;
	readonly error?: string;
}

export interface SshLoginOptions {
	readonly port: number;
	readonly username: string;
	readonly password: string;
	/** Called for each keyboard-interactive prompt (the TOTP code); null: no second factor expected. */
	readonly code?: (() => string) | null;
	/** What to do once authenticated; default: end at once. */
	readonly after?: (client: ssh2.Client) => Promise<void>;
}

export function sshLogin(options: SshLoginOptions): Promise<LoginResult> {
	const started = performance.now();
	return new Promise<LoginResult>((resolve) => {
		const client = new ssh2.Client();
		let settled = false;
		const done = (ok: boolean, error?: string) => {
			if (settled) return;
			settled = true;
			resolve({ ok, ms: performance.now() - started, ...(error !== undefined ? { error } : {}) });
		};
		client.on("ready", () => {
			const finish = () => {
				done(true);
				client.end();
			};
			if (options.after) options.after(client).then(finish, (error: unknown) => done(false, `after: ${String(error)}`));
			else finish();
		});
		client.on("keyboard-interactive", (_name, instructions, _lang, prompts, finish) => {
			if (prompts.length === 0) return finish([]);
			if (!options.code) {
				done(false, `unexpected prompt: ${instructions}`);
				return finish([]);
			}
			finish([options.code()]);
		});
		client.on("error", (error) => done(false, error.message));
		client.on("close", () => done(false, "closed before authentication"));
		client.connect({
			host: "127.0.0.1",
			port: options.port,
			username: options.username,
			password: options.password,
			tryKeyboard: true,
			readyTimeout: 120_000,
			hostVerifier: () => true,
		});
	});
}

function cookiesOf(response: Response, jar: Map<string, string>): void {
	for (const line of response.headers.getSetCookie()) {
		const [pair] = line.split(";");
		const eq = (pair ?? "").indexOf("=");
		if (eq > 0) jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
	}
}

function cookieHeader(jar: Map<string, string>): string {
	return [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
}

function csrfOf(body: string): string {
	return /name="_csrf" value="([^"]+)"/.exec(body)?.[1]?.replace(/&amp;/g, "&") ?? "";
}

/**
 * Web login; `pages` other pages are loaded with the session afterwards. ok only when every step
 * answered as a successful login does (303 to the next step, then 200 pages).
 */
export async function webLogin(
	baseUrl: string,
	username: string,
	password: string,
	code: (() => string) | null,
	pages: readonly string[] = [],
): Promise<LoginResult> {
	const started = performance.now();
	const jar = new Map<string, string>();
	const base = baseUrl.replace(/\/$/, "");
	const fail = (error: string): LoginResult => ({ ok: false, ms: performance.now() - started, error });
	try {
		const form = await fetch(`${base}/login`);
		cookiesOf(form, jar);
		const first = await fetch(`${base}/login`, {
			method: "POST",
			redirect: "manual",
			headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookieHeader(jar) },
			body: new URLSearchParams({ _csrf: csrfOf(await form.text()), username, password }).toString(),
		});
		cookiesOf(first, jar);
		await first.arrayBuffer();
		if (first.status !== 303) return fail(`password step: ${first.status}`);
		if (first.headers.get("location") === "/login/2fa") {
			if (code === null) return fail("second factor asked");
			const page = await fetch(`${base}/login/2fa?method=totp`, { headers: { cookie: cookieHeader(jar) } });
			cookiesOf(page, jar);
			const second = await fetch(`${base}/login/2fa`, {
				method: "POST",
				redirect: "manual",
				headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookieHeader(jar) },
				body: new URLSearchParams({ _csrf: csrfOf(await page.text()), method: "totp", code: code() }).toString(),
			});
			cookiesOf(second, jar);
			await second.arrayBuffer();
			if (second.status !== 303) return fail(`second factor: ${second.status}`);
		}
		const ms = performance.now() - started;
		for (const path of pages) {
			const response = await fetch(`${base}${path}`, { redirect: "manual", headers: { cookie: cookieHeader(jar) } });
			await response.arrayBuffer();
			if (response.status !== 200) return fail(`${path}: ${response.status}`);
		}
		return { ok: true, ms };
	} catch (error) {
		return fail(error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? "")}` : String(error));
	}
}
