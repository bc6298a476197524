"""The GraphQL API: strawberry types, queries, mutations and subscriptions. Resolvers stay thin."""
