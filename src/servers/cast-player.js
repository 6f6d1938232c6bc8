// Portcullis session player: replays an asciicast v2 recording into <pre id="cast-screen">.
// Served as /static/cast-player.js to admins; a plain ES module with no dependencies, no inline
// script and no inline style (the console's CSP is script-src 'self', style-src 'self'; styles set
// through the CSSOM below are allowed).
//
// A small VT100/xterm subset is emulated on a character grid (text only, colours dropped):
// printable text with autowrap, CR/LF/BS/TAB, CSI cursor moves (A B C D E F G H f d), erase (J K X),
// insert/delete (@ P L M), scroll region (r) and scroll (S T), save/restore cursor (ESC 7/8, CSI s/u),
// reverse index (ESC M), the alternate screen (?1049/?47/?1047), resize events ("r"); OSC, DCS and
// SGR sequences are consumed and ignored.

/** Gaps longer than this are shortened (like asciinema's idle_time_limit). */
const IDLE_LIMIT = 2;

export class Terminal {
	constructor(cols, rows) {
		this.resize(cols, rows, true);
	}

	blank() {
		return new Array(this.cols).fill(" ");
	}

	resize(cols, rows, fresh = false) {
		const oldLines = fresh ? [] : this.lines;
		this.cols = Math.max(1, Math.min(cols | 0 || 80, 1000));
		this.rows = Math.max(1, Math.min(rows | 0 || 24, 500));
		this.lines = [];
		for (let y = 0; y < this.rows; y++) {
			const line = this.blank();
			const old = oldLines[y];
			if (old) for (let x = 0; x < Math.min(old.length, this.cols); x++) line[x] = old[x];
			this.lines.push(line);
		}
		this.x = Math.min(fresh ? 0 : this.x, this.cols - 1);
		this.y = Math.min(fresh ? 0 : this.y, this.rows - 1);
		this.top = 0;
		this.bottom = this.rows - 1;
		this.pending = "";
		this.wrapNext = false;
		this.saved = { x: 0, y: 0 };
		this.mainScreen = null;
	}

	scrollUp(count = 1) {
		for (let i = 0; i < count; i++) {
			this.lines.splice(this.top, 1);
			this.lines.splice(this.bottom, 0, this.blank());
		}
	}

	scrollDown(count = 1) {
		for (let i = 0; i < count; i++) {
			this.lines.splice(this.bottom, 1);
			this.lines.splice(this.top, 0, this.blank());
		}
	}

	lineFeed() {
		if (this.y === this.bottom) this.scrollUp();
		else if (this.y < this.rows - 1) this.y++;
	}

	put(char) {
		if (this.wrapNext) {
			this.x = 0;
			this.lineFeed();
			this.wrapNext = false;
		}
		this.lines[this.y][this.x] = char;
		if (this.x === this.cols - 1) this.wrapNext = true;
		else this.x++;
	}

	clamp() {
		this.x = Math.max(0, Math.min(this.x, this.cols - 1));
		this.y = Math.max(0, Math.min(this.y, this.rows - 1));
		this.wrapNext = false;
	}

	eraseLine(y, from, to) {
		for (let x = Math.max(0, from); x <= Math.min(to, this.cols - 1); x++) this.lines[y][x] = " ";
	}

