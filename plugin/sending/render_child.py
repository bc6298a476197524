"""The child process that renders templates (see plugin.sending.templates).

Run as a script by path (``python -I render_child.py MEMORY_BYTES``): it imports
nothing of mailbeacon, limits its own address space first, reads one JSON job
on stdin and writes one JSON answer on stdout:
``{"ok": {"subject": ..., "html": ..., "text": ...}}`` or
``{"error": {"field": ..., "message": ...}}``.
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
from typing import Any

__all__ = ["main", "render_all"]


class Failure(Exception):
    """A template problem to report to the author."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def render_all(job: dict[str, Any]) -> dict[str, str | None]:
    """Render subject, html and text with ``job["context"]`` within ``job["max"]`` characters."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    envs = {}
    for escaping in (True, False):
        env = ImmutableSandboxedEnvironment(
            autoescape=escaping, undefined=StrictUndefined, keep_trailing_newline=True
        )
        # Output generators and loop-carried state: no use in an email, handy for abuse.
        env.globals.pop("lipsum", None)
        env.globals.pop("namespace", None)
        envs[escaping] = env
    budget = [int(job["max"])]
    out: dict[str, str | None] = {}
    for field, escaping in (("subject", False), ("html", True), ("text", False)):
        source = job.get(field)
        out[field] = None if source is None else _render_one(
            envs[escaping], field, source, job["context"], budget
        )
    return out


def _render_one(
    env: Any, field: str, source: str, context: dict[str, Any], budget: list[int]
) -> str:
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError

    try:
        template = env.from_string(source)
        chunks: list[str] = []
        for chunk in template.generate(context):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise Failure(field, "the rendered email is larger than the size limit")
            chunks.append(chunk)
        return "".join(chunks)
    except TemplateSyntaxError as error:
        message = f"template syntax error on line {error.lineno}: {error.message}"
        raise Failure(field, message) from None
    except UndefinedError as error:
        raise Failure(field, f"undefined variable in the template: {error.message}") from None
    except SecurityError as error:
        raise Failure(field, f"the template tried something not allowed: {error}") from None
    except (Failure, MemoryError, RecursionError):
        raise
    except Exception as error:
        raise Failure(field, f"the template failed: {type(error).__name__}: {error}") from None


def main() -> int:
    """Limit memory, render the job on stdin, answer on stdout."""
    memory = int(sys.argv[1])
    with contextlib.suppress(ValueError, OSError):  # a platform without the limit
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        answer: dict[str, Any] = {"ok": render_all(json.load(sys.stdin))}
    except Failure as failure:
        answer = {"error": {"field": failure.field, "message": failure.message}}
    except RecursionError:
        answer = {"error": {"field": None, "message": "the template recurses too deeply"}}
    except MemoryError:
        answer = {"error": {"field": None, "message": "the template needs too much memory"}}
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
