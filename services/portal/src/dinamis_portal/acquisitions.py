"""The acquisition request form ("Demander une acquisition") and how "Mes demandes" reads
the orders service's answers: form fields to the orders service's draft (reading only —
a bbox or a GeoJSON geometry, dates, numbers), readable French states, and the portal's
texts for these pages (registered with `i18n.register`).

No rule lives here: whether a draft is acceptable, its area, quota, co-financing and
overlaps are the orders service's answers (`POST /v1/requests/quote`), shown as they come."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from dinamis_portal.aoi import AoiProblem, parse_aoi_field
from dinamis_portal.i18n import Lang, register, text

# The form's fields (names of the HTML inputs), all strings.
FIELDS = (
    "kind",
    "famille",
    "aoi",
    "debut",
    "fin",
    "nuages",
    "incidence",
    "priorite",
    "titre",
    "justification",
)
MAX_FIELD = {"aoi": 400_000, "justification": 8000, "titre": 200}
KINDS = ("tasking", "archive")
FAMILIES = ("pleiades-neo", "pleiades", "spot-6-7")
PRIORITIES = ("standard", "high", "urgent")
DEFAULTS = {
    "kind": "tasking",
    "famille": "pleiades-neo",
    "nuages": "20",
    "incidence": "30",
    "priorite": "standard",
}
# Where the orders service's field errors belong on the form.
ORDERS_FIELDS = {
    "kind": "kind",
    "sensor_family": "famille",
    "aoi": "aoi",
    "window": "debut",
    "title": "titre",
    "justification": "justification",
    "max_cloud_cover": "nuages",
    "max_incidence_deg": "incidence",
    "priority": "priorite",
}
STATES = (
    "submitted",
    "under_review",
    "needs_cofinancing",
    "approved",
    "rejected",
    "in_progress",
    "fulfilled",
    "partially_fulfilled",
    "expired",
    "cancelled",
    "cancelling",
)
# DSFR badge per state (colour only; the text says the state).
BADGES = {
    "submitted": "fr-badge--info",
    "under_review": "fr-badge--info",
    "needs_cofinancing": "fr-badge--warning",
    "approved": "fr-badge--success",
    "in_progress": "fr-badge--new",
    "fulfilled": "fr-badge--success",
    "partially_fulfilled": "fr-badge--success",
    "rejected": "fr-badge--error",
    "expired": "fr-badge--error",
    "cancelled": "",
    "cancelling": "fr-badge--warning",
}


def cleaned(raw: dict[str, Any]) -> dict[str, str]:
    """The form's fields as strings (absent: empty), each cut to its maximum length."""
    values = {}
    for name in FIELDS:
        value = raw.get(name)
        value = value if isinstance(value, str) else ""
        values[name] = value.strip()[: MAX_FIELD.get(name, 100)]
    return values


def with_defaults(values: dict[str, str] | None = None) -> dict[str, str]:
    found = {name: "" for name in FIELDS}
    found.update(DEFAULTS)
    found.update({k: v for k, v in (values or {}).items() if k in FIELDS})
    return found


@dataclass
class Parsed:
    """The orders service's draft (`RequestDraft`), and the fields that could not be read."""

    draft: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def parse_aoi(raw: str) -> dict[str, Any] | None:
    """Anything the AOI tools read (bbox, GeoJSON, WKT, KML, GPX: `parse_aoi_field`) as one
    geometry; None when empty or unreadable. The orders service judges the geometry itself
    (validity, size, France)."""
    raw = raw.strip()
    if not raw:
        return None
    found = parse_aoi_field(raw)
    return None if isinstance(found, AoiProblem) else found