	csi(params, final, privateMarker) {
		const args = params === "" ? [] : params.split(";").map((value) => parseInt(value, 10) || 0);
		const n = (index, fallback = 1) => (args[index] === undefined || args[index] === 0 ? fallback : args[index]);
		if (privateMarker === "?") {
			const mode = args[0];
			if (mode === 1049 || mode === 47 || mode === 1047) {
				if (final === "h" && this.mainScreen === null) {
					this.mainScreen = { lines: this.lines.map((line) => line.slice()), x: this.x, y: this.y };
					this.lines = this.lines.map(() => this.blank());
				} else if (final === "l" && this.mainScreen !== null) {
					this.lines = this.mainScreen.lines;
					this.x = this.mainScreen.x;
					this.y = this.mainScreen.y;
					this.mainScreen = null;
				}
			}
			return;
		}
		if (privateMarker !== "") return;
		switch (final) {
			case "A": this.y -= n(0); break;
			case "B": this.y += n(0); break;
			case "C": this.x += n(0); break;
			case "D": this.x -= n(0); break;
			case "E": this.y += n(0); this.x = 0; break;
			case "F": this.y -= n(0); this.x = 0; break;
			case "G": case "`": this.x = n(0) - 1; break;
			case "d": this.y = n(0) - 1; break;
			case "H": case "f": this.y = n(0) - 1; this.x = n(1) - 1; break;
			case "J": {
				const mode = args[0] || 0;
				if (mode === 0) {
					this.eraseLine(this.y, this.x, this.cols - 1);
					for (let y = this.y + 1; y < this.rows; y++) this.eraseLine(y, 0, this.cols - 1);
				} else if (mode === 1) {
					this.eraseLine(this.y, 0, this.x);
					for (let y = 0; y < this.y; y++) this.eraseLine(y, 0, this.cols - 1);
				} else {
					for (let y = 0; y < this.rows; y++) this.eraseLine(y, 0, this.cols - 1);
				}
				break;
			}
			case "K": {
				const mode = args[0] || 0;
				if (mode === 0) this.eraseLine(this.y, this.x, this.cols - 1);
				else if (mode === 1) this.eraseLine(this.y, 0, this.x);
				else this.eraseLine(this.y, 0, this.cols - 1);
				break;
			}
			case "X": this.eraseLine(this.y, this.x, this.x + n(0) - 1); break;
			case "@": {
				const line = this.lines[this.y];
				for (let i = 0; i < n(0); i++) { line.splice(this.x, 0, " "); line.length = this.cols; }
				break;
			}
			case "P": {
				const line = this.lines[this.y];
				line.splice(this.x, n(0));
				while (line.length < this.cols) line.push(" ");
				break;
			}
			case "L":
				if (this.y >= this.top && this.y <= this.bottom) for (let i = 0; i < n(0); i++) { this.lines.splice(this.bottom, 1); this.lines.splice(this.y, 0, this.blank()); }
				break;
			case "M":
				if (this.y >= this.top && this.y <= this.bottom) for (let i = 0; i < n(0); i++) { this.lines.splice(this.y, 1); this.lines.splice(this.bottom, 0, this.blank()); }
				break;
			case "S": this.scrollUp(n(0)); break;
			case "T": this.scrollDown(n(0)); break;
			case "r":
				this.top = Math.max(0, n(0) - 1);
				this.bottom = Math.min(this.rows - 1, n(1, this.rows) - 1);
				if (this.top >= this.bottom) { this.top = 0; this.bottom = this.rows - 1; }
				this.x = 0;
				this.y = 0;
				break;
			case "s": this.saved = { x: this.x, y: this.y }; break;
			case "u": this.x = this.saved.x; this.y = this.saved.y; break;
			default: break; // SGR (m) and everything else: ignored
		}
		this.clamp();
	}

