/**
 * The interactive server menu shown on `ssh alice@gw`. Pure terminal logic: it
 * gets input bytes and terminal size, writes ANSI text through a callback and returns actions;
 * channels.ts connects it to the SSH channel and the relay. No I/O here, so it is unit-tested.
 *
 * Keys: printable characters filter (name, address, description, or the entry's number);
 * Up/Down (also Ctrl-P/Ctrl-N), PgUp/PgDn, Home/End move; Enter connects to the highlighted entry,
 * or to entry N when the filter is exactly a number N; Backspace edits, Esc or Ctrl-U clears the
 * filter; `q` with an empty filter, Ctrl-D, or Ctrl-C with an empty filter quits.
 */
import { isPostQuantumKex } from "../core/ssh-kex.ts";
import { stripUnsafe } from "../core/untrusted-text.ts";

export interface MenuEntry {
	readonly name: string;
	readonly host: string;
	readonly port: number;
	readonly description: string;
	/** 1: the server requires a second factor for every connection (per-server step-up); marked in the list. */
	readonly require_2fa?: number;
}

export type MenuAction<T extends MenuEntry> = { kind: "choose"; entry: T } | { kind: "quit" };

const ESC = "\x1b";
const CLEAR = `${ESC}[H${ESC}[2J`;
const REVERSE = `${ESC}[7m`;
const BOLD = `${ESC}[1m`;
const DIM = `${ESC}[2m`;
const RESET = `${ESC}[0m`;

/** Drops every control character (and bidi overrides) so server data cannot drive the terminal. */
export function terminalSafe(text: string): string {
	return stripUnsafe(text, { replacement: "?" });
}

function fit(text: string, width: number): string {
	const chars = Array.from(text);
	if (width <= 0) return "";
	if (chars.length <= width) return text + " ".repeat(width - chars.length);
	return `${chars.slice(0, Math.max(0, width - 1)).join("")}…`;
}

export class Menu<T extends MenuEntry> {
	#entries: T[] = [];
	#filter = "";
	#selected = 0;
	#offset = 0;
	#cols: number;
	#rows: number;
	#pending = "";
	#message = "";
	#rest = "";
	/** Line mode: the list has been printed since it last changed; a refusal then prints only its message and the prompt. */
	#listed = false;

	constructor(
		private readonly options: {
			username: string;
			/** The connection's negotiated key exchange, shown under the title: users see whether their session is post-quantum. */
			kex?: string | null;
			cols: number;
			rows: number;
			write: (text: string) => void;
			/**
			 * No terminal (`ssh -T gw`, a script): plain lines, no screen clearing, no colours or
			 * inverse video, the list printed once and each input line read as one answer.
			 */
			lineMode?: boolean;
		},
		entries: readonly T[],
	) {
		this.#cols = options.cols > 0 ? options.cols : 80;
		this.#rows = options.rows > 0 ? options.rows : 24;
		this.setEntries(entries);
	}

	get filter(): string {
		return this.#filter;
	}

	/** Input that followed the Enter that chose a server (typed ahead): it belongs to the target. */
	takeRest(): string {
		const rest = this.#rest;
		this.#rest = "";
		return rest;
	}

	/** Back from a target: start from a clean filter at the top. */
	resetFilter(): void {
		this.#filter = "";
		this.#selected = 0;
		this.#offset = 0;
	}

	setEntries(entries: readonly T[]): void {
		this.#entries = [...entries];
		this.#listed = false;
		this.#clamp();
	}

	/** A one-line note shown under the list until the next key (e.g. "Connection to db1 closed."). */
	setMessage(message: string): void {
		this.#message = terminalSafe(message);
	}

	resize(cols: number, rows: number): void {
		if (cols > 0) this.#cols = cols;
		if (rows > 0) this.#rows = rows;
		this.render();
	}

	/** Entries matching the filter, with their 1-based number in the full list. */
	visible(): { entry: T; number: number }[] {
		const needle = this.#filter.toLowerCase();
		const all = this.#entries.map((entry, index) => ({ entry, number: index + 1 }));
		if (needle === "") return all;
		return all.filter(
			({ entry, number }) => String(number) === needle || `${entry.name}\n${entry.host}:${entry.port}\n${entry.description}`.toLowerCase().includes(needle),
		);
	}

