// The API token lives in this tab's sessionStorage only: never in a URL, a cookie or
// localStorage, and it is gone when the tab closes or the user signs out.

const KEY = "mailbeacon.apiToken";

export function token() {
  return sessionStorage.getItem(KEY);
}

export function remember(value) {
  sessionStorage.setItem(KEY, value);
}

export function forget() {
  sessionStorage.removeItem(KEY);
}
