/** `--methods LIST` parsing shared by `group` and `settings` (core/method-id.ts parseMethodList). */
import { METHOD_IDS, parseMethodList, type MethodId } from "../../core/method-id.ts";
import { UsageError } from "../errors.ts";

export function methodsOption(text: string): MethodId[] {
	const parsed = parseMethodList(text);
	if (!Array.isArray(parsed)) {
		const names = parsed.invalid.map((name) => JSON.stringify(name.slice(0, 40))).join(", ");
		throw new UsageError(`unknown method ${names} in --methods (known: ${METHOD_IDS.join(", ")})`);
	}
	if (parsed.length === 0) throw new UsageError("--methods needs at least one method, comma-separated (for example totp,recovery-code)");
	return parsed;
}
