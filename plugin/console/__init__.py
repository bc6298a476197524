"""The reference web console at ``/console``: a page that uses only the public GraphQL API."""
