// The public GraphQL API, and nothing else: queries and mutations over HTTP POST with
// the user's bearer token, subscriptions over graphql-transport-ws with the reference
// graphql-ws client (connectionParams carry the token).

import { createClient } from "../../vendor/graphql-ws-6.4.2/client.js";
import { token } from "./session.js";

const endpoint = document.body.dataset.graphql;

/** An error from the API (or the way to it), with words to show and a stable code. */
export class ApiError extends Error {
  constructor(message, code = "ERROR") {
    super(message);
    this.code = code;
  }
}

const listeners = { unauthenticated: [], live: [] };

/** on("unauthenticated", fn) when the token is refused; on("live", fn(state)) for the socket. */
export function on(event, callback) {
  listeners[event].push(callback);
}

function emit(event, ...args) {
  for (const callback of listeners[event]) callback(...args);
}

function firstError(errors) {
  const [error] = errors;
  const code = error.extensions?.code ?? "ERROR";
  return new ApiError(error.message || "the server reported an error", code);
}

/** Run a query or mutation; resolves to `data`, rejects with an ApiError in words. */
export async function graphql(query, variables = {}, { bearer = token() } = {}) {
  let response;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        Authorization: `Bearer ${bearer ?? ""}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError("The server could not be reached. Check your connection and try again.",
      "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} ${response.statusText} `
      + "instead of a GraphQL response.", "BAD_RESPONSE");
  }
  if (response.status === 401) {
    const error = body.errors ? firstError(body.errors) : new ApiError("Not signed in",
      "UNAUTHENTICATED");
    emit("unauthenticated", error);
    throw error;
  }
  if (body.errors?.length) throw firstError(body.errors);
  if (!response.ok || !body.data) {
    throw new ApiError(`The server answered ${response.status} without data.`, "BAD_RESPONSE");
  }
  return body.data;
}

let client = null;

function socketUrl() {
  const url = new URL(endpoint, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function liveClient() {
  if (client) return client;
  client = createClient({
    url: socketUrl(),
    connectionParams: () => ({ Authorization: `Bearer ${token() ?? ""}` }),
    lazy: false,
    retryAttempts: Infinity,
    // Reconnect after a network drop or server restart, not after a refused token.
    shouldRetry: (event) => !(event && typeof event.code === "number" && event.code === 4403),
    onNonLazyError: () => {},
  });
  client.on("connected", () => emit("live", "connected"));
  client.on("closed", (event) => {
    emit("live", event?.code === 4403 ? "refused" : "reconnecting");
  });
  return client;
}

function socketError(error) {
  if (Array.isArray(error)) return firstError(error);
  if (error && typeof error.code === "number") {
    return error.code === 4403
      ? new ApiError("Live updates were refused: the API token is not valid.", "UNAUTHENTICATED")
      : new ApiError(`Live updates stopped (connection closed, code ${error.code}).`, "LIVE");
  }
  return new ApiError(error?.message ?? "Live updates stopped.", "LIVE");
}

/** Subscribe; onData(data) for each result, onError(ApiError). Returns the unsubscribe. */
export function subscribe(query, onData, onError) {
  return liveClient().subscribe({ query }, {
    next: (result) => (result.errors?.length ? onError(firstError(result.errors))
      : onData(result.data)),
    error: (error) => onError(socketError(error)),
    complete: () => {},
  });
}

/** Close the socket (sign out): the next subscribe opens a new one with the new token. */
export function disconnect() {
  if (client) {
    client.dispose();
    client = null;
  }
}
