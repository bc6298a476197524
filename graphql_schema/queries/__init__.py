"""Query fields, one module per domain, merged in graphql_schema.schema."""
