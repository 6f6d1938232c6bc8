// Access keyword boxes (src/web/views/login.tsx ChallengeForm): one character per box, the cursor
// moves on after each, Backspace in an empty box goes back, and a paste is split across the boxes.
// Served as a static file because the CSP forbids inline script; without it the form still works.
// A "character" is a code point (Array.from), as the method counts them (src/methods/access-keyword/).
const boxes = Array.from(document.querySelectorAll("input[data-keyword-box]"));
/** Each box's value before the current input (kept in memory, not in the DOM: it is a secret's character). */
const previous = new Map();

function focusBox(index) {
	const box = boxes[Math.min(index, boxes.length - 1)];
	if (box !== undefined) {
		box.focus();
		box.select();
	}
}

/** Writes the characters into the boxes from `start` on; returns the index after the last one written. */
function spread(start, characters) {
	let index = start;
	for (const character of characters) {
		if (index >= boxes.length) break;
		boxes[index].value = character;
		previous.set(boxes[index], character);
		index += 1;
	}
	return index;
}

boxes.forEach((box, index) => {
	box.addEventListener("input", () => {
		const before = previous.get(box) ?? "";
		let characters = Array.from(box.value);
		// Typed after the character already there (a virtual keyboard sends no usable keydown): the new one counts.
		if (characters.length > 1 && before !== "" && box.value.startsWith(before)) characters = Array.from(box.value.slice(before.length));
		previous.set(box, characters[0] ?? "");
		if (characters.length === 0) return;
		// One character here, the rest (a fast typist, an auto-fill) carried to the next boxes.
		box.value = characters[0];
		focusBox(spread(index + 1, characters.slice(1)));
	});
	box.addEventListener("paste", (event) => {
		const text = event.clipboardData?.getData("text") ?? "";
		const characters = Array.from(text.replace(/[\r\n]+/g, ""));
		if (characters.length === 0) return;
		event.preventDefault();
		focusBox(spread(index, characters));
	});
	box.addEventListener("keydown", (event) => {
		// A character typed into a filled box replaces it (not appended, then carried to the next box).
		if (!event.isComposing && !event.ctrlKey && !event.metaKey && !event.altKey && Array.from(event.key).length === 1) {
			box.value = "";
			previous.set(box, "");
			return;
		}
		if (event.key === "Backspace" && box.value === "" && index > 0) {
			event.preventDefault();
			boxes[index - 1].value = "";
			previous.set(boxes[index - 1], "");
			focusBox(index - 1);
		} else if (event.key === "ArrowLeft" && index > 0) {
			event.preventDefault();
			focusBox(index - 1);
		} else if (event.key === "ArrowRight" && index < boxes.length - 1) {
			event.preventDefault();
			focusBox(index + 1);
		}
	});
	box.addEventListener("focus", () => box.select());
});
