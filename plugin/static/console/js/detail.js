// One email: its figures, its links with their clicks, and the timeline of every event
// with its source in words.

import { graphql } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { sourceLabel, STATUS_WORDS, times, when } from "./format.js";
import { EMAIL_FIELDS } from "./mail.js";

const DETAIL = `query Email($id: ID!) { sentEmail(id: $id) {
  ${EMAIL_FIELDS} messageId firstOpenedAt firstClickedAt trackingReasons
  links { id url clickCount firstClickedAt lastClickedAt }
  events(first: 200) { id kind occurredAt source rule url recipient duplicate
    description } } }`;

let currentId = null;

export function showing() {
  return currentId;
}

function figure(label, value) {
  return h("div", { className: "figure" }, h("dt", {}, label), h("dd", {}, value || "–"));
}

function safeHref(url) {
  // Only the email's own destinations, and only web ones: never a tracking redirect.
  return /^https?:\/\//i.test(url) ? url : null;
}

function linkTable(links) {
  if (!links.length) return h("p", { className: "muted" }, "This email has no tracked links.");
  return h("table", { className: "links" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Link"),
      h("th", { scope: "col" }, "Clicks"), h("th", { scope: "col" }, "Last click"))),
    h("tbody", {}, links.map((link) => h("tr", {},
      h("td", { className: "url" }, safeHref(link.url)
        ? h("a", { href: safeHref(link.url), rel: "noopener noreferrer", target: "_blank" },
          link.url)
        : link.url),
      h("td", {}, String(link.clickCount)),
      h("td", {}, when(link.lastClickedAt) || "–")))));
}

function timeline(events) {
  if (!events.length) {
    return h("p", { className: "muted" }, "Nothing yet: no open or click has been recorded.");
  }
  return h("ol", { className: "timeline" }, events.map((event) => {
    const label = sourceLabel(event);
    return h("li", { className: `event source-${label.toLowerCase()}` },
      h("time", { dateTime: event.occurredAt }, when(event.occurredAt)),
      h("span", { className: "badge" }, label),
      // The API's own words ("Opened in Outlook 16 on Windows", "Prefetched by Apple Mail
      // Privacy Protection: not counted"), with the copy's recipient when it has one.
      h("span", { className: "what" }, event.description,
        event.recipient ? h("span", { className: "event-url" }, `Copy to ${event.recipient}`)
          : null,
        event.url ? h("span", { className: "event-url" }, event.url) : null));
  }));
}

function trackingSummary(email) {
  const parts = [
    email.trackOpens ? "Opens tracked" : "Opens not tracked",
    email.trackLinks ? "links tracked" : "links not tracked",
  ];
  return h("div", { className: "tracking-summary" },
    h("p", {}, `${parts.join(", ")}.`),
    email.trackingReasons.length
      ? h("ul", { className: "reasons" }, email.trackingReasons.map((r) => h("li", {}, r)))
      : null);
}

function render(email) {
  const view = byId("detail-body");
  if (!email) {
    fill(view, h("h1", { tabindex: "-1" }, "Email not found"),
      h("p", {}, "There is no email with this id among yours."));
    return;
  }
  fill(view,
    h("h1", { tabindex: "-1" }, email.subject || "(no subject)"),
    h("p", { className: "meta" },
      `To ${email.to.join(", ")}`, email.cc.length ? ` · Cc ${email.cc.join(", ")}` : "",
      ` · ${STATUS_WORDS[email.status] ?? email.status} ${when(email.sentAt ?? email.createdAt)}`),
    email.error ? h("p", { className: "error" }, `The mail server said: ${email.error}`) : null,
    h("dl", { className: "figures" },
      figure("Opens", email.trackOpens ? times(email.openCount) : "not tracked"),
      figure("First opened", when(email.firstOpenedAt)),
      figure("Last opened", when(email.lastOpenedAt)),
      figure("Clicks", email.trackLinks ? times(email.clickCount) : "not tracked"),
      figure("First click", when(email.firstClickedAt)),
      figure("Last click", when(email.lastClickedAt))),
    trackingSummary(email),
    h("p", { className: "muted" }, "Counts include people only. Machines, scanners and your "
      + "own views are listed in the timeline but not counted."),
    h("h2", {}, "Links"),
    linkTable(email.links),
    h("h2", {}, "Timeline"),
    timeline(email.events));
}

/** Show one email (route #/email/ID); `focus` moves the keyboard focus to its heading. */
export async function show(id, { focus = true } = {}) {
  currentId = id;
  const view = byId("detail-body");
  try {
    const data = await graphql(DETAIL, { id });
    if (currentId !== id) return;
    render(data.sentEmail);
  } catch (error) {
    if (currentId !== id) return;
    fill(view, h("h1", { tabindex: "-1" }, "Email"),
      h("p", { className: "error", role: "alert" },
        `The email could not be loaded: ${error.message}`));
  }
  if (focus) view.querySelector("h1")?.focus();
}

export function hide() {
  currentId = null;
}
