/** Time is injected everywhere so tests can use a fake clock. */
export interface Clock {
	now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export class FakeClock implements Clock {
	#ms: number;
	constructor(start: Date | number = Date.UTC(2026, 0, 1, 12, 0, 0)) {
		this.#ms = typeof start === "number" ? start : start.getTime();
	}
	now(): Date {
		return new Date(this.#ms);
	}
	advance(ms: number): void {
		this.#ms += ms;
	}
	set(at: Date | number): void {
		this.#ms = typeof at === "number" ? at : at.getTime();
	}
}
