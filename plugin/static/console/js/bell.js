// The notification bell: unread count in the button's name and badge, the list of
// notifications (kept live by the `notifications` subscription), mark read.

import { graphql } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { short, times, when } from "./format.js";

const BELL = `query Bell { unreadNotificationCount
  notifications(first: 20) { edges { node { id kind count url read updatedAt
    email { id subject } } } } }`;
const MARK_ALL = "mutation { markNotificationsRead(all: true) }";
const MARK = "mutation Mark($ids: [ID!]) { markNotificationsRead(ids: $ids) }";

function setCount(count) {
  const button = byId("bell-button");
  const badge = byId("bell-badge");
  button.setAttribute("aria-label", `Notifications, ${count} unread`);
  button.title = count ? `${count} unread notifications` : "No unread notifications";
  badge.textContent = count > 99 ? "99+" : String(count);
  badge.hidden = count === 0;
  byId("bell-mark-all").disabled = count === 0;
}

function describe(notification) {
  const subject = `“${notification.email.subject || "(no subject)"}”`;
  if (notification.kind === "EMAIL_OPENED") {
    return `${subject} was opened${notification.count > 1 ? ` ${times(notification.count)}` : ""}`;
  }
  const where = notification.url ? ` (${notification.url})` : "";
  return `${subject}: a link was clicked${notification.count > 1
    ? ` ${times(notification.count)}` : ""}${where}`;
}

function item(notification) {
  const go = async () => {
    close();
    window.location.hash = `#/email/${encodeURIComponent(notification.email.id)}`;
    if (!notification.read) {
      try {
        await graphql(MARK, { ids: [notification.id] });
      } catch (error) {
        showError(error);
      }
      await refresh();
    }
  };
  return h("li", { className: notification.read ? "read" : "unread" },
    h("button", { type: "button", className: "notification", onClick: go },
      h("span", { className: "what" }, describe(notification)),
      h("time", { dateTime: notification.updatedAt, title: when(notification.updatedAt) },
        short(notification.updatedAt)),
      notification.read ? null : h("span", { className: "visually-hidden" }, " (unread)")));
}

function showError(error) {
  const box = byId("bell-error");
  box.hidden = !error;
  box.textContent = error ? `Notifications: ${error.message}` : "";
}

/** Reload the count and the list from the API. */
export async function refresh() {
  try {
    const data = await graphql(BELL);
    setCount(data.unreadNotificationCount);
    const nodes = data.notifications.edges.map((edge) => edge.node);
    fill(byId("bell-list"), nodes.length ? nodes.map(item)
      : h("li", { className: "empty" }, "No notifications yet."));
    showError(null);
  } catch (error) {
    showError(error);
  }
}

function close() {
  byId("bell-panel").hidden = true;
  byId("bell-button").setAttribute("aria-expanded", "false");
}

function toggle() {
  const panel = byId("bell-panel");
  const opening = panel.hidden;
  panel.hidden = !opening;
  byId("bell-button").setAttribute("aria-expanded", String(opening));
  if (opening) refresh();
}

async function markAll() {
  try {
    await graphql(MARK_ALL);
  } catch (error) {
    showError(error);
  }
  await refresh();
}

export function setUp() {
  byId("bell-button").addEventListener("click", toggle);
  byId("bell-mark-all").addEventListener("click", markAll);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !byId("bell-panel").hidden) {
      close();
      byId("bell-button").focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (!byId("bell").contains(event.target)) close();
  });
}

export function clear() {
  close();
  fill(byId("bell-list"));
  setCount(0);
}
