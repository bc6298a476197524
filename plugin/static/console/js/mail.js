// The Mail tab: the caller's sent emails, newest first, with filters, cursor paging
// and icons that change live.

import { graphql } from "./api.js";
import { byId, fill, h, icon } from "./dom.js";
import { clickedLabel, openedLabel, short, STATUS_WORDS, when } from "./format.js";

/** The fields of one row (shared with compose and live updates). */
export const EMAIL_FIELDS = `id subject to cc status createdAt sentAt trackOpens trackLinks
  tracked opened openCount lastOpenedAt clicked clickCount lastClickedAt error`;

const LIST = `query Mail($filter: SentEmailFilter, $after: String) {
  sentEmails(filter: $filter, first: 25, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ${EMAIL_FIELDS} } } } }`;

let cursor = null;
let generation = 0; // a newer listing makes an older answer obsolete
const shown = new Map(); // id -> the email as last shown

function currentFilter() {
  const filter = {};
  if (byId("filter-tracked").checked) filter.tracked = true;
  const opened = byId("filter-opened").value;
  if (opened) filter.opened = opened === "yes";
  const clicked = byId("filter-clicked").value;
  if (clicked) filter.clicked = clicked === "yes";
  const search = byId("filter-search").value.trim();
  if (search) filter.search = search;
  // Whole days in the browser's time zone: from the first day's midnight to the midnight
  // after the last day.
  const from = byId("filter-from").valueAsDate;
  if (from) filter.sentAfter = localMidnight(from, 0).toISOString();
  const until = byId("filter-until").valueAsDate;
  if (until) filter.sentBefore = localMidnight(until, 1).toISOString();
  return filter;
}

/** Midnight (local time) of a date input's day, plus `days`. */
function localMidnight(inputDate, days) {
  // valueAsDate is midnight UTC of the chosen day; take its calendar date.
  return new Date(inputDate.getUTCFullYear(), inputDate.getUTCMonth(),
    inputDate.getUTCDate() + days);
}

function trackingIcon(kind, on, label) {
  return h("span", {
    className: `track-icon ${kind}${on ? " is-on" : ""}`,
    role: "img",
    "aria-label": label,
    title: label,
    "data-kind": kind,
  }, icon(kind));
}

function trackingCell(email) {
  if (!email.tracked) {
    return h("span", { className: "untracked", title: "Sent without tracking" }, "Not tracked");
  }
  return [
    email.trackOpens ? trackingIcon("open", email.opened, openedLabel(email)) : null,
    email.trackLinks ? trackingIcon("link", email.clicked, clickedLabel(email)) : null,
  ];
}

function row(email) {
  const recipients = [...email.to, ...email.cc].join(", ");
  const time = email.sentAt ?? email.createdAt;
  const status = email.status === "SENT" ? null
    : h("span", { className: `status status-${email.status.toLowerCase()}`,
      title: email.error ?? "" }, STATUS_WORDS[email.status] ?? email.status);
  return h("li", { className: "mail-row", "data-id": email.id },
    h("div", { className: "mail-main" },
      h("a", { className: "subject", href: `#/email/${encodeURIComponent(email.id)}` },
        email.subject || "(no subject)"),
      h("span", { className: "recipients" }, recipients)),
    h("div", { className: "mail-side" },
      status,
      h("span", { className: "tracking" }, trackingCell(email)),
      h("time", { dateTime: time, title: when(time) }, short(time))));
}

function showError(error) {
  const box = byId("mail-error");
  box.hidden = !error;
  box.textContent = error ? `The emails could not be loaded: ${error.message}` : "";
}

function updateCounts(total) {
  byId("mail-total").textContent = total === 1 ? "1 email" : `${total} emails`;
  byId("mail-empty").hidden = shown.size > 0;
}

let total = 0;

/** Load the first page for the current filters (replacing the list). */
export async function reload() {
  const mine = ++generation;
  cursor = null;
  try {
    const data = await graphql(LIST, { filter: currentFilter() });
    if (mine !== generation) return;
    shown.clear();
    fill(byId("mail-rows"));
    showError(null);
    appendPage(data.sentEmails);
  } catch (error) {
    if (mine === generation) showError(error);
  }
}

async function loadMore() {
  const mine = generation;
  const button = byId("mail-more");
  button.disabled = true;
  try {
    const data = await graphql(LIST, { filter: currentFilter(), after: cursor });
    if (mine === generation) appendPage(data.sentEmails);
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

function appendPage(connection) {
  const rows = byId("mail-rows");
  for (const { node } of connection.edges) {
    if (shown.has(node.id)) continue;
    shown.set(node.id, node);
    rows.append(row(node));
  }
  cursor = connection.pageInfo.endCursor;
  byId("mail-more").hidden = !connection.pageInfo.hasNextPage;
  total = connection.totalCount;
  updateCounts(total);
}

function matches(email, filter) {
  if (filter.tracked && !email.tracked) return false;
  if (filter.opened !== undefined && filter.opened !== email.opened) return false;
  if (filter.clicked !== undefined && filter.clicked !== email.clicked) return false;
  const time = new Date(email.sentAt ?? email.createdAt);
  if (filter.sentAfter && time < new Date(filter.sentAfter)) return false;
  if (filter.sentBefore && time >= new Date(filter.sentBefore)) return false;
  if (filter.search) {
    const text = [email.subject, ...email.to, ...email.cc].join(" ").toLowerCase();
    if (!text.includes(filter.search.toLowerCase())) return false;
  }
  return true;
}

/** A newly sent email goes on top at once, when the current filters would list it. */
export function prepend(email) {
  if (shown.has(email.id) || !matches(email, currentFilter())) return;
  shown.set(email.id, email);
  byId("mail-rows").prepend(row(email));
  total += 1;
  updateCounts(total);
}

/** Redraw a row with fresh figures (live updates); rows not shown are left alone. */
export function update(email) {
  if (!shown.has(email.id)) return;
  shown.set(email.id, email);
  const old = byId("mail-rows").querySelector(`li[data-id="${CSS.escape(email.id)}"]`);
  if (old) old.replaceWith(row(email));
}

let searchTimer = null;

export function setUp() {
  for (const id of ["filter-tracked", "filter-opened", "filter-clicked", "filter-from",
    "filter-until"]) {
    byId(id).addEventListener("change", reload);
  }
  byId("filter-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(reload, 250);
  });
  byId("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    reload();
  });
  byId("mail-more").addEventListener("click", loadMore);
}

/** Forget everything shown (sign out). */
export function clear() {
  generation += 1;
  shown.clear();
  fill(byId("mail-rows"));
}
