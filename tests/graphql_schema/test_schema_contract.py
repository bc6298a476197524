"""The served schema is exported to schema.graphql and stays a superset of the contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
)

from graphql_schema.schema import schema_sdl

ROOT = Path(__file__).resolve().parents[2]
# A copy of the frontend's contract, kept in the repository so that a clean clone tests it.
CONTRACT = ROOT / "tests" / "data" / "contract" / "schema.graphql"


def contract_problems(contract: GraphQLSchema, served: GraphQLSchema) -> list[str]:
    """Everything of the contract that the served schema lacks or types differently."""
    problems: list[str] = []
    for name, expected in contract.type_map.items():
        if name.startswith("__"):
            continue
        actual = served.type_map.get(name)
        if actual is None:
            problems.append(f"type {name} is missing")
            continue
        if type(actual) is not type(expected):
            problems.append(f"{name} is a {type(actual).__name__}, not {type(expected).__name__}")
            continue
        if isinstance(expected, GraphQLEnumType):
            assert isinstance(actual, GraphQLEnumType)
            problems += [
                f"enum value {name}.{v} is missing"
                for v in expected.values
                if v not in actual.values
            ]
        if isinstance(expected, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            assert isinstance(
                actual, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)
            )
            for field_name, field in expected.fields.items():
                served_field = actual.fields.get(field_name)
                if served_field is None:
                    problems.append(f"field {name}.{field_name} is missing")
                    continue
                if str(served_field.type) != str(field.type):
                    problems.append(f"{name}.{field_name} is {served_field.type}, not {field.type}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    served_arg = served_field.args.get(arg_name)
                    if served_arg is None:
                        problems.append(f"argument {name}.{field_name}({arg_name}) is missing")
                    elif str(served_arg.type) != str(arg.type):
                        problems.append(
                            f"{name}.{field_name}({arg_name}) is {served_arg.type}, not {arg.type}"
                        )
                    elif (
                        arg.default_value is not None
                        and served_arg.default_value != arg.default_value
                    ):
                        problems.append(f"{name}.{field_name}({arg_name}) default differs")
                # A new required argument would break the frontend's existing calls.
                for arg_name, served_arg in getattr(served_field, "args", {}).items():
                    if (
                        arg_name not in getattr(field, "args", {})
                        and str(served_arg.type).endswith("!")
                        and served_arg.default_value is None
                    ):
                        problems.append(f"{name}.{field_name} adds a required argument {arg_name}")
    return problems


def test_the_exported_schema_is_fresh() -> None:
    exported = (ROOT / "schema.graphql").read_text()
    assert exported == schema_sdl(), "schema.graphql is stale: run `mailbeacon schema`"


def test_the_served_schema_is_a_superset_of_the_contract() -> None:
    if not CONTRACT.exists():
        pytest.skip(f"the contract is not beside this checkout ({CONTRACT})")
    problems = contract_problems(build_schema(CONTRACT.read_text()), build_schema(schema_sdl()))
    assert problems == []


def test_the_superset_check_catches_a_rename() -> None:
    contract = build_schema("type Query { me: User! } type User { id: ID! email: String! }")
    served = build_schema("type Query { me: User! } type User { id: ID! mail: String! }")
    assert contract_problems(contract, served) == ["field User.email is missing"]
    retyped = build_schema("type Query { me: User } type User { id: ID! email: String! }")
    assert contract_problems(contract, retyped) == ["Query.me is User, not User!"]