	#clamp(): void {
		const count = this.visible().length;
		this.#selected = Math.max(0, Math.min(this.#selected, count - 1));
	}

	#listHeight(): number {
		return Math.max(1, this.#rows - 6 - this.#kexLines().length - this.#messageLines().length);
	}

	/** "Key exchange: NAME (post-quantum)", or nothing when the caller did not say (unit tests of the list). */
	#kexLines(): string[] {
		const kex = this.options.kex;
		if (kex === undefined || kex === null) return [];
		const kind = isPostQuantumKex(kex) ? "post-quantum" : "classical, not post-quantum";
		return [`Key exchange: ${terminalSafe(kex)} (${kind})`];
	}

	/** The message, wrapped at word boundaries to the width, at most 4 lines (a step-up refusal says how to reconnect). */
	#messageLines(): string[] {
		if (this.#message === "") return [];
		const width = Math.max(1, this.#cols);
		const lines: string[] = [];
		let line = "";
		for (const word of this.#message.split(" ")) {
			const next = line === "" ? word : `${line} ${word}`;
			if (Array.from(next).length <= width || line === "") line = next;
			else {
				lines.push(line);
				line = word;
			}
		}
		if (line !== "") lines.push(line);
		return lines.slice(0, 4).map((text) => fit(text, width).trimEnd());
	}

	/** Line mode: the list once, then the prompt; later only what changed (a message) and the prompt again. */
	#renderLines(): void {
		const lines: string[] = [];
		if (!this.#listed) {
			lines.push(`Portcullis: servers for ${this.options.username}`);
			lines.push(...this.#kexLines());
			lines.push("Type a server's name or number and Enter to connect; q to quit.");
			lines.push("");
			if (this.#entries.length === 0) lines.push("No servers are granted to you. Ask an administrator to grant a server to one of your groups.");
			const numberWidth = String(this.#entries.length).length;
			for (const [index, entry] of this.#entries.entries()) {
				const address = terminalSafe(`${entry.host}:${entry.port}`);
				lines.push(
					`${String(index + 1).padStart(numberWidth)}  ${terminalSafe(entry.name)}  ${address}  ${entry.require_2fa === 1 ? "[2FA] " : ""}${terminalSafe(entry.description)}`.trimEnd(),
				);
			}
			lines.push("");
			this.#listed = true;
		}
		if (this.#message !== "") lines.push(this.#message);
		this.options.write(`${lines.join("\r\n")}${lines.length > 0 ? "\r\n" : ""}Server: `);
	}

	render(): void {
		if (this.options.lineMode === true) return this.#renderLines();
		const width = this.#cols;
		const lines: string[] = [];
		const total = this.#entries.length;
		lines.push(`${BOLD}${fit(`Portcullis: servers for ${this.options.username}`, width)}${RESET}`);
		for (const line of this.#kexLines()) lines.push(`${DIM}${fit(line, width)}${RESET}`);
		lines.push(`${DIM}${fit("Type to filter, Up/Down + Enter or a number + Enter to connect, q to quit.", width)}${RESET}`);
		lines.push("");
		const visible = this.visible();
		if (total === 0) {
			lines.push(fit("No servers are granted to you. Ask an administrator to grant a server to one of your groups.", width));
		} else if (visible.length === 0) {
			lines.push(fit(`No server matches "${terminalSafe(this.#filter)}".`, width));
		} else {
			const numberWidth = String(total).length;
			const nameWidth = Math.min(24, Math.max(4, ...this.#entries.map((entry) => entry.name.length)));
			const addressWidth = Math.min(32, Math.max(7, ...this.#entries.map((entry) => `${entry.host}:${entry.port}`.length)));
			lines.push(`${DIM}${fit(`  ${"#".padStart(numberWidth)}  ${"NAME".padEnd(nameWidth)}  ${"ADDRESS".padEnd(addressWidth)}  DESCRIPTION`, width)}${RESET}`);
			const height = this.#listHeight();
			if (this.#selected < this.#offset) this.#offset = this.#selected;
			if (this.#selected >= this.#offset + height) this.#offset = this.#selected - height + 1;
			this.#offset = Math.max(0, Math.min(this.#offset, Math.max(0, visible.length - height)));
			for (const [index, { entry, number }] of visible.slice(this.#offset, this.#offset + height).entries()) {
				const selected = index + this.#offset === this.#selected;
				const text = `${selected ? ">" : " "} ${String(number).padStart(numberWidth)}  ${fit(terminalSafe(entry.name), nameWidth)}  ${fit(terminalSafe(`${entry.host}:${entry.port}`), addressWidth)}  ${entry.require_2fa === 1 ? "[2FA] " : ""}${terminalSafe(entry.description)}`;
				lines.push(selected ? `${REVERSE}${fit(text, width)}${RESET}` : fit(text, width).trimEnd());
			}
			if (visible.length > height) lines.push(`${DIM}${fit(`  (${visible.length - height} more: scroll with Up/Down or type to filter)`, width)}${RESET}`);
		}
		lines.push("");
		lines.push(...this.#messageLines());
		lines.push(`Filter: ${terminalSafe(this.#filter)}`);
		this.options.write(CLEAR + lines.join("\r\n"));
	}

	/** Feeds bytes typed by the user; returns what the caller must do (at most one action). */
	input(data: Buffer | string): MenuAction<T> | null {
		let text = this.#pending + (typeof data === "string" ? data : data.toString("utf8"));
		this.#pending = "";
		let changed = this.#message !== "";
		this.#message = "";
		while (text.length > 0) {
			// Escape sequences: CSI (ESC [ …) and SS3 (ESC O x); an incomplete one waits for more input.
			if (text.startsWith(ESC)) {
				if (text.length === 1) {
					this.#filter = "";
					this.#selected = 0;
					text = "";
					changed = true;
					break;
				}
				// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escape sequences start with ESC
				const csi = /^\x1b\[([0-9;]*)([A-Za-z~])/.exec(text);
				// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escape sequences start with ESC
				const ss3 = /^\x1bO([A-Za-z])/.exec(text);
				if (csi || ss3) {
					const key = csi ? `${csi[1]}${csi[2]}` : ss3![1]!;
					text = text.slice((csi ?? ss3)![0].length);
					this.#key(key);
					changed = true;
					continue;
				}
				// biome-ignore lint/suspicious/noControlCharactersInRegex: an incomplete escape sequence starts with ESC
				if (/^\x1b(\[[0-9;]*|O)?$/.test(text)) {
					this.#pending = text;
					break;
				}
				text = text.slice(1); // unknown escape: drop the ESC
				continue;
			}
			const char = Array.from(text)[0]!;
			text = text.slice(char.length);
			const code = char.codePointAt(0)!;
			if (char === "\r" || char === "\n") {
				if (char === "\r" && text.startsWith("\n")) text = text.slice(1);
				const chosen = this.#choose();
				if (chosen) {
					this.#rest = text;
					return { kind: "choose", entry: chosen };
				}
				if (this.options.lineMode === true) {
					// Each line is a whole answer: a refused one is said and forgotten, never prefixed to the next.
					this.#message = this.#filter === "" ? "" : `No server matches "${terminalSafe(this.#filter)}".`;
					this.#filter = "";
					this.render();
					changed = false;
					continue;
				}
				this.#message = this.#entries.length === 0 ? "" : "Nothing to connect to: change the filter.";
				changed = true;
			} else if (code === 0x04) {
				return { kind: "quit" };
			} else if (code === 0x03) {
				if (this.#filter === "") return { kind: "quit" };
				this.#filter = "";
				changed = true;
			} else if (code === 0x7f || code === 0x08) {
				this.#filter = Array.from(this.#filter).slice(0, -1).join("");
				changed = true;
			} else if (code === 0x15) {
				this.#filter = "";
				changed = true;
			} else if (code === 0x10) {
				this.#key("A");
				changed = true;
			} else if (code === 0x0e) {
				this.#key("B");
				changed = true;
			} else if (code === 0x0c) {
				changed = true; // Ctrl-L: redraw
			} else if (char === "q" && this.#filter === "") {
				return { kind: "quit" };
			} else if (code >= 0x20 && !(code >= 0x7f && code <= 0x9f) && this.#filter.length < 64) {
				this.#filter += char;
				this.#selected = 0;
				this.#offset = 0;
				changed = true;
			}
		}
		if (changed) {
			this.#clamp();
			// Line mode: the filter is the line being typed (the client echoes it); nothing to redraw.
			if (this.options.lineMode !== true) this.render();
		}
		return null;
	}

	#choose(): T | null {
		// Line mode answers with a whole name: an exact name wins over the first entry that merely contains it.
		if (this.options.lineMode === true) {
			if (this.#filter === "") return null;
			const exact = this.#entries.find((entry) => entry.name.toLowerCase() === this.#filter.toLowerCase());
			if (exact) return exact;
		}
		if (/^[0-9]+$/.test(this.#filter)) {
			const entry = this.#entries[Number(this.#filter) - 1];
			if (entry) return entry;
		}
		return this.visible()[this.#selected]?.entry ?? null;
	}

	#key(key: string): void {
		const count = this.visible().length;
		const page = this.#listHeight();
		if (key === "A") this.#selected = Math.max(0, this.#selected - 1);
		else if (key === "B") this.#selected = Math.min(count - 1, this.#selected + 1);
		else if (key === "5~") this.#selected = Math.max(0, this.#selected - page);
		else if (key === "6~") this.#selected = Math.min(count - 1, this.#selected + page);
		else if (key === "H" || key === "1~") this.#selected = 0;
		else if (key === "F" || key === "4~") this.#selected = count - 1;
		this.#message = "";
	}
}
