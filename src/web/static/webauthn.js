// WebAuthn ceremonies for the console's forms (served as /static/webauthn.js under the strict CSP:
// script-src 'self', no inline script). A form marked data-webauthn="register" | "authenticate"
// gets its options from data-options (JSON rendered by the server) or data-options-url (fetched,
// same origin), runs @simplewebauthn/browser's startRegistration / startAuthentication, puts the
// JSON answer into the form's hidden "response" field and submits the form as a normal POST (so
// the CSRF token travels in the form, like every other form of the console).
import { browserSupportsWebAuthn, startAuthentication, startRegistration } from "/static/simplewebauthn/index.js";

function status(form, text) {
	const out = form.querySelector("[data-webauthn-status]");
	if (out) out.textContent = text;
}

function explain(error) {
	const name = error && typeof error === "object" ? error.name : "";
	if (name === "NotAllowedError") return "The security key did not answer (cancelled or timed out). Try again.";
	if (name === "InvalidStateError") return "This security key is already registered.";
	if (name === "SecurityError") return "The browser refused: this console's address does not match its WebAuthn settings. Tell an administrator.";
	if (name === "OptionsUnavailable") return "This page has expired. Reload it and try again.";
	return "The security key could not be used. Reload the page and try again.";
}

async function options(form) {
	if (form.dataset.options) return JSON.parse(form.dataset.options);
	const response = await fetch(form.dataset.optionsUrl, { credentials: "same-origin", headers: { accept: "application/json" }, cache: "no-store" });
	if (!response.ok) {
		const error = new Error("no options");
		error.name = "OptionsUnavailable";
		throw error;
	}
	return response.json();
}

async function run(form, button) {
	button.disabled = true;
	status(form, "Waiting for your security key…");
	try {
		const optionsJSON = await options(form);
		const answer = form.dataset.webauthn === "register" ? await startRegistration({ optionsJSON }) : await startAuthentication({ optionsJSON });
		form.querySelector('input[name="response"]').value = JSON.stringify(answer);
		status(form, "Checking…");
		form.submit();
	} catch (error) {
		status(form, explain(error));
		button.disabled = false;
	}
}

for (const form of document.querySelectorAll("form[data-webauthn]")) {
	const button = form.querySelector("[data-webauthn-start]");
	if (!button) continue;
	if (!browserSupportsWebAuthn()) {
		status(form, "This browser cannot use security keys.");
		button.disabled = true;
		continue;
	}
	form.addEventListener("submit", (event) => {
		// The first submit runs the ceremony; form.submit() afterwards does not fire this event.
		event.preventDefault();
		if (!button.disabled) void run(form, button);
	});
}
