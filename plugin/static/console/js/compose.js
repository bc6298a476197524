// Compose: recipients with their consent state, the message (sent as HTML so that it can
// carry the pixel), the tracking switches preset from the user's defaults, and after
// sending the tracking decision with its reasons.

import { graphql } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { addresses, consentWords } from "./format.js";
import { EMAIL_FIELDS } from "./mail.js";

const PREFERENCES = `query { trackingPreferences { openTrackingEnabled linkTrackingEnabled
  defaultTrackOpens defaultTrackLinks } }`;
const CONSENT_FIELDS = "email jurisdiction requiresConsent status updatedAt source";
const CONSENT = `query Consent($email: String!) { recipientConsent(email: $email) {
  ${CONSENT_FIELDS} } }`;
const REQUEST_CONSENT = `mutation Ask($email: String!) { requestTrackingConsent(email: $email) {
  ${CONSENT_FIELDS} } }`;
const SEND = `mutation Send($input: SendEmailInput!) { sendEmail(input: $input) {
  email { ${EMAIL_FIELDS} } tracking { opens links reasons } errors { field code message } } }`;

const consentCache = new Map(); // address -> {consent} or {error}
const consentNotes = new Map(); // address -> {ok, text}: the outcome of "Request consent"
let idempotencyKey = null;
let onSent = () => {};
let consentTimer = null;

function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (ch) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[ch]);
}

/** Plain text to HTML paragraphs; web addresses become links (so that they can be tracked). */
export function messageHtml(text) {
  const linkify = (line) => escapeHtml(line).replace(/\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)]/g,
    (url) => `<a href="${url}">${url}</a>`);
  return text.trim().split(/\n\s*\n/)
    .map((paragraph) => `<p>${paragraph.split("\n").map(linkify).join("<br>")}</p>`)
    .join("\n");
}

function recipients() {
  return [...new Set([...addresses(byId("compose-to").value),
    ...addresses(byId("compose-cc").value)].map((a) => a.toLowerCase()))];
}

async function lookUp(address) {
  try {
    const data = await graphql(CONSENT, { email: address });
    consentCache.set(address, { consent: data.recipientConsent });
  } catch (error) {
    consentCache.set(address, { error });
  }
}

async function requestConsent(address, button) {
  button.disabled = true;
  try {
    const data = await graphql(REQUEST_CONSENT, { email: address });
    consentCache.set(address, { consent: data.requestTrackingConsent });
    consentNotes.set(address, { ok: true, text: `Consent request sent to ${address}.` });
  } catch (error) {
    consentNotes.set(address, { ok: false,
      text: `The request could not be sent: ${error.message}` });
  }
  drawConsent(recipients());
}

function consentItem(address) {
  const known = consentCache.get(address);
  if (!known) return h("li", {}, h("strong", {}, address), " checking…");
  if (known.error) {
    return h("li", { className: "consent-problem" }, h("strong", {}, address), ` ${known.error.message}`);
  }
  const { consent } = known;
  const blocked = isBlocked(address);
  const note = consentNotes.get(address);
  const canAsk = consent.requiresConsent && consent.status === "UNKNOWN" && !note?.ok;
  return h("li", { className: blocked ? "consent-blocked" : "consent-ok" },
    h("strong", {}, consent.email), ` ${consentWords(consent)}`,
    canAsk ? h("button", { type: "button", className: "small",
      onClick: (event) => requestConsent(address, event.currentTarget) }, "Request consent")
      : null,
    h("span", { className: `consent-note ${note ? (note.ok ? "ok" : "error") : ""}`,
      role: "status" }, note?.text ?? ""));
}

function isBlocked(address) {
  const consent = consentCache.get(address)?.consent;
  if (!consent) return false;
  return consent.requiresConsent ? consent.status !== "GRANTED"
    : consent.status === "DENIED" || consent.status === "WITHDRAWN";
}

function drawConsent(wanted) {
  fill(byId("compose-consent-list"), wanted.map(consentItem));
  byId("compose-consent-shared").hidden = !(wanted.length > 1 && wanted.some(isBlocked)
    && !byId("compose-per-recipient").checked);
}

