// Small DOM helpers: elements are built with properties and text nodes, never from HTML
// strings, so nothing the API returns (subjects, addresses, URLs) can become markup.

const SVG_NS = "http://www.w3.org/2000/svg";

// Icon outlines (24x24, stroked): drawn for mailbeacon.
const ICONS = {
  open: ["M3 10l9-6 9 6v9a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1z", "M3 10l9 6 9-6"],
  link: [
    "M10 14a4 4 0 0 0 5.66 0l3-3a4 4 0 0 0-5.66-5.66l-1 1",
    "M14 10a4 4 0 0 0-5.66 0l-3 3a4 4 0 0 0 5.66 5.66l1-1",
  ],
  bell: ["M6 9a6 6 0 0 1 12 0c0 6 3 8 3 8H3s3-2 3-8", "M10.3 20.5a2 2 0 0 0 3.4 0"],
};

/** h("a", {href: "#/x", className: "y"}, "text", child): an element with children. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className" || key === "textContent" || key === "value" || key === "checked"
        || key === "hidden" || key === "disabled" || key === "type") {
      element[key] = value;
    } else if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An outlined icon, hidden from assistive technology (its holder carries the label). */
export function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.classList.add("icon");
  for (const d of ICONS[name]) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/** Replace an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

const detachable = [];

/** A part of the page that may be taken out of the document and put back (byId finds
 * its elements either way). */
export function keepFindable(root) {
  detachable.push(root);
}

export function byId(id) {
  const element = document.getElementById(id)
    ?? detachable.map((root) => root.querySelector(`#${CSS.escape(id)}`)).find(Boolean);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
}
