"""Every error code is a member of ErrorCode, and no published code goes away."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from plugin.errors import ErrorCode, MailbeaconError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("plugin", "consent", "graphql_schema", "workers")

# Every code clients and operators may have met. Codes are added to ErrorCode, never
# renamed or removed: add a new one here too, never take one out.
PUBLISHED = {
    "INTERNAL", "BAD_SETTINGS", "DATABASE_NOT_MIGRATED", "SERVICE_UNAVAILABLE",
    "DATABASE_UNREACHABLE", "DATABASE_AUTH_FAILED", "DATABASE_MISSING", "REDIS_UNREACHABLE",
    "ADDRESS_IN_USE", "UNKNOWN_HOOK", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND",
    "BAD_REQUEST", "REQUEST_TOO_LARGE", "DATABASE_UNAVAILABLE", "QUERY_TOO_LARGE",
    "QUERY_TOO_COSTLY", "GRAPHQL_VALIDATION_FAILED", "INVALID_INPUT", "INVALID_TEXT",
    "TOO_LARGE", "HEADER_INJECTION", "INVALID_ADDRESS", "DUPLICATE_RECIPIENT", "NO_RECIPIENT",
    "TOO_MANY_RECIPIENTS", "EMPTY_BODY", "TEMPLATE_ERROR", "TOO_MANY_LINKS",
    "INVALID_PAGE_SIZE", "INVALID_CURSOR", "INVALID_MESSAGE", "USER_EXISTS",
    "AMBIGUOUS_TOKEN_PREFIX", "MAILBOX_UNREACHABLE", "MAILBOX_TLS_FAILED",
    "MAILBOX_TLS_REQUIRED", "MAILBOX_AUTH_FAILED", "MAILBOX_NO_SENT_FOLDER",
    "RECIPIENT_REFUSED", "FORM_USED", "DELIVERY_FAILED", "UNKNOWN_JOB",
}

# The codes README.md and SECURITY.md name for clients and operators, and those the
# schema's descriptions name.
IN_README = {
    "INVALID_INPUT", "INVALID_TEXT", "HEADER_INJECTION", "INVALID_PAGE_SIZE", "TOO_MANY_LINKS",
    "QUERY_TOO_COSTLY", "REQUEST_TOO_LARGE", "DATABASE_UNAVAILABLE", "RECIPIENT_REFUSED",
    "MAILBOX_UNREACHABLE", "MAILBOX_TLS_FAILED", "MAILBOX_TLS_REQUIRED", "MAILBOX_AUTH_FAILED",
    "MAILBOX_NO_SENT_FOLDER",
}
IN_SCHEMA_DESCRIPTIONS = {"RECIPIENT_REFUSED"}


def sources() -> list[Path]:
    return sorted(
        path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def is_error_code(node: ast.expr) -> bool:
    """``ErrorCode.X`` or ``ErrorCode.X.value`` with X a member."""
    if isinstance(node, ast.Attribute) and node.attr == "value":
        node = node.value
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "ErrorCode"
        and node.attr in ErrorCode.__members__
    )


def code_literals(path: Path, root: Path = ROOT) -> list[str]:
    """Where a file gives an error a code that is not a member of ErrorCode: a string
    literal or an unknown member as ``code=``, a ``code =`` class attribute, a
    ``{"code": ...}`` entry or MailboxError's first argument."""
    found: list[str] = []
    tree = ast.parse(path.read_text())

    def check(node: ast.expr, where: str) -> None:
        if isinstance(node, ast.Constant) or (
            isinstance(node, ast.Attribute) and "ErrorCode" in ast.unparse(node)
            and not is_error_code(node)
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno} {where} {ast.unparse(node)}")

    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "code":
            check(node.value, "code=")
        elif isinstance(node, ast.ClassDef):
            for statement in node.body:
                targets = (
                    statement.targets if isinstance(statement, ast.Assign)
                    else [statement.target] if isinstance(statement, ast.AnnAssign) else []
                )
                value = getattr(statement, "value", None)
                if value is not None and any(
                    isinstance(t, ast.Name) and t.id == "code" for t in targets
                ):
                    check(value, f"{node.name}.code =")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "code":
                    check(value, '{"code": ...}')
        elif (
            isinstance(node, ast.Call) and ast.unparse(node.func).endswith("MailboxError")
            and node.args
        ):
            check(node.args[0], "MailboxError(...)")
    return found


def test_every_code_given_anywhere_is_a_member_of_error_code() -> None:
    found = [hit for path in sources() for hit in code_literals(path)]
    assert found == []


def test_the_scan_finds_a_code_given_as_a_string(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "class E(ValidationError):\n    code = 'OOPS'\n"
        "raise ValidationError('x', code='NOPE')\n"
        "MailboxError(ErrorCode.NO_SUCH, 'x')\n"
        "ok = ValidationError('x', code=ErrorCode.TOO_LARGE)\n"
    )
    assert sorted(hit.split(" ", 1)[1] for hit in code_literals(sample, tmp_path)) == [
        "E.code = 'OOPS'", "MailboxError(...) ErrorCode.NO_SUCH", "code= 'NOPE'",
    ]


def every_error_class() -> list[type[MailbeaconError]]:
    for package in PACKAGES:
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, f"{package}."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)
    classes: list[type[MailbeaconError]] = []
    pending: list[type[MailbeaconError]] = [MailbeaconError]
    while pending:
        cls = pending.pop()
        classes.append(cls)
        pending.extend(cls.__subclasses__())
    return classes


def test_every_error_class_has_a_code_of_the_enum() -> None:
    classes = every_error_class()
    assert len(classes) > 20  # the scan did import the domains
    assert [cls for cls in classes if not isinstance(cls.code, ErrorCode)] == []


def test_no_published_code_is_renamed_or_removed() -> None:
    codes = {code.value for code in ErrorCode}
    assert codes >= PUBLISHED, "a published code was renamed or removed"
    assert codes == PUBLISHED, "add the new code to PUBLISHED"
    assert all(code.name == code.value for code in ErrorCode)


@pytest.mark.parametrize("code", sorted(IN_README))
def test_the_codes_the_documents_name_are_unchanged(code: str) -> None:
    assert code in ErrorCode.__members__
    documents = (ROOT / "README.md").read_text() + (ROOT / "SECURITY.md").read_text()
    assert re.search(rf"`{code}`", documents)


def test_the_codes_the_schema_documents_are_members() -> None:
    schema = (ROOT / "schema.graphql").read_text()
    for code in IN_SCHEMA_DESCRIPTIONS:
        assert code in ErrorCode.__members__
        assert code in schema
