// The console's entry point: sign in and out, the views behind the navigation, and the
// live updates that keep the Mail tab, an open email and the bell current.

import * as api from "./api.js";
import * as bell from "./bell.js";
import * as compose from "./compose.js";
import * as detail from "./detail.js";
import { byId, keepFindable } from "./dom.js";
import * as mail from "./mail.js";
import { EMAIL_FIELDS } from "./mail.js";
import * as mailbox from "./mailbox.js";
import * as prefs from "./prefs.js";
import * as session from "./session.js";

const ME = "query { me { email name } }";
const ONE_EMAIL = `query One($id: ID!) { sentEmail(id: $id) { ${EMAIL_FIELDS} } }`;
const TRACKING_EVENTS = "subscription { trackingEvents { id emailId kind source duplicate } }";
const NOTIFICATIONS = `subscription { notifications { id kind count email { ${EMAIL_FIELDS} } } }`;

const VIEWS = ["view-mail", "view-detail", "view-preferences"];
let unsubscribers = [];

function showView(id) {
  for (const view of VIEWS) byId(view).hidden = view !== id;
  for (const link of document.querySelectorAll("nav a")) {
    const current = link.dataset.view === id || (id === "view-detail"
      && link.dataset.view === "view-mail");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function route() {
  if (!session.token()) return;
  const hash = window.location.hash;
  const emailMatch = /^#\/email\/(.+)$/.exec(hash);
  if (emailMatch) {
    showView("view-detail");
    detail.show(decodeURIComponent(emailMatch[1]));
  } else if (hash === "#/preferences") {
    detail.hide();
    showView("view-preferences");
    prefs.load();
    mailbox.load();
    byId("preferences-heading").focus();
  } else {
    detail.hide();
    showView("view-mail");
  }
}

function banner(text) {
  const box = byId("banner");
  box.hidden = !text;
  box.textContent = text ?? "";
}

async function refreshEmail(id) {
  try {
    const { sentEmail } = await api.graphql(ONE_EMAIL, { id });
    if (sentEmail) mail.update(sentEmail);
    if (detail.showing() === id) await detail.show(id, { focus: false });
  } catch (error) {
    banner(`An update could not be loaded: ${error.message}`);
  }
}

/** Follow a new email until the mail server accepted (or refused) it. */
async function watchDelivery(email) {
  let wait = 500;
  let current = email;
  while (session.token() && (current.status === "QUEUED" || current.status === "SENDING")
         && wait <= 16000) {
    await new Promise((resolve) => { setTimeout(resolve, wait); });
    wait *= 2;
    try {
      current = (await api.graphql(ONE_EMAIL, { id: email.id })).sentEmail ?? current;
      mail.update(current);
    } catch (error) {
      banner(`The delivery of “${email.subject}” could not be followed: ${error.message}`);
      return;
    }
  }
}

function goLive() {
  const failed = (error) => banner(error.message);
  unsubscribers = [
    api.subscribe(TRACKING_EVENTS, (data) => refreshEmail(data.trackingEvents.emailId), failed),
    api.subscribe(NOTIFICATIONS, (data) => {
      const { email } = data.notifications;
      mail.update(email);
      if (detail.showing() === email.id) detail.show(email.id, { focus: false });
      bell.refresh();
    }, failed),
  ];
}

// Only one of the two screens is in the document at a time, so that the signed-in
// screen's fields and the sign-in field never share a name for assistive technology.
const screens = { signin: byId("signin"), app: byId("app") };
keepFindable(screens.signin);
keepFindable(screens.app);

function showScreen(name) {
  const other = name === "app" ? "signin" : "app";
  screens[other].hidden = true;
  screens[other].remove();
  if (!screens[name].isConnected) document.body.append(screens[name]);
  screens[name].hidden = false;
}

function showSignIn(message = "") {
  showScreen("signin");
  byId("signin-error").textContent = message;
  byId("signin-error").hidden = !message;
  byId("signin-token").focus();
}

async function enter(me) {
  byId("who").textContent = me.name ? `${me.name} · ${me.email}` : me.email;
  showScreen("app");
  banner(null);
  goLive();
  route();
  await Promise.all([mail.reload(), bell.refresh()]);
}

function signOut(message = "") {
  for (const unsubscribe of unsubscribers) unsubscribe();
  unsubscribers = [];
  api.disconnect();
  session.forget();
  mail.clear();
  bell.clear();
  compose.clear();
  detail.hide();
  showSignIn(message);
}

async function signIn(event) {
  event.preventDefault();
  const field = byId("signin-token");
  const candidate = field.value.trim();
  if (!candidate) {
    showSignIn("Enter your API token.");
    return;
  }
  const button = byId("signin-submit");
  button.disabled = true;
  try {
    const { me } = await api.graphql(ME, {}, { bearer: candidate });
    session.remember(candidate);
    field.value = "";
    await enter(me);
  } catch (error) {
    showSignIn(error.code === "UNAUTHENTICATED"
      ? "That API token was not accepted. Check it and try again."
      : `Signing in failed: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

async function boot() {
  screens.app.remove();
  byId("signin-form").addEventListener("submit", signIn);
  byId("sign-out").addEventListener("click", () => signOut());
  byId("compose-button").addEventListener("click", () => compose.open());
  window.addEventListener("hashchange", route);
  api.on("unauthenticated", () => {
    if (session.token()) signOut("Your session ended: the API token is no longer accepted.");
  });
  let wasLive = false;
  api.on("live", (state) => {
    byId("live-state").textContent = { connected: "Live", reconnecting: "Reconnecting…",
      refused: "Live updates off" }[state];
    byId("live-state").dataset.state = state;
    // Back after a drop: what happened meanwhile was not pushed, so load it.
    if (state === "connected" && wasLive && session.token()) {
      mail.reload();
      bell.refresh();
    }
    if (state === "connected") wasLive = true;
  });
  mail.setUp();
  bell.setUp();
  prefs.setUp();
  mailbox.setUp();
  compose.setUp({
    sent: (email) => {
      mail.prepend(email);
      watchDelivery(email);
    },
  });
  if (!session.token()) {
    showSignIn();
    return;
  }
  try {
    await enter((await api.graphql(ME)).me);
  } catch (error) {
    if (error.code !== "UNAUTHENTICATED") showSignIn(`Signing in failed: ${error.message}`);
  }
}

boot();
