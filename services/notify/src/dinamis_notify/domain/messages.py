"""What each kind of notification says, in French and in English.

Each entry: a subject and paragraphs (Jinja expressions over the event's summary,
see `routing.summarise`), and the web page the e-mail links to (a path under the
frontend's public URL, ids URL-quoted by the renderer). The e-mail layout (text and
HTML parts) is in `templates/`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dinamis_notify.domain.routing import Kind


@dataclass(frozen=True)
class Text:
    subject: str
    paragraphs: tuple[str, ...]
    link_label: str


@dataclass(frozen=True)
class Catalogue:
    path: str  # e.g. "/demandes/{request_id}", formatted with URL-quoted summary values
    fr: Text
    en: Text


MEMBERSHIP_STATUS = {
    "fr": {
        "active": "approuvée",
        "refused": "refusée",
        "suspended": "suspendue",
        "expired": "expirée",
        "pending": "en attente",
    },
    "en": {
        "active": "approved",
        "refused": "refused",
        "suspended": "suspended",
        "expired": "expired",
        "pending": "pending",
    },
}

GREETING = {"fr": "Bonjour {name},", "en": "Hello {name},"}
SIGNATURE = {"fr": "L'équipe DINAMIS", "en": "The DINAMIS team"}
FOOTER = {
    "fr": "Vous recevez ce message selon vos préférences de notification : {url}",
    "en": "You receive this message according to your notification preferences: {url}",
}
DIGEST = {
    "fr": Text(
        "[DINAMIS] {{ count }} notification(s) d'exploitation", ("Depuis le dernier récapitulatif :",), ""
    ),
    "en": Text("[DINAMIS] {{ count }} operations notification(s)", ("Since the last digest:",), ""),
}

_REQUEST = "/demandes/{request_id}"

CATALOGUE: dict[Kind, Catalogue] = {
    Kind.REQUEST_RECEIVED: Catalogue(
        _REQUEST,
        Text(
            "Demande {{ request_id }} bien reçue",
            (
                "Votre demande d'acquisition {{ request_id }} ({{ sensor_family }}, {{ area_km2 | km2 }})"
                " a bien été reçue. L'équipe DINAMIS va l'examiner.",
            ),
            "Voir la demande",
        ),
        Text(
            "Request {{ request_id }} received",
            (
                "Your acquisition request {{ request_id }} ({{ sensor_family }}, {{ area_km2 | km2 }})"
                " has been received. The DINAMIS team will review it.",
            ),
            "View the request",
        ),
    ),
    Kind.REQUEST_APPROVED: Catalogue(
        _REQUEST,
        Text(
            "Votre demande {{ request_id }} est acceptée",
            (
                "Votre demande d'acquisition {{ request_id }} a été acceptée.",
                "{% if reserved_km2 %}{{ reserved_km2 | km2 }} sont imputés au quota {{ quota_period }}"
                " de votre organisation.{% endif %}",
            ),
            "Voir la demande",
        ),
        Text(
            "Your request {{ request_id }} is approved",
            (
                "Your acquisition request {{ request_id }} has been approved.",
                "{% if reserved_km2 %}{{ reserved_km2 | km2 }} are charged to your organisation's"
                " {{ quota_period }} quota.{% endif %}",
            ),
            "View the request",
        ),
    ),
    Kind.REQUEST_REJECTED: Catalogue(
        _REQUEST,
        Text(
            "Votre demande {{ request_id }} est refusée",
            (
                "Votre demande d'acquisition {{ request_id }} a été refusée.",
                "{% if reason %}Motif : {{ reason }}{% endif %}",
            ),
            "Voir la demande",
        ),
        Text(
            "Your request {{ request_id }} is refused",
            (
                "Your acquisition request {{ request_id }} has been refused.",
                "{% if reason %}Reason: {{ reason }}{% endif %}",
            ),
            "View the request",
        ),
    ),
    Kind.REQUEST_NEEDS_COFINANCING: Catalogue(
        _REQUEST,
        Text(
            "Votre demande {{ request_id }} nécessite un cofinancement",
            (
                "La surface de votre demande {{ request_id }} dépasse le quota disponible de votre"
                " organisation : elle pourra être acceptée avec un cofinancement.",
                "{% if reason %}{{ reason }}{% endif %}",
            ),
            "Voir la demande",
        ),
        Text(
            "Your request {{ request_id }} needs co-financing",
            (
                "The area of your request {{ request_id }} exceeds your organisation's available quota:"
                " it can be approved with co-financing.",
                "{% if reason %}{{ reason }}{% endif %}",
            ),
            "View the request",
        ),
    ),
    Kind.REQUEST_FULFILLED: Catalogue(
        _REQUEST,
        Text(
            "Votre demande {{ request_id }} est satisfaite",
            ("Les acquisitions de votre demande {{ request_id }} sont disponibles dans le catalogue.",),
            "Voir la demande",
        ),
        Text(
            "Your request {{ request_id }} is fulfilled",
            ("The acquisitions of your request {{ request_id }} are available in the catalogue.",),
            "View the request",
        ),
    ),
    Kind.REQUEST_PARTIALLY_FULFILLED: Catalogue(
        _REQUEST,
        Text(
            "Votre demande {{ request_id }} est partiellement satisfaite",
            (
                "La fenêtre d'acquisition de votre demande {{ request_id }} est close"
                "{% if covered_share is not none %} ; {{ covered_share | percent }} de la zone a été"
                " acquise{% endif %}. La surface non acquise est rendue à votre quota.",
            ),
            "Voir la demande",
        ),
        Text(
            "Your request {{ request_id }} is partially fulfilled",
            (
                "The acquisition window of your request {{ request_id }} has closed"
                "{% if covered_share is not none %}; {{ covered_share | percent }} of the area was"
                " acquired{% endif %}. The area not acquired is returned to your quota.",
            ),
            "View the request",
        ),
    ),
    Kind.REQUEST_EXPIRED: Catalogue(
        _REQUEST,
        Text(
            "Votre demande {{ request_id }} a expiré",
            (
                "La fenêtre d'acquisition de votre demande {{ request_id }} est close sans acquisition"
                " exploitable. La surface réservée est rendue à votre quota.",
            ),
            "Voir la demande",
        ),
        Text(
            "Your request {{ request_id }} has expired",
            (
                "The acquisition window of your request {{ request_id }} has closed without a usable"
                " acquisition. The reserved area is returned to your quota.",
            ),
            "View the request",
        ),
    ),
    Kind.PRODUCT_READY: Catalogue(
        "/commandes/{order_id}",
        Text(
            "Votre produit {{ product_id }} est prêt",
            (
                "Le produit {{ product_id }} (scène {{ item_id }}) de votre commande {{ order_id }}"
                " est prêt.",
                "Il peut être téléchargé jusqu'au {{ expires_at | day }}.",
            ),
            "Télécharger",
        ),
        Text(
            "Your product {{ product_id }} is ready",
            (
                "Product {{ product_id }} (scene {{ item_id }}) of your order {{ order_id }} is ready.",
                "It can be downloaded until {{ expires_at | day }}.",
            ),
            "Download",
        ),
    ),
    Kind.PRODUCT_FAILED: Catalogue(
        "/commandes/{order_id}",
        Text(
            "Le produit {{ product_id }} n'a pas pu être préparé",
            (
                "Le produit {{ product_id }} (scène {{ item_id }}) de votre commande {{ order_id }}"
                " n'a pas pu être préparé.",
                "Motif : {{ reason }}",
            ),
            "Voir la commande",
        ),
        Text(
            "Product {{ product_id }} could not be built",
            (
                "Product {{ product_id }} (scene {{ item_id }}) of your order {{ order_id }} could not"
                " be built.",
                "Reason: {{ reason }}",
            ),
            "View the order",
        ),
    ),
    Kind.MEMBERSHIP_CHANGED: Catalogue(
        "/organisations/{organisation_id}",
        Text(
            "Adhésion de {{ name }} : {{ status | membership('fr') }}",
            (
                "L'adhésion de votre organisation {{ name }} à DINAMIS est {{ status | membership('fr') }}.",
                "{% if reason %}Motif : {{ reason }}{% endif %}",
            ),
            "Voir l'organisation",
        ),
        Text(
            "Membership of {{ name }}: {{ status | membership('en') }}",
            (
                "The DINAMIS membership of your organisation {{ name }} is {{ status | membership('en') }}.",
                "{% if reason %}Reason: {{ reason }}{% endif %}",
            ),
            "View the organisation",
        ),
    ),
    Kind.REVIEW_QUEUE: Catalogue(
        "/operations/demandes/{request_id}",
        Text(
            "[DINAMIS] Demande à examiner : {{ request_id }}",
            (
                "L'organisation {{ organisation_id }} a déposé la demande {{ request_id }}"
                " ({{ kind }}, {{ sensor_family }}, {{ area_km2 | km2 }}).",
            ),
            "Examiner la demande",
        ),
        Text(
            "[DINAMIS] Request to review: {{ request_id }}",
            (
                "Organisation {{ organisation_id }} submitted request {{ request_id }}"
                " ({{ kind }}, {{ sensor_family }}, {{ area_km2 | km2 }}).",
            ),
            "Review the request",
        ),
    ),
    Kind.MEMBERSHIP_REVIEW: Catalogue(
        "/operations/adhesions/{organisation_id}",
        Text(
            "[DINAMIS] Adhésion à examiner : {{ name }}",
            ("L'organisation {{ name }} ({{ category }}) demande à adhérer à DINAMIS.",),
            "Examiner l'adhésion",
        ),
        Text(
            "[DINAMIS] Membership to review: {{ name }}",
            ("Organisation {{ name }} ({{ category }}) applies for DINAMIS membership.",),
            "Review the membership",
        ),
    ),
    Kind.INGEST_REJECTION: Catalogue(
        "/operations/livraisons/{scene_id}",
        Text(
            "[DINAMIS] Livraison refusée : {{ scene_id }}",
            (
                "La livraison {{ supplier_product_id }} du fournisseur {{ supplier }} a été refusée"
                " ({{ reason_code }}).",
                "{{ reason }}",
            ),
            "Voir la livraison",
        ),
        Text(
            "[DINAMIS] Delivery rejected: {{ scene_id }}",
            (
                "Delivery {{ supplier_product_id }} from supplier {{ supplier }} was rejected"
                " ({{ reason_code }}).",
                "{{ reason }}",
            ),
            "View the delivery",
        ),
    ),
    Kind.DELIVERY_FAILURE: Catalogue(
        "/operations/commandes/{order_id}",
        Text(
            "[DINAMIS] Échec de production : {{ product_id }}",
            (
                "Commande {{ order_id }} (organisation {{ organisation_id }}), produit {{ product_id }} :"
                " {{ reason_code }}.",
                "{{ reason }}",
            ),
            "Voir la commande",
        ),
        Text(
            "[DINAMIS] Product build failed: {{ product_id }}",
            (
                "Order {{ order_id }} (organisation {{ organisation_id }}), product {{ product_id }}:"
                " {{ reason_code }}.",
                "{{ reason }}",
            ),
            "View the order",
        ),
    ),
}
