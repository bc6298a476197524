"""Mutations, one module each, merged in graphql_schema.schema."""