	write(text) {
		let data = this.pending + text;
		this.pending = "";
		let i = 0;
		while (i < data.length) {
			const char = data[i];
			const code = char.charCodeAt(0);
			if (char === "\x1b") {
				const rest = data.slice(i);
				if (rest.length < 2) { this.pending = rest; return; }
				const kind = rest[1];
				if (kind === "[") {
					const match = /^\x1b\[([?>=!]?)([0-9;:]*)([\x20-\x2f]*)([\x40-\x7e])/.exec(rest);
					if (!match) {
						if (/^\x1b\[[?>=!]?[0-9;:]*[\x20-\x2f]*$/.test(rest)) { this.pending = rest; return; }
						i += 2;
						continue;
					}
					this.csi(match[2].replace(/:/g, ";"), match[4], match[1]);
					i += match[0].length;
					continue;
				}
				if (kind === "]" || kind === "P" || kind === "_" || kind === "^") {
					// OSC / DCS / APC / PM: up to BEL or ST (ESC \)
					const end = rest.search(/\x07|\x1b\\/);
					if (end === -1) { this.pending = rest.length > 4096 ? "" : rest; return; }
					i += end + (rest[end] === "\x07" ? 1 : 2);
					continue;
				}
				if (kind === "7") this.saved = { x: this.x, y: this.y };
				else if (kind === "8") { this.x = this.saved.x; this.y = this.saved.y; this.clamp(); }
				else if (kind === "M") { if (this.y === this.top) this.scrollDown(); else if (this.y > 0) this.y--; }
				else if (kind === "D") this.lineFeed();
				else if (kind === "E") { this.x = 0; this.lineFeed(); }
				else if (kind === "c") this.resize(this.cols, this.rows, true);
				else if ((kind === "(" || kind === ")" || kind === "#") && rest.length < 3) { this.pending = rest; return; }
				else if (kind === "(" || kind === ")" || kind === "#") i += 1;
				i += 2;
				continue;
			}
			if (char === "\r") { this.x = 0; this.wrapNext = false; }
			else if (char === "\n" || char === "\x0b" || char === "\x0c") { this.wrapNext = false; this.lineFeed(); }
			else if (char === "\b") { if (this.x > 0) this.x--; this.wrapNext = false; }
			else if (char === "\t") { this.x = Math.min(this.cols - 1, (Math.floor(this.x / 8) + 1) * 8); }
			else if (code >= 0x20 && code !== 0x7f && !(code >= 0x80 && code < 0xa0)) this.put(char);
			i += char.length;
		}
	}

	text() {
		return this.lines.map((line) => line.join("").replace(/\s+$/, "")).join("\n");
	}
}

function formatClock(seconds) {
	const whole = Math.max(0, Math.floor(seconds));
	return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

export function parseCast(text) {
	const lines = text.split("\n").filter((line) => line.length > 0);
	const header = JSON.parse(lines[0]);
	if (header.version !== 2) throw new Error("not an asciicast v2 file");
	const events = [];
	let shift = 0;
	let previous = 0;
	for (const line of lines.slice(1)) {
		const event = JSON.parse(line);
		if (!Array.isArray(event) || typeof event[0] !== "number") continue;
		const gap = event[0] - previous;
		previous = event[0];
		if (gap > IDLE_LIMIT) shift += gap - IDLE_LIMIT;
		events.push({ time: event[0] - shift, type: event[1], data: String(event[2]) });
	}
	return { header, events };
}

function style(screen) {
	screen.style.background = "#111820";
	screen.style.color = "#e6edf3";
	screen.style.padding = "0.75rem";
	screen.style.borderRadius = "6px";
	screen.style.overflow = "auto";
	screen.style.fontFamily = 'ui-monospace, "DejaVu Sans Mono", monospace';
	screen.style.fontSize = "0.85rem";
	screen.style.lineHeight = "1.25";
	screen.style.minHeight = "10rem";
	screen.style.whiteSpace = "pre";
}

async function main() {
	const screen = document.getElementById("cast-screen");
	const playButton = document.getElementById("cast-play");
	const restartButton = document.getElementById("cast-restart");
	const endButton = document.getElementById("cast-end");
	const speedSelect = document.getElementById("cast-speed");
	const timeLabel = document.getElementById("cast-time");
	if (!screen) return;
	style(screen);
	let cast;
	try {
		const response = await fetch(screen.dataset.src, { credentials: "same-origin" });
		if (!response.ok) throw new Error(`HTTP ${response.status}`);
		cast = parseCast(await response.text());
	} catch (error) {
		screen.textContent = `This recording cannot be played: ${error.message}`;
		return;
	}
	const total = cast.events.length > 0 ? cast.events[cast.events.length - 1].time : 0;
	let term = new Terminal(cast.header.width, cast.header.height);
	let index = 0;
	let position = 0; // seconds of cast time already shown
	let playing = false;
	let timer = null;
	let startedAt = 0;
	let startedPosition = 0;

	const speed = () => Number(speedSelect?.value) || 1;
	const show = () => {
		screen.textContent = term.text();
		if (timeLabel) timeLabel.textContent = `${formatClock(position)} / ${formatClock(total)}`;
	};
	const apply = (event) => {
		if (event.type === "o") term.write(event.data);
		else if (event.type === "r") {
			const match = /^(\d+)x(\d+)$/.exec(event.data);
			if (match) term.resize(Number(match[1]), Number(match[2]));
		}
	};
	const stop = () => {
		playing = false;
		if (timer !== null) clearTimeout(timer);
		timer = null;
		if (playButton) playButton.textContent = index >= cast.events.length ? "Replay" : "Play";
	};
	const step = () => {
		timer = null;
		const now = startedPosition + ((performance.now() - startedAt) / 1000) * speed();
		while (index < cast.events.length && cast.events[index].time <= now) apply(cast.events[index++]);
		position = Math.min(now, total);
		show();
		if (index >= cast.events.length) return stop();
		const wait = ((cast.events[index].time - now) / speed()) * 1000;
		timer = setTimeout(step, Math.max(0, Math.min(wait, 250)));
	};
	const play = () => {
		if (index >= cast.events.length) restart();
		playing = true;
		startedAt = performance.now();
		startedPosition = position;
		if (playButton) playButton.textContent = "Pause";
		step();
	};
	const restart = () => {
		term = new Terminal(cast.header.width, cast.header.height);
		index = 0;
		position = 0;
		show();
	};

	playButton?.addEventListener("click", () => (playing ? stop() : play()));
	restartButton?.addEventListener("click", () => {
		stop();
		restart();
		play();
	});
	endButton?.addEventListener("click", () => {
		stop();
		while (index < cast.events.length) apply(cast.events[index++]);
		position = total;
		show();
		if (playButton) playButton.textContent = "Replay";
	});
	speedSelect?.addEventListener("change", () => {
		if (playing) {
			startedPosition = position;
			startedAt = performance.now();
		}
	});
	show();
	play();
}

// In a browser page; the unit tests import Terminal and parseCast under Node.
if (typeof document !== "undefined") void main();
