/**
 * A tiny element builder. Text goes in as text nodes only (never innerHTML): track and
 * artist ids and alert names come from user events.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

/** Replaces an element's children. */
export function fill(el: Element, children: Array<Node | string>): void {
  el.replaceChildren(...children);
}
