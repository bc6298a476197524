"""Rendering a draft's subject, HTML and text as Jinja2 templates, safely.

When a draft carries a ``context``, its subject, HTML and text are templates
rendered with that context (the subject too, so ``Hello {{ name }}`` works in
both; the caller checks the rendered subject again for header injection).

Hostile templates are expected, so rendering has three fences:

1. Jinja2's ``ImmutableSandboxedEnvironment`` (``render_child.py``): no
   ``__class__``/``__globals__`` walks (``SecurityError``), no mutation of
   lists and dicts, ``range`` capped at 100 000 items; ``StrictUndefined``: a
   missing variable is an error, not an empty string; autoescaping in the HTML,
   none in subject and text (they are not HTML). ``lipsum`` and ``namespace``
   are removed.
2. Output streamed and counted: more than ``settings.max_body_bytes``
   characters in all stops rendering.
3. The render runs in a separate, short-lived process with an address-space
   limit and a wall-clock timeout (``settings.template_timeout_seconds``),
   killed when late. Only a process can stop work that a thread cannot
   interrupt (a C-level ``'x' * 10**12``, nested 100 000 x 100 000 loops, a
   huge join). It costs a process start (~50 ms) per templated send; drafts
   without ``context`` are never rendered.

Any failure is a ``TemplateError`` (a UserError in the payload): nothing is
stored or sent for a template that does not render.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugin.errors import TemplateError

__all__ = ["RenderedParts", "render_parts"]

_CHILD = Path(__file__).with_name("render_child.py")
# The child's address space: the interpreter and Jinja2 take well under 100 MB
# of it; the rest is room for the output (characters of up to 4 bytes, copied a few times).
_BASE_MEMORY = 512 * 1024 * 1024
_MEMORY_PER_OUTPUT_CHAR = 16


@dataclass(frozen=True)
class RenderedParts:
    """A rendered subject and bodies (None where the draft had none)."""

    subject: str
    html: str | None
    text: str | None


async def render_parts(
    *,
    subject: str,
    html: str | None,
    text: str | None,
    context: dict[str, Any],
    max_chars: int,
    timeout: float,
) -> RenderedParts:
    """Render the three parts with ``context``; raise TemplateError on any failure."""
    try:
        job = json.dumps(
            {"subject": subject, "html": html, "text": text, "context": context, "max": max_chars}
        ).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError) as error:
        raise TemplateError(f"the context cannot be used: {error}", field="context") from None
    memory = _BASE_MEMORY + _MEMORY_PER_OUTPUT_CHAR * max_chars
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", str(_CHILD), str(memory),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(job), timeout)
    except TimeoutError:
        raise TemplateError(f"the template took longer than {timeout:g} s to render") from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    try:
        answer = json.loads(out)
    except ValueError:
        answer = {"error": {"field": None, "message": "the template used too many resources"}}
    if "ok" in answer:
        parts = answer["ok"]
        return RenderedParts(subject=parts["subject"], html=parts["html"], text=parts["text"])
    raise TemplateError(answer["error"]["message"], field=answer["error"]["field"])
