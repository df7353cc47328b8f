"""E-mails rendered from the catalogue: both languages, both parts, safe with hostile data."""

from __future__ import annotations

import pytest

from dinamis_notify.domain.messages import CATALOGUE
from dinamis_notify.domain.routing import Kind, route
from dinamis_notify.service.emails import render_digest, render_notification
from dinamis_shared.events import Event, ProductReadyV1, RequestRejectedV1
from dinamis_testkit.examples import example_events

EXAMPLES = {type(e): e for e in example_events()}
WEB = "https://dinamis.example/app"


def render(kind: Kind, summary: dict, language: str = "fr", name: str = "Marie Curie"):
    return render_notification(
        kind,
        summary,
        language=language,
        sender="DINAMIS <no-reply@dinamis.example>",
        to="marie@inrae.example",
        name=name,
        web_url=WEB,
        headers={"X-Dinamis-Event-Id": "ce-1"},
    )


def parts(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def summary_of(model: type[Event], **changes) -> dict:
    event = model.model_validate({**EXAMPLES[model].model_dump(), **changes})
    return route(event, "ce-1").summary


def test_french_and_english_product_ready():
    summary = summary_of(ProductReadyV1, user_id="u1")
    fr, en = render(Kind.PRODUCT_READY, summary), render(Kind.PRODUCT_READY, summary, "en")
    assert fr["Subject"] == f"Votre produit {summary['product_id']} est prêt"
    assert en["Subject"] == f"Your product {summary['product_id']} is ready"
    fr_text, fr_html = parts(fr)
    en_text, _ = parts(en)
    assert "Bonjour Marie Curie," in fr_text and "Hello Marie Curie," in en_text
    link = f"{WEB}/commandes/{summary['order_id']}"
    assert link in fr_text and f'href="{link}"' in fr_html
    assert "téléchargé jusqu'au" in fr_text and "downloaded until" in en_text
    assert fr["Content-Language"] == "fr" and en["Content-Language"] == "en"


def test_hostile_values_are_escaped_and_headers_stay_single_line():
    summary = summary_of(RequestRejectedV1, reason='<script>alert(1)</script> "x" & y', request_id="REQ-1")
    summary["request_id"] = "REQ-1\r\nBcc: victim@example.org"  # as if a field carried a header
    message = render(Kind.REQUEST_REJECTED, summary, name="Eve\r\nBcc: x@y.z")
    text, html = parts(message)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>alert(1)</script>" in text  # plain text shows it as text
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["Bcc"] is None
    assert "REQ-1%0D%0ABcc" in text  # the id is URL-quoted in the link


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_kind_renders_in_both_languages(kind, language):
    summary = {
        k: "x"
        for k in (
            "request_id order_id product_id item_id organisation_id scene_id supplier supplier_product_id "
            "reason reason_code name category status kind sensor_family quota_period"
        ).split()
    }
    summary.update(area_km2=12.5, reserved_km2=12.5, covered_share=0.4, expires_at="2026-07-01T00:00:00Z")
    message = render(kind, summary, language)
    text, _ = parts(message)
    assert message["Subject"] and "{{" not in text and "{%" not in text
    entry = CATALOGUE[kind]
    assert (entry.fr if language == "fr" else entry.en).link_label in text


def test_digest_lists_items():
    items = [{"subject": "[DINAMIS] Livraison refusée : S1", "url": f"{WEB}/operations/livraisons/S1"}] * 3
    message = render_digest(
        items,
        language="fr",
        sender="DINAMIS <no-reply@dinamis.example>",
        to="ops@dinamis.example",
        name="Ops",
        web_url=WEB,
        headers={},
    )
    assert message["Subject"] == "[DINAMIS] 3 notification(s) d'exploitation"
    assert parts(message)[0].count("Livraison refusée") == 3
