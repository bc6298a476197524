// Preferences > Email sync: three switches, each saved as soon as it is toggled.

import { graphql } from "./api.js";
import { byId } from "./dom.js";

const FIELDS = "openTrackingEnabled linkTrackingEnabled notificationsEnabled";
const LOAD = `query { trackingPreferences { ${FIELDS} } }`;
const SAVE = `mutation Save($input: TrackingPreferencesInput!) {
  updateTrackingPreferences(input: $input) { ${FIELDS} } }`;

// switch element id -> the preference it edits
const SWITCHES = {
  "pref-open": "openTrackingEnabled",
  "pref-link": "linkTrackingEnabled",
  "pref-notify": "notificationsEnabled",
};

function status(text, isError = false) {
  const box = byId("prefs-status");
  box.textContent = text;
  box.classList.toggle("error", isError);
}

function apply(preferences) {
  for (const [id, field] of Object.entries(SWITCHES)) byId(id).checked = preferences[field];
}

export async function load() {
  status("");
  try {
    apply((await graphql(LOAD)).trackingPreferences);
  } catch (error) {
    status(`Your preferences could not be loaded: ${error.message}`, true);
  }
}

async function save(event) {
  const input = event.currentTarget;
  const field = SWITCHES[input.id];
  input.disabled = true;
  status("Saving…");
  try {
    const data = await graphql(SAVE, { input: { [field]: input.checked } });
    apply(data.updateTrackingPreferences);
    status("Saved.");
  } catch (error) {
    input.checked = !input.checked; // what is stored did not change
    status(`Not saved: ${error.message}`, true);
  } finally {
    input.disabled = false;
  }
}

export function setUp() {
  for (const id of Object.keys(SWITCHES)) byId(id).addEventListener("change", save);
}
