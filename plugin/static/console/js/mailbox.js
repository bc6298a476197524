// Preferences > Email sync > Mailbox: the user's own account, connected and disconnected.
// The server URLs carry passwords: they are sent once, never read back (the API has no
// field for them) and the inputs are cleared after each attempt.

import { graphql } from "./api.js";
import { byId } from "./dom.js";

const FIELDS = "address smtpHost imapHost sentFolder verifiedAt";
const LOAD = `query { mailbox { ${FIELDS} } }`;
const CONNECT = `mutation Connect($input: ConnectMailboxInput!) {
  connectMailbox(input: $input) { mailbox { ${FIELDS} } errors { field code message } } }`;
const DISCONNECT = "mutation { disconnectMailbox }";

function status(text, isError = false) {
  const box = byId("mailbox-status");
  box.textContent = text;
  box.classList.toggle("error", isError);
}

function show(mailbox) {
  byId("mailbox-connected").hidden = !mailbox;
  byId("mailbox-disconnect").hidden = !mailbox;
  byId("mailbox-form").hidden = Boolean(mailbox);
  if (!mailbox) return;
  byId("mailbox-address").textContent = mailbox.address;
  byId("mailbox-smtp").textContent = mailbox.smtpHost;
  byId("mailbox-imap").textContent = mailbox.imapHost ?? "none (no Sent copy)";
  byId("mailbox-sent").textContent = mailbox.sentFolder ?? "none";
  byId("mailbox-verified").textContent = new Date(mailbox.verifiedAt).toLocaleString();
}

export async function load() {
  status("");
  try {
    show((await graphql(LOAD)).mailbox);
  } catch (error) {
    status(`Your mailbox could not be loaded: ${error.message}`, true);
  }
}

function optional(id) {
  const value = byId(id).value.trim();
  return value === "" ? null : value;
}

async function connect(event) {
  event.preventDefault();
  const button = byId("mailbox-connect");
  const input = {
    smtpUrl: byId("mailbox-smtp-url").value.trim(),
    imapUrl: optional("mailbox-imap-url"),
    sentFolder: optional("mailbox-sent-folder"),
    address: optional("mailbox-address-input"),
  };
  button.disabled = true;
  status("Checking the servers…");
  try {
    const { connectMailbox } = await graphql(CONNECT, { input });
    if (connectMailbox.errors.length) {
      const [problem] = connectMailbox.errors;
      status(`Not connected (${problem.code}): ${problem.message}`, true);
      return;
    }
    byId("mailbox-smtp-url").value = "";
    byId("mailbox-imap-url").value = "";
    show(connectMailbox.mailbox);
    status("Connected.");
  } catch (error) {
    status(`Not connected: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
}

async function disconnect() {
  const button = byId("mailbox-disconnect");
  button.disabled = true;
  try {
    await graphql(DISCONNECT);
    show(null);
    status("Disconnected: mail leaves from the company's server again.");
  } catch (error) {
    status(`Not disconnected: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
}

export function setUp() {
  byId("mailbox-form").addEventListener("submit", connect);
  byId("mailbox-disconnect").addEventListener("click", disconnect);
}
