// Starts GraphiQL on mailbeacon's /graphql page (a file, not an inline script: the page's
// Content-Security-Policy runs no inline code).
"use strict";

(function () {
  // The page is served at the GraphQL endpoint itself (/graphql, or under a host's prefix).
  const endpoint = window.location.href.split(/[?#]/)[0];
  const TOKEN_HINT = "<your API token>";
  const HEADERS_TEMPLATE = '{\n  "Authorization": "Bearer ' + TOKEN_HINT + '"\n}';
  const START_QUERY =
    "# Every request needs an API token (`mailbeacon create-token`, or the console):\n" +
    "# put it in the Headers tab below, then run this query (Ctrl-Enter).\n" +
    "{\n  me {\n    email\n  }\n}\n";

  const httpFetcher = GraphiQL.createFetcher({ url: endpoint });

  function authorization(headers) {
    for (const name of Object.keys(headers || {})) {
      if (name.toLowerCase() === "authorization") return String(headers[name]);
    }
    return "";
  }

  // Without a token the server answers 401 to everything, schema introspection included:
  // say what to do instead of sending a request bound to fail.
  function fetcher(params, options) {
    const value = authorization(options && options.headers);
    if (!/^Bearer\s+\S+$/i.test(value) || value.includes(TOKEN_HINT)) {
      return Promise.resolve({
        errors: [
          {
            message:
              'Add your API token in the Headers tab: {"Authorization": "Bearer <token>"}, ' +
              "then run the query again (the schema reloads from the docs pane).",
          },
        ],
      });
    }
    return httpFetcher(params, options);
  }

  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: START_QUERY,
      defaultHeaders: HEADERS_TEMPLATE,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      // A token is a credential: keep it out of the browser's localStorage.
      shouldPersistHeaders: false,
    }),
  );
})();