def _number(raw: str) -> float | None:
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def to_draft(values: dict[str, str], lang: Lang) -> Parsed:
    """The draft the orders service reads, from the form. Empty fields are left out (the
    quote needs no title or justification; a submission does and the orders service says so)."""
    draft: dict[str, Any] = {"kind": values["kind"], "sensor_family": values["famille"]}
    errors: dict[str, str] = {}
    missing: list[str] = []
    if values["priorite"]:
        draft["priority"] = values["priorite"]
    if values["aoi"]:
        aoi = parse_aoi(values["aoi"])
        if aoi is None:
            errors["aoi"] = text("req.error.aoi", lang)
        else:
            draft["aoi"] = aoi
    else:
        missing.append("aoi")
    start = end = None
    for name in ("debut", "fin"):
        if not values[name]:
            missing.append(name)
            continue
        try:
            day = date.fromisoformat(values[name])
        except ValueError:
            errors[name] = text("req.error.date", lang)
            continue
        if name == "debut":
            start = day
        else:
            end = day
    if start and end:
        # Whole days, in UTC: from the start day's first second to the end day's last.
        draft["window"] = {
            "start": f"{start.isoformat()}T00:00:00Z",
            "end": f"{(end + timedelta(days=1)).isoformat()}T00:00:00Z",
        }
    for name, key in (("nuages", "max_cloud_cover"), ("incidence", "max_incidence_deg")):
        if values[name]:
            number = _number(values[name])
            if number is None:
                errors[name] = text("req.error.number", lang)
            else:
                draft[key] = number
    if values["titre"]:
        draft["title"] = values["titre"]
    if values["justification"]:
        draft["justification"] = values["justification"]
    return Parsed(draft, errors, missing)


def field_errors(errors: list[dict[str, Any]], lang: Lang) -> dict[str, str]:
    """The orders service's invalid-input answer (`errors`: location and message), by form
    field; the message is the orders service's own."""
    found: dict[str, str] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc") or [] if p != "body"]
        name = ORDERS_FIELDS.get(loc[0], "") if loc else ""
        message = str(error.get("msg") or "").removeprefix("Value error, ")
        found.setdefault(name, message)
    return found


def state_text(state: str, lang: Lang) -> str:
    return text(f"req.state.{state}", lang) if state in STATES else state


def badge(state: str) -> str:
    return BADGES.get(state, "")


def percent(share: Any, lang: Lang) -> str:
    try:
        value = float(share) * 100
    except (TypeError, ValueError):
        return "—"
    shown = f"{value:.0f}" if value >= 10 or value == 0 else f"{value:.1f}"
    return f"{shown.replace('.', ',') if lang == 'fr' else shown} %"


def number(value: Any, lang: Lang) -> str:
    """A number as people write it (15, 12,5); "—" when there is none."""
    try:
        found = float(value)
    except (TypeError, ValueError):
        return "—"
    shown = f"{found:.2f}".rstrip("0").rstrip(".")
    return shown.replace(".", ",") if lang == "fr" else shown


def km2(value: Any, lang: Lang) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    shown = f"{number:,.1f}"
    if lang == "fr":
        shown = shown.replace(",", "\u202f").replace(".", ",")
    return f"{shown} km²"


def euros(value: Any, lang: Lang) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    shown = f"{number:,.2f}"
    if lang == "fr":
        return shown.replace(",", "\u202f").replace(".", ",") + " €"
    return f"€{shown}"


def history_label(change: str, lang: Lang) -> str:
    """A history entry's change (the orders service's action names) in words."""
    if change.startswith("scene "):
        return text("req.history.scene", lang, scene=change.removeprefix("scene "))
    key = f"req.history.{change.replace(' ', '_')}"
    try:
        return text(key, lang)
    except KeyError:
        return change