async function refreshConsent() {
  const wanted = recipients();
  byId("compose-consent").hidden = wanted.length === 0;
  drawConsent(wanted);
  const missing = wanted.filter((address) => !consentCache.has(address));
  if (!missing.length) return;
  await Promise.all(missing.map(lookUp));
  // Redraw only if the recipients are still the same.
  if (recipients().join() === wanted.join()) drawConsent(wanted);
}

function scheduleConsent() {
  clearTimeout(consentTimer);
  consentTimer = setTimeout(refreshConsent, 400);
}

function showProblems(messages) {
  const box = byId("compose-error");
  box.hidden = messages.length === 0;
  fill(box, messages.length === 1 ? messages[0]
    : h("ul", {}, messages.map((message) => h("li", {}, message))));
}

function showDecision(payload) {
  const { tracking } = payload;
  const yesNo = (on) => (on ? "tracked" : "not tracked");
  fill(byId("compose-result"),
    h("h3", {}, "Sent"),
    h("p", {}, `“${payload.email.subject}” is on its way. Opens ${yesNo(tracking.opens)}, `
      + `links ${yesNo(tracking.links)}.`),
    tracking.reasons.length
      ? h("ul", { className: "reasons" }, tracking.reasons.map((reason) => h("li", {}, reason)))
      : null);
  byId("compose-result").hidden = false;
}

async function send(event) {
  event.preventDefault();
  const button = byId("compose-send");
  byId("compose-result").hidden = true;
  const message = byId("compose-message").value;
  const input = {
    to: addresses(byId("compose-to").value),
    cc: addresses(byId("compose-cc").value),
    subject: byId("compose-subject").value,
    html: message.trim() ? messageHtml(message) : null,
    trackOpens: byId("compose-track-opens").checked,
    trackLinks: byId("compose-track-links").checked,
    trackPerRecipient: byId("compose-per-recipient").checked,
    idempotencyKey: (idempotencyKey ??= newKey()),
  };
  const problems = [];
  if (!input.to.length) problems.push("Add at least one recipient in “To”.");
  if (!input.html) problems.push("Write a message.");
  showProblems(problems);
  if (problems.length) return;
  button.disabled = true;
  try {
    const data = await graphql(SEND, { input });
    const payload = data.sendEmail;
    if (payload.errors.length) {
      showProblems(payload.errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)));
      idempotencyKey = null; // the input was refused: a corrected one is a new email
      return;
    }
    idempotencyKey = null;
    showDecision(payload);
    byId("compose-form").reset();
    await presetTracking();
    byId("compose-consent").hidden = true;
    onSent(payload.email);
  } catch (error) {
    // Network or server trouble: a retry keeps the idempotency key, so it cannot send twice.
    showProblems([`The email was not sent: ${error.message}`]);
  } finally {
    button.disabled = false;
  }
}

async function presetTracking() {
  const opens = byId("compose-track-opens");
  const links = byId("compose-track-links");
  try {
    const { trackingPreferences: p } = await graphql(PREFERENCES);
    opens.checked = p.openTrackingEnabled && p.defaultTrackOpens;
    links.checked = p.linkTrackingEnabled && p.defaultTrackLinks;
    opens.disabled = !p.openTrackingEnabled;
    links.disabled = !p.linkTrackingEnabled;
    byId("compose-tracking-off").hidden = p.openTrackingEnabled && p.linkTrackingEnabled;
  } catch (error) {
    showProblems([`Your tracking defaults could not be loaded: ${error.message}`]);
  }
}

export async function open() {
  const dialog = byId("compose");
  showProblems([]);
  byId("compose-result").hidden = true;
  if (!dialog.open) dialog.showModal();
  byId("compose-to").focus();
  await presetTracking();
}

export function setUp({ sent }) {
  onSent = sent;
  byId("compose-form").addEventListener("submit", send);
  byId("compose-close").addEventListener("click", () => byId("compose").close());
  byId("compose-per-recipient").addEventListener("change", () => drawConsent(recipients()));
  for (const id of ["compose-to", "compose-cc"]) {
    byId(id).addEventListener("input", scheduleConsent);
    byId(id).addEventListener("change", refreshConsent);
  }
}

/** Forget cached consent states (sign out). */
export function clear() {
  consentCache.clear();
  consentNotes.clear();
  byId("compose-form").reset();
  if (byId("compose").open) byId("compose").close();
}
