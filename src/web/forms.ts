/**
 * A tiny schema for form bodies and query strings. Every field a route reads is declared (type,
 * maximum length, required), and anything else is refused with a generic 400 before the handler
 * runs: numbers or objects from a JSON body, arrays from duplicated fields (HTTP parameter
 * pollution), oversized values, missing fields, unknown fields (docs/threat-model.md, Bad input: "Web and JSON inputs").
 *
 * Schemas are attached to the route's config, so the bad-input test can enumerate every form.
 */

export type FieldSpec =
	| { readonly kind: "string"; readonly max: number; readonly required?: boolean }
	/** An HTML checkbox: absent (false) or the value "on" (true). */
	| { readonly kind: "checkbox" };

export type FormSchema = Readonly<Record<string, FieldSpec>>;

type FieldValue<F extends FieldSpec> = F extends { kind: "checkbox" } ? boolean : F extends { required: true } ? string : string | undefined;

export type Parsed<S extends FormSchema> = { readonly [K in keyof S]: FieldValue<S[K]> };

/** Refused input; the error handler turns it into a generic 400 page (and a web.bad-request audit event). */
export class BadInput extends Error {
	readonly statusCode = 400;
	constructor(
		readonly field: string,
		readonly problem: "type" | "duplicate" | "length" | "missing" | "unknown" | "body",
	) {
		super(`bad input: ${field} (${problem})`);
		this.name = "BadInput";
	}
}

export const str = (max: number): { readonly kind: "string"; readonly max: number } => ({ kind: "string", max });
export const req = (max: number): { readonly kind: "string"; readonly max: number; readonly required: true } => ({ kind: "string", max, required: true });
export const checkbox: { readonly kind: "checkbox" } = { kind: "checkbox" };

/**
 * A refused POST's fields as parsed, shown again by the page that answers it (views/form-echo.tsx);
 * `invalid` names the field the refusal is about. Secrets are never kept (SECRET_FIELD).
 */
export interface FormEcho {
	readonly action: string;
	readonly values: Readonly<Record<string, string | boolean | undefined>>;
	invalid: string | null;
}

/** Fields whose value is never sent back to the browser. */
const SECRET_FIELD = /password|secret|current|keyword|token|code/i;

export function formEcho(action: string, values: Readonly<Record<string, string | boolean | undefined>>): FormEcho {
	const kept: Record<string, string | boolean | undefined> = {};
	for (const [name, value] of Object.entries(values)) if (!SECRET_FIELD.test(name)) kept[name] = value;
	return { action, values: kept, invalid: null };
}

/** Fields every POST form carries besides its own. */
export const CSRF_FIELD = "_csrf";

/**
 * Validates `input` (a parsed body or query) against `schema`. `allowed` names extra fields that
 * are checked elsewhere (the CSRF token).
 */
export function parseFields<S extends FormSchema>(input: unknown, schema: S, allowed: readonly string[] = []): Parsed<S> {
	if (input === undefined || input === null) input = {};
	if (typeof input !== "object" || Array.isArray(input)) throw new BadInput("(body)", "body");
	const source = input as Record<string, unknown>;
	for (const key of Object.keys(source)) {
		if (!Object.hasOwn(schema, key) && !allowed.includes(key)) throw new BadInput(key.slice(0, 40), "unknown");
	}
	const out: Record<string, string | boolean | undefined> = Object.create(null) as Record<string, string | boolean | undefined>;
	for (const [name, spec] of Object.entries(schema)) {
		const present = Object.hasOwn(source, name);
		const value = present ? source[name] : undefined;
		if (Array.isArray(value)) throw new BadInput(name, "duplicate");
		if (value !== undefined && typeof value !== "string") throw new BadInput(name, "type");
		if (spec.kind === "checkbox") {
			if (value !== undefined && value !== "on") throw new BadInput(name, "type");
			out[name] = value === "on";
			continue;
		}
		if (value === undefined) {
			if (spec.required) throw new BadInput(name, "missing");
			out[name] = undefined;
			continue;
		}
		if (value.length > spec.max) throw new BadInput(name, "length");
		out[name] = value;
	}
	return out as Parsed<S>;
}
