// Words for what the API returns: times, counts, event sources, consent states.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });

/** "4 Dec 2026, 15:40" (in the browser's locale and time zone). */
export function when(iso) {
  return iso ? dateTime.format(new Date(iso)) : "";
}

/** Short form for a list: the time today, else the day. */
export function short(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date();
  return date.toDateString() === today.toDateString() ? timeOnly.format(date)
    : dayMonth.format(date);
}

export function times(count) {
  return count === 1 ? "1 time" : `${count} times`;
}

/** The open icon's label: "Opened 2 times, last …" or "Not opened yet". */
export function openedLabel(email) {
  return email.opened
    ? `Opened ${times(email.openCount)}, last ${when(email.lastOpenedAt)}`
    : "Not opened yet";
}

/** The link icon's label: "Clicked 1 time, last …" or "Not clicked yet". */
export function clickedLabel(email) {
  return email.clicked
    ? `Clicked ${times(email.clickCount)}, last ${when(email.lastClickedAt)}`
    : "Not clicked yet";
}

export const STATUS_WORDS = {
  QUEUED: "Queued",
  SENDING: "Sending",
  SENT: "Sent",
  FAILED: "Not delivered",
};

const SOURCE_WORDS = {
  HUMAN: "Person",
  MACHINE: "Machine",
  BOT: "Bot",
  SELF: "You",
};

/** The label of an event's source: Person, Machine, Bot, You, or Duplicate. */
export function sourceLabel(event) {
  if (event.source === "HUMAN" && event.duplicate) return "Duplicate";
  return SOURCE_WORDS[event.source] ?? event.source;
}

/** A recipient's consent state in words. */
export function consentWords(consent) {
  const where = consent.jurisdiction ? ` (${consent.jurisdiction})` : "";
  const status = {
    GRANTED: "consent given",
    DENIED: "refused tracking",
    WITHDRAWN: "withdrew consent",
    UNKNOWN: "no consent recorded",
  }[consent.status] ?? consent.status;
  if (!consent.requiresConsent) {
    if (consent.status === "DENIED" || consent.status === "WITHDRAWN") {
      return `${status}${where}: not tracked`;
    }
    return `no consent needed${where}: may be tracked`;
  }
  return consent.status === "GRANTED" ? `${status}${where}: may be tracked`
    : `consent needed${where}, ${status}: not tracked`;
}

/** Comma- or semicolon-separated addresses, trimmed, without empties. */
export function addresses(text) {
  return text.split(/[,;\s]+/).map((item) => item.trim()).filter(Boolean);
}