register(
    {
        "nav.requests": ("Mes demandes", "My requests"),
        "nav.request.new": ("Demander une acquisition", "Request an acquisition"),
        "req.new.title": ("Demander une acquisition", "Request an acquisition"),
        "req.new.lead": (
            "L'appel permanent : demandez une image d'archive ou une programmation de satellite. "
            "Le devis se met à jour pendant que vous remplissez le formulaire.",
            "The permanent call: ask for archive imagery or a satellite tasking. "
            "The quote updates as you fill in the form.",
        ),
        "req.login": (
            "Connectez-vous pour demander une acquisition et suivre vos demandes.",
            "Log in to request an acquisition and follow your requests.",
        ),
        "req.stepper.step": ("Étape {n} sur {total}", "Step {n} of {total}"),
        "req.stepper.next": ("Étape suivante :", "Next step:"),
        "req.step.kind": ("Type de demande", "Kind of request"),
        "req.step.aoi": ("Zone d'intérêt", "Area of interest"),
        "req.step.window": ("Fenêtre et contraintes", "Window and constraints"),
        "req.step.why": ("Justification", "Justification"),
        "req.previous": ("Étape précédente", "Previous step"),
        "req.continue": ("Étape suivante", "Next step"),
        "req.kind": ("Type de demande", "Kind of request"),
        "req.kind.tasking": ("Programmation (nouvelle acquisition)", "Tasking (new acquisition)"),
        "req.kind.tasking.hint": (
            "Le satellite est programmé pendant la fenêtre choisie.",
            "The satellite is tasked during the chosen window.",
        ),
        "req.kind.archive": ("Archive (images déjà acquises)", "Archive (imagery already acquired)"),
        "req.kind.archive.hint": (
            "Des images existantes du fournisseur, acquises entre les dates choisies.",
            "Existing supplier imagery acquired between the chosen dates.",
        ),
        "req.family": ("Famille de capteurs", "Sensor family"),
        "req.family.pleiades-neo": ("Pléiades Neo (30 cm)", "Pléiades Neo (30 cm)"),
        "req.family.pleiades": ("Pléiades (50 cm)", "Pléiades (50 cm)"),
        "req.family.spot-6-7": ("SPOT 6/7 (1,5 m)", "SPOT 6/7 (1.5 m)"),
        "req.aoi": ("Zone d'intérêt", "Area of interest"),
        "req.aoi.hint": (
            "Une emprise ouest,sud,est,nord en degrés (ex. 4.80,45.72,4.90,45.78) ou une géométrie "
            "GeoJSON (Polygon ou MultiPolygon, WGS84).",
            "A bounding box west,south,east,north in degrees (e.g. 4.80,45.72,4.90,45.78) or a GeoJSON "
            "geometry (Polygon or MultiPolygon, WGS84).",
        ),
        "req.aoi.map": ("Carte de la zone demandée", "Map of the requested area"),
        "req.start": ("Début de la fenêtre", "Window start"),
        "req.end": ("Fin de la fenêtre (incluse)", "Window end (included)"),
        "req.date.hint": ("Format : jj/mm/aaaa", "Format: dd/mm/yyyy"),
        "req.window.hint": (
            "Programmation : la période d'acquisition souhaitée. Archive : les dates d'acquisition "
            "des images recherchées.",
            "Tasking: the wished acquisition period. Archive: the acquisition dates of the imagery sought.",
        ),
        "req.cloud": ("Couverture nuageuse maximale (%)", "Maximum cloud cover (%)"),
        "req.incidence": ("Angle d'incidence maximal (degrés)", "Maximum incidence angle (degrees)"),
        "req.priority": ("Priorité", "Priority"),
        "req.priority.standard": ("Normale", "Standard"),
        "req.priority.high": ("Haute", "High"),
        "req.priority.urgent": ("Urgente (crise)", "Urgent (crisis)"),
        "req.title": ("Intitulé de la demande", "Title of the request"),
        "req.justification": ("Justification", "Justification"),
        "req.justification.hint": (
            "Le projet que ces images servent (20 caractères au moins).",
            "The project this imagery serves (20 characters at least).",
        ),
        "req.quote": ("Devis", "Quote"),
        "req.quote.live": (
            "Calculé par le service des demandes à chaque modification.",
            "Computed by the orders service at each change.",
        ),
        "req.quote.waiting": (
            "Renseignez la zone d'intérêt et la fenêtre pour obtenir le devis.",
            "Fill in the area of interest and the window to get the quote.",
        ),
        "req.quote.refused": ("Devis impossible : {reason}", "No quote: {reason}"),
        "req.quote.area": ("Surface", "Area"),
        "req.quote.period": ("Période de quota", "Quota period"),
        "req.quote.available": ("Quota disponible", "Quota available"),
        "req.quote.after": ("Quota restant après la demande", "Quota left after this request"),
        "req.quote.cofinancing": ("Co-financement nécessaire", "Co-financing needed"),
        "req.quote.cofinancing.detail": (
            "{km2} au-delà du quota, à {price} le km² : {amount} HT",
            "{km2} beyond the quota, at {price} per km²: {amount} excl. VAT",
        ),
        "req.quote.cofinancing.none": (
            "Aucun : la demande tient dans le quota",
            "None: the request fits the quota",
        ),
        "req.quote.catalogue": ("Déjà dans le catalogue", "Already in the catalogue"),
        "req.quote.catalogue.unknown": ("inconnu (catalogue injoignable)", "unknown (catalogue unreachable)"),
        "req.quote.warnings": ("Avertissements", "Warnings"),
        "req.quote.warnings.none": ("Aucun avertissement.", "No warning."),
        "req.save": ("Enregistrer le brouillon", "Save the draft"),
        "req.review": ("Vérifier et envoyer", "Review and send"),
        "req.saved": ("Brouillon enregistré.", "Draft saved."),
        "req.resumed": ("Brouillon repris : {when}", "Draft resumed: {when}"),
        "req.drafts": ("Mes brouillons", "My drafts"),
        "req.drafts.none": ("Aucun brouillon.", "No draft."),
        "req.draft.untitled": ("Brouillon sans titre", "Untitled draft"),
        "req.draft.resume": ("Reprendre", "Resume"),
        "req.draft.delete": ("Supprimer", "Delete"),
        "req.draft.delete.label": ("Supprimer le brouillon « {title} »", "Delete the draft “{title}”"),
        "req.draft.deleted": ("Brouillon supprimé.", "Draft deleted."),
        "req.draft.saved_at": ("Enregistré le {when}", "Saved on {when}"),
        "req.recap.title": ("Vérifier la demande", "Review the request"),
        "req.recap.lead": (
            "Vérifiez la demande et le devis avant de l'envoyer. Une fois envoyée, elle est examinée par "
            "l'équipe DINAMIS.",
            "Check the request and the quote before sending it. Once sent, the DINAMIS team reviews it.",
        ),
        "req.recap.confirm": ("Confirmer et envoyer la demande", "Confirm and send the request"),
        "req.recap.edit": ("Modifier", "Edit"),
        "req.recap.invalid": (
            "La demande ne peut pas être envoyée en l'état :",
            "The request cannot be sent as it is:",
        ),
        "req.window": ("Fenêtre", "Window"),
        "req.window.value": ("du {start} au {end}", "from {start} to {end}"),
        "req.submitted": (
            "Demande envoyée : elle attend l'examen de l'équipe DINAMIS.",
            "Request sent: it awaits the DINAMIS team's review.",
        ),
        "req.list.title": ("Mes demandes", "My requests"),
        "req.list.lead": (
            "Les demandes d'acquisition de votre organisation, les plus récentes d'abord.",
            "Your organisation's acquisition requests, newest first.",
        ),
        "req.list.none": ("Aucune demande pour le moment.", "No request yet."),
        "req.list.caption": (
            "Demandes d'acquisition de l'organisation",
            "The organisation's acquisition requests",
        ),
        "req.col.request": ("Demande", "Request"),
        "req.col.kind": ("Type", "Kind"),
        "req.col.submitted": ("Déposée le", "Submitted on"),
        "req.col.state": ("État", "State"),
        "req.col.area": ("Surface", "Area"),
        "req.col.acquired": ("Acquis", "Acquired"),
        "req.detail.back": ("Retour à mes demandes", "Back to my requests"),
        "req.detail.state": ("État :", "State:"),
        "req.detail.reason": ("Motif de l'équipe DINAMIS", "The DINAMIS team's reason"),
        "req.detail.summary": ("La demande", "The request"),
        "req.detail.map": ("Zone demandée et images livrées", "Requested area and delivered imagery"),
        "req.detail.map.label": (
            "Carte : la zone demandée (contour) et les emprises des images livrées (surfaces pleines)",
            "Map: the requested area (outline) and the footprints of the delivered imagery (filled)",
        ),
        "req.detail.acquired": ("Part de la zone acquise :", "Share of the area acquired:"),
        "req.detail.acquired.value": (
            "{percent} de la zone acquise ({km2} sur {total}), {n} image(s) livrée(s)",
            "{percent} of the area acquired ({km2} of {total}), {n} image(s) delivered",
        ),
        "req.detail.delivered": ("Images livrées", "Delivered imagery"),
        "req.detail.delivered.none": ("Aucune image livrée pour le moment.", "No imagery delivered yet."),
        "req.detail.history": ("Historique", "History"),
        "req.detail.cofinancing": ("Co-financement à confirmer", "Co-financing to confirm"),
        "req.detail.cofinancing.lead": (
            "La demande dépasse le quota de votre organisation. L'équipe DINAMIS l'examinera une fois "
            "le co-financement confirmé par son auteur ou un référent.",
            "The request exceeds your organisation's quota. The DINAMIS team reviews it once its author "
            "or a referent confirms the co-financing.",
        ),
        "req.detail.cofinancing.confirm": ("Confirmer le co-financement", "Confirm the co-financing"),
        "req.detail.cofinancing.confirmed": (
            "Co-financement confirmé le {when} : {amount} HT.",
            "Co-financing confirmed on {when}: {amount} excl. VAT.",
        ),
        "req.detail.cofinancing.done": ("Co-financement confirmé.", "Co-financing confirmed."),
        "req.detail.refused": (
            "Refusé par le service des demandes : {reason}",
            "Refused by the orders service: {reason}",
        ),
        "req.detail.priority": ("Priorité", "Priority"),
        "req.detail.constraints": ("Contraintes", "Constraints"),
        "req.detail.constraints.value": (
            "nuages ≤ {cloud} %, incidence ≤ {incidence}°",
            "cloud ≤ {cloud} %, incidence ≤ {incidence}°",
        ),
        "req.by.you": ("vous", "you"),
        "req.error.required": ("à renseigner", "required"),
        "req.errors.title": ("Le formulaire contient des erreurs", "The form has errors"),
        "req.by.platform": ("la plateforme", "the platform"),
        "req.by.author": ("l'auteur de la demande", "the request's author"),
        "req.by.team": ("l'équipe DINAMIS", "the DINAMIS team"),
        "req.history.by": ("par {who}", "by {who}"),
        "req.history.submitted": ("Demande déposée", "Request submitted"),
        "req.history.start_review": ("Examen commencé", "Review started"),
        "req.history.approve": ("Demande acceptée", "Request approved"),
        "req.history.reject": ("Demande refusée", "Request rejected"),
        "req.history.require_cofinancing": ("Co-financement demandé", "Co-financing asked"),
        "req.history.cofinancing_confirmed": ("Co-financement confirmé", "Co-financing confirmed"),
        "req.history.cofinancing_re-offered": (
            "Nouveau co-financement à confirmer",
            "New co-financing to confirm",
        ),
        "req.history.start_acquisition": ("Acquisition commencée", "Acquisition started"),
        "req.history.cancel": ("Demande annulée", "Request cancelled"),
        "req.history.cancellation_requested": ("Annulation demandée", "Cancellation asked"),
        "req.history.confirm_cancellation": ("Annulation confirmée", "Cancellation confirmed"),
        "req.history.fulfil_partially": ("Partiellement réalisée", "Partially fulfilled"),
        "req.history.expire": ("Expirée", "Expired"),
        "req.history.scene": ("Image livrée : {scene}", "Image delivered: {scene}"),
        "req.error.aoi": (
            "zone illisible : une emprise ouest,sud,est,nord ou une géométrie GeoJSON",
            "unreadable area: a bounding box west,south,east,north or a GeoJSON geometry",
        ),
        "req.error.date": ("date illisible (jj/mm/aaaa)", "unreadable date (dd/mm/yyyy)"),
        "req.error.number": ("nombre illisible", "unreadable number"),
        "req.error.field": ("{field} : {message}", "{field}: {message}"),
        "req.state.submitted": ("Déposée, en attente d'examen", "Submitted, awaiting review"),
        "req.state.under_review": ("En cours d'examen", "Under review"),
        "req.state.needs_cofinancing": ("Co-financement à confirmer", "Co-financing to confirm"),
        "req.state.approved": ("Acceptée", "Approved"),
        "req.state.rejected": ("Refusée", "Rejected"),
        "req.state.in_progress": ("Acquisition en cours", "Being acquired"),
        "req.state.fulfilled": ("Réalisée", "Fulfilled"),
        "req.state.partially_fulfilled": ("Partiellement réalisée", "Partially fulfilled"),
        "req.state.expired": ("Expirée", "Expired"),
        "req.state.cancelled": ("Annulée", "Cancelled"),
        "req.state.cancelling": ("Annulation en cours", "Being cancelled"),
    }
)
