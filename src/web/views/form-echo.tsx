/**
 * Refused forms keep what was typed (a refused group name used to come back as an empty form).
 * A POST handled by route-kit.ts remembers its parsed fields (`FormEcho`); when the answer is a
 * page with an error status, sendPage (context.ts) provides them to the page. Only the form that
 * was sent — a `PostForm` with the same action — shows them: its `Field`s (layout.tsx), `Checkbox`es
 * and `Select`s take the submitted value instead of the stored one, and the field the refusal
 * names (PortcullisError.field) is marked `aria-invalid` and focused. Password fields never echo.
 */
import { createContext, type ComponentChildren } from "preact";
import { useContext } from "preact/hooks";
import type { FormEcho } from "../forms.ts";

/** The refused submission of this request (sendPage), for every form on the page. */
export const FormEchoContext = createContext<FormEcho | null>(null);
/** The same, only inside the form it came from (PostForm). */
const ScopeContext = createContext<FormEcho | null>(null);

/** `<form method="post">` whose fields show the values of its own refused submission. */
export function PostForm({ action, class: className, children }: { action: string; class?: string; children: ComponentChildren }) {
	const echo = useContext(FormEchoContext);
	return (
		<ScopeContext.Provider value={echo !== null && echo.action === action ? echo : null}>
			<form method="post" action={action} class={className}>
				{children}
			</form>
		</ScopeContext.Provider>
	);
}

/** What a field of the enclosing PostForm should show: the submitted value and whether it is the refused one. */
export function useEchoedField(name: string): { readonly value: string | boolean | undefined; readonly invalid: boolean } | null {
	const echo = useContext(ScopeContext);
	if (echo === null) return null;
	return { value: echo.values[name], invalid: echo.invalid === name };
}

/** A checkbox that keeps a refused submission's state. */
export function Checkbox({ id, name, checked }: { id: string; name: string; checked: boolean | undefined }) {
	const echoed = useEchoedField(name);
	return (
		<input
			type="checkbox"
			id={id}
			name={name}
			checked={echoed === null ? checked : echoed.value === true}
			aria-invalid={echoed?.invalid === true ? "true" : undefined}
		/>
	);
}

/** A select that keeps a refused submission's choice. */
export function Select({ id, name, options, selected }: { id: string; name: string; options: readonly { value: string; label: string }[]; selected?: string }) {
	const echoed = useEchoedField(name);
	const chosen = echoed !== null && typeof echoed.value === "string" ? echoed.value : selected;
	return (
		<select id={id} name={name} aria-invalid={echoed?.invalid === true ? "true" : undefined}>
			{options.map((option) => (
				<option value={option.value} selected={option.value === chosen}>
					{option.label}
				</option>
			))}
		</select>
	);
}
