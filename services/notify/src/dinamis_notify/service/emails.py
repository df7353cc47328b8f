"""E-mails: a notification rendered (Jinja2) in the recipient's language, with a
plain-text and an HTML part and a link to the web page concerned.

Event fields are data, never template code: the catalogue's Jinja strings are ours,
event values are only substituted into them, and the HTML part escapes them.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from urllib.parse import quote

import jinja2

from dinamis_notify.domain.messages import (
    CATALOGUE,
    DIGEST,
    FOOTER,
    GREETING,
    MEMBERSHIP_STATUS,
    SIGNATURE,
    Text,
)
from dinamis_notify.domain.routing import Kind

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def _km2(value: object) -> str:
    try:
        return f"{float(value):.6g} km²"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def _percent(value: object) -> str:
    try:
        return f"{round(float(value) * 100)} %"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def _day(value: object) -> str:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).strftime("%Y-%m-%d")
    except ValueError:
        return str(value)


def _membership(value: object, language: str) -> str:
    return MEMBERSHIP_STATUS[language].get(str(value), str(value))


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.ChainableUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(km2=_km2, percent=_percent, day=_day, membership=_membership)
    return env


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


def _one_line(text: str, limit: int = 200) -> str:
    """Headers must not carry line breaks (header injection): collapse whitespace."""
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _render_text(text: Text, values: dict) -> tuple[str, list[str]]:
    subject = _one_line(_TEXT.from_string(text.subject).render(values))
    paragraphs = [_TEXT.from_string(p).render(values).strip() for p in text.paragraphs]
    return subject, [p for p in paragraphs if p]


def link_for(kind: Kind, summary: dict, web_url: str) -> str:
    path = CATALOGUE[kind].path
    fields = {k: quote(str(v), safe="") for k, v in summary.items() if v is not None}
    try:
        return web_url.rstrip("/") + path.format(**fields)
    except KeyError:
        return web_url.rstrip("/") + "/"


def _compose(
    *,
    sender: str,
    to: str,
    name: str,
    language: str,
    subject: str,
    paragraphs: list[str],
    link_url: str | None,
    link_label: str,
    items: list[dict],
    web_url: str,
    headers: dict[str, str],
) -> EmailMessage:
    values = {
        "language": language,
        "subject": subject,
        "greeting": GREETING[language].format(name=_one_line(name, 100) or to),
        "paragraphs": paragraphs,
        "items": items,
        "link_url": link_url,
        "link_label": link_label,
        "signature": SIGNATURE[language],
        "footer": FOOTER[language].format(url=web_url.rstrip("/") + "/preferences"),
    }
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((_one_line(name, 100), to))
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="dinamis.notify")
    for header, value in headers.items():
        message[header] = _one_line(value, 300)
    message.set_content(_TEXT.get_template("email.txt.j2").render(values))
    message.add_alternative(_HTML.get_template("email.html.j2").render(values), subtype="html")
    message["Content-Language"] = language  # after the parts: set_content resets Content-* headers
    return message


def render_notification(
    kind: Kind,
    summary: dict,
    *,
    language: str,
    sender: str,
    to: str,
    name: str,
    web_url: str,
    headers: dict[str, str],
) -> EmailMessage:
    entry = CATALOGUE[kind]
    text = entry.fr if language == "fr" else entry.en
    subject, paragraphs = _render_text(text, summary)
    return _compose(
        sender=sender,
        to=to,
        name=name,
        language=language,
        subject=subject,
        paragraphs=paragraphs,
        link_url=link_for(kind, summary, web_url),
        link_label=text.link_label,
        items=[],
        web_url=web_url,
        headers=headers,
    )


def digest_item(kind: Kind, summary: dict, language: str, web_url: str) -> dict:
    entry = CATALOGUE[kind]
    subject, _ = _render_text(entry.fr if language == "fr" else entry.en, summary)
    return {"subject": subject, "url": link_for(kind, summary, web_url)}


def render_digest(
    items: list[dict], *, language: str, sender: str, to: str, name: str, web_url: str, headers: dict
) -> EmailMessage:
    text = DIGEST[language]
    subject, paragraphs = _render_text(text, {"count": len(items)})
    return _compose(
        sender=sender,
        to=to,
        name=name,
        language=language,
        subject=subject,
        paragraphs=paragraphs,
        link_url=None,
        link_label="",
        items=items,
        web_url=web_url,
        headers=headers,
    )
