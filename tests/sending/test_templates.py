"""Template rendering in its sandboxed child process."""

from __future__ import annotations

import pytest

from plugin.errors import TemplateError
from plugin.sending.templates import render_parts


async def _render(html: str | None, text: str | None = None, subject: str = "S {{ who }}",
                  **context: object) -> tuple[str, str | None, str | None]:
    parts = await render_parts(subject=subject, html=html, text=text,
                               context={"who": "<Ann & Bob>", **context},
                               max_chars=1_000_000, timeout=5)
    return parts.subject, parts.html, parts.text


async def test_html_is_escaped_text_and_subject_are_not() -> None:
    subject, html, text = await _render("<p>{{ who }}</p>", "Hi {{ who }}")
    assert subject == "S <Ann & Bob>"
    assert html == "<p>&lt;Ann &amp; Bob&gt;</p>"
    assert text == "Hi <Ann & Bob>"


async def test_loops_filters_and_unicode_work() -> None:
    _, html, _ = await _render(
        "{% for item in items %}<li>{{ item.name|upper }} {{ '%.2f'|format(item.price) }}</li>"
        "{% endfor %}\n", None, items=[{"name": "thé", "price": 2}])
    assert html == "<li>THÉ 2.00</li>\n"


async def test_error_names_the_part() -> None:
    with pytest.raises(TemplateError) as caught:
        await _render("<p>ok</p>", "{{ nope }}")
    assert caught.value.field == "text" and caught.value.code == "TEMPLATE_ERROR"


async def test_mutating_context_lists_is_refused() -> None:
    with pytest.raises(TemplateError, match="not allowed"):
        await _render("{{ items.append(1) }}", items=[])


async def test_timeout_applies() -> None:
    with pytest.raises(TemplateError, match=r"longer than 0\.5 s"):
        await render_parts(
            subject="s", text=None, context={}, max_chars=1000, timeout=0.5,
            html="{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        )
