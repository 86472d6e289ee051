/**
 * Building the page's elements. Strings always become text nodes, so nothing read from the chain is ever parsed as
 * HTML; the page's CSP (no inline script or style, no eval) holds because nothing here sets a `style` attribute or
 * an inline handler.
 *
 * Long hex values (hashes, addresses, device ids) are one element whose text is the full value, split in three
 * parts: on a narrow screen the middle is hidden ("0x1234…abcd") and a tap shows it, on a wide one all of it shows;
 * the `title` and the copy button at its end carry the full value at every width.
 */
import { shown } from "../../lib/untrusted/text.js";

type Child = Node | string | null | undefined | false;

/** Creates an element with attributes and children. */
export function h(tag: string, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return element;
}

export function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element;
}

/**
 * A URI as a link when it is http(s) and holds nothing to hide, else as text: a `javascript:` URI from the chain must
 * never be clickable, nor one whose control or bidirectional characters (or U+FFFD, where the owner wrote bytes that
 * are not UTF-8) would make it look like another. Shown escaped and capped (lib/untrusted/text.ts).
 */
export function uriNode(uri: string): Node {
  const text = shown(uri);
  return /^https?:\/\//i.test(uri) && text === uri && !uri.includes("\ufffd")
    ? h("a", { href: uri, rel: "noopener noreferrer", target: "_blank" }, uri)
    : h("code", {}, text);
}

/**
 * What `richText` marks up: `0x` and at least 40 hex digits (an address or longer; a selector or a small number stays
 * text), and ISO dates, which must not break at their hyphens.
 */
const LONG_HEX_OR_DATE = /0x[0-9a-fA-F]{40,}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g;
const HEAD = 6;
const TAIL = 4;

/** A copy button for `value`; its visible label comes from the stylesheet, so it adds no text to the page's text. */
export function copyButton(value: string): HTMLElement {
  return h("button", { type: "button", class: "copy", "data-copy": value, "aria-label": `copy ${value}` });
}

/**
 * A long hex value, shortened on narrow screens, with its copy button glued to its last digits (the button has no
 * text, so the element's text is exactly the value). `attributes` go on the value's element (e.g. an id).
 */
export function hexNode(value: string, attributes: Record<string, string> = {}): HTMLElement {
  return h(
    "span",
    { ...attributes, class: "hex", "data-value": value, title: value },
    h("span", { class: "hex-head" }, value.slice(0, HEAD)),
    h("span", { class: "hex-middle" }, value.slice(HEAD, -TAIL)),
    h("span", { class: "hex-end" }, h("span", { class: "hex-tail" }, value.slice(-TAIL)), copyButton(value)),
  );
}

/** Text with every long hex value in it rendered by `hexNode`, and every ISO date kept on one line. */
export function richText(text: string): DocumentFragment {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(LONG_HEX_OR_DATE)) {
    const value = match[0];
    fragment.append(
      text.slice(last, match.index),
      value.startsWith("0x") ? hexNode(value) : h("span", { class: "nowrap" }, value),
    );
    last = match.index + value.length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

/**
 * Makes every copy button (now and later) copy its full value, and a tap on a shortened value show all of it. The
 * button says whether the copy worked; when the clipboard is not available (a page served over plain http from
 * another machine), it shows the value and selects it so the reader can copy it by hand.
 */
export function handleCopyAndExpand(root: Document): void {
  root.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const button = target?.closest<HTMLButtonElement>("button.copy");
    if (button !== null && button !== undefined) {
      void copy(button);
      return;
    }
    target?.closest(".hex")?.classList.toggle("open");
  });
}

async function copy(button: HTMLButtonElement): Promise<void> {
  const value = button.dataset["copy"] ?? "";
  let copied = false;
  try {
    await navigator.clipboard.writeText(value);
    copied = true;
  } catch {
    const hex = button.closest(".hex");
    if (hex !== null) {
      hex.classList.add("open");
      getSelection()?.selectAllChildren(hex);
    }
  }
  button.dataset["state"] = copied ? "copied" : "failed";
  setTimeout(() => delete button.dataset["state"], 2000);
}
