"""The review queue's texts (French first, English), and the reason templates operators
pick from (each fills the reason field, which stays editable)."""

from __future__ import annotations

from dinamis_portal.i18n import register

# The decisions the console offers, in the orders service's action names.
DECISIONS = ("start_review", "approve", "require_cofinancing", "reject", "start_acquisition")
# Reason templates per decision: (key, French, English).
TEMPLATES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "start_review": (("prise", "Prise en charge par l'équipe DINAMIS.", "Taken up by the DINAMIS team."),),
    "approve": (
        (
            "conforme",
            "Demande conforme : zone, fenêtre et justification recevables.",
            "Request in order: area, window and justification acceptable.",
        ),
        (
            "quota",
            "Acceptée dans la limite du quota de l'organisme.",
            "Approved within the organisation's quota.",
        ),
        (
            "cofinancee",
            "Acceptée : co-financement confirmé par l'organisme.",
            "Approved: co-financing confirmed by the organisation.",
        ),
    ),
    "require_cofinancing": (
        (
            "depassement",
            "La surface dépasse le quota disponible : le co-financement de l'excédent est à confirmer.",
            "The area exceeds the available quota: co-financing of the excess is to be confirmed.",
        ),
        (
            "prioritaire",
            "Demande prioritaire au-delà du quota de la période : co-financement nécessaire.",
            "Priority request beyond the period's quota: co-financing needed.",
        ),
    ),
    "reject": (
        (
            "justification",
            "Justification insuffisante : précisez le projet et l'usage des images.",
            "Insufficient justification: describe the project and the use of the imagery.",
        ),
        (
            "hors-champ",
            "Demande hors du champ de DINAMIS (usage commercial ou hors mission de service public).",
            "Request outside DINAMIS's scope (commercial use or outside a public mission).",
        ),
        (
            "doublon",
            "Doublon d'une demande en cours sur la même zone.",
            "Duplicate of a pending request over the same area.",
        ),
        (
            "faisabilite",
            "Acquisition infaisable dans la fenêtre demandée (incidence, saison, charge du satellite).",
            "Acquisition not feasible in the requested window (incidence, season, satellite load).",
        ),
    ),
    "start_acquisition": (
        (
            "commande",
            "Commande fournisseur passée : référence ",
            "Supplier order placed: reference ",
        ),
    ),
    "propose_scenes": (
        (
            "couverte",
            "La zone est déjà couverte par des scènes du catalogue : commandez-les directement.",
            "The area is already covered by catalogue scenes: order them directly.",
        ),
        (
            "recentes",
            "Des images récentes du catalogue répondent à votre besoin : "
            "elles vous sont proposées à la place.",
            "Recent catalogue imagery meets your need: it is proposed instead.",
        ),
    ),
}


def template_text(action: str, key: str, lang: str = "fr") -> str | None:
    for k, fr, en in TEMPLATES.get(action, ()):
        if k == key:
            return en if lang == "en" else fr
    return None


register(
    {
        "ops.review.title": ("Demandes à examiner", "Requests to review"),
        "ops.review.lead": (
            "Les demandes d'acquisition en attente d'une décision (déposées, en cours d'examen, "
            "co-financement à confirmer), selon le service des demandes. Délai cible : {days} jours.",
            "Acquisition requests waiting for a decision (submitted, under review, co-financing "
            "to confirm), as the orders service lists them. Target: {days} days.",
        ),
        "ops.review.filters": ("Filtrer la file", "Filter the queue"),
        "ops.review.filter.kind": ("Type de demande", "Request type"),
        "ops.review.filter.family": ("Famille de capteurs", "Sensor family"),
        "ops.review.filter.org": ("Organisme (identifiant)", "Organisation (identifier)"),
        "ops.review.filter.age": ("Attente minimale (jours)", "Minimum wait (days)"),
        "ops.review.filter.late": ("En retard seulement", "Late only"),
        "ops.review.filter.state": ("État", "State"),
        "ops.review.filter.sort": ("Trier par", "Sort by"),
        "ops.review.filter.all": ("Tous", "All"),
        "ops.review.filter.apply": ("Appliquer", "Apply"),
        "ops.review.filter.reset": ("Réinitialiser", "Reset"),
        "ops.review.sort.oldest": ("Les plus anciennes d'abord", "Oldest first"),
        "ops.review.sort.newest": ("Les plus récentes d'abord", "Newest first"),
        "ops.review.sort.area": ("Surface décroissante", "Largest area first"),
        "ops.review.sort.org": ("Organisme", "Organisation"),
        "ops.review.count": ("{n} demande(s) sur {total} en attente", "{n} of {total} waiting request(s)"),
        "ops.review.empty": ("Aucune demande ne correspond.", "No request matches."),
        "ops.review.table": ("File des demandes à examiner", "Queue of requests to review"),
        "ops.review.col.request": ("Demande", "Request"),
        "ops.review.col.org": ("Organisme", "Organisation"),
        "ops.review.col.kind": ("Type", "Type"),
        "ops.review.col.state": ("État", "State"),
        "ops.review.col.area": ("Surface", "Area"),
        "ops.review.col.wait": ("Attente", "Waiting"),
        "ops.review.col.cofinancing": ("Co-financement", "Co-financing"),
        "ops.review.wait.days": ("{days} j", "{days} d"),
        "ops.review.on_time": ("Dans les délais", "On time"),
        "ops.review.late": ("En retard", "Late"),
        "ops.review.cofinancing.none": ("—", "—"),
        "ops.review.cofinancing.offer": ("{amount} ({km2})", "{amount} ({km2})"),
        "ops.review.cofinancing.confirmed": ("confirmé", "confirmed"),
        "ops.review.cofinancing.pending": ("à confirmer", "to confirm"),
        "ops.review.back": ("Retour à la file", "Back to the queue"),
        "ops.review.applicant": ("Demandeur", "Applicant"),
        "ops.review.facts": ("La demande", "The request"),
        "ops.review.window": ("Fenêtre", "Window"),
        "ops.review.constraints": ("Contraintes", "Constraints"),
        "ops.review.constraints.value": (
            "nuages ≤ {cloud} %, incidence ≤ {incidence}°, priorité {priority}",
            "clouds ≤ {cloud}%, incidence ≤ {incidence}°, priority {priority}",
        ),
        "ops.review.submitted": ("Déposée le", "Submitted on"),
        "ops.review.justification": ("Justification", "Justification"),
        "ops.review.quota": ("Quota et co-financement", "Quota and co-financing"),
        "ops.review.quota.period": ("Période du quota", "Quota period"),
        "ops.review.quota.available": ("Disponible", "Available"),
        "ops.review.quota.after": ("Après acceptation", "After approval"),
        "ops.review.quota.shortfall": ("Dépassement", "Shortfall"),
        "ops.review.quota.cofinancing": ("Co-financement de l'excédent", "Co-financing of the excess"),
        "ops.review.quota.current_offer": ("Offre de co-financement en cours", "Current co-financing offer"),
        "ops.review.checks": ("Vérifications automatiques", "Automatic checks"),
        "ops.review.catalogue": (
            "Le catalogue couvre-t-il déjà la zone ?",
            "Does the catalogue already cover it?",
        ),
        "ops.review.catalogue.how": (
            "Recherche au catalogue sur la zone, de {start} au {end}, nuages ≤ {cloud} %, famille {family}.",
            "Catalogue search over the area, {start} to {end}, clouds ≤ {cloud}%, family {family}.",
        ),
        "ops.review.catalogue.none": (
            "Aucune scène du catalogue sur cette zone.",
            "No catalogue scene here.",
        ),
        "ops.review.catalogue.unavailable": (
            "Le catalogue ne répond pas : vérification impossible pour le moment ({detail}).",
            "The catalogue is not answering: check impossible for now ({detail}).",
        ),
        "ops.review.catalogue.table": ("Scènes du catalogue sur la zone", "Catalogue scenes over the area"),
        "ops.review.catalogue.pick": ("Proposer", "Propose"),
        "ops.review.catalogue.pick.label": ("Proposer la scène {id}", "Propose scene {id}"),
        "ops.review.catalogue.scene": ("Scène", "Scene"),
        "ops.review.catalogue.date": ("Date", "Date"),
        "ops.review.catalogue.cloud": ("Nuages", "Clouds"),
        "ops.review.catalogue.covered": ("Part de la zone couverte", "Share of the area covered"),
        "ops.review.propose": ("Proposer ces scènes à la place", "Propose these scenes instead"),
        "ops.review.propose.lead": (
            "La demande sera close (refusée, code « covered-by-catalogue ») et les scènes cochées "
            "proposées au demandeur, qui les verra sur sa demande.",
            "The request will be closed (rejected, code 'covered-by-catalogue') and the ticked "
            "scenes proposed to the applicant, who will see them on their request.",
        ),
        "ops.review.overlaps": ("Autres demandes sur la même zone", "Other requests over the same area"),
        "ops.review.overlaps.none": (
            "Aucune autre demande en cours sur cette zone.",
            "No other pending request over this area.",
        ),
        "ops.review.overlaps.item": (
            "{id} ({org}, {state}) : {share} de la zone",
            "{id} ({org}, {state}): {share} of the area",
        ),
        "ops.review.warnings": ("Alertes sur la zone", "Area warnings"),
        "ops.review.warnings.none": ("Aucune alerte sur la zone.", "No warning about the area."),
        "ops.review.map": ("Carte", "Map"),
        "ops.review.map.label": (
            "Carte : la zone demandée (bleu), les scènes du catalogue (vert), les autres demandes (orange)",
            "Map: the requested area (blue), catalogue scenes (green), other requests (orange)",
        ),
        "ops.review.map.legend": (
            "Bleu : zone demandée ; vert : scènes du catalogue ; orange : autres demandes en cours.",
            "Blue: requested area; green: catalogue scenes; orange: other pending requests.",
        ),
        "ops.review.history": ("Historique de la demande", "The request's history"),
        "ops.review.decide": ("Décider", "Decide"),
        "ops.review.decide.none": (
            "Aucune décision possible dans cet état ({state}).",
            "No decision possible in this state ({state}).",
        ),
        "ops.review.decision": ("Décision", "Decision"),
        "ops.review.template": ("Motif type", "Reason template"),
        "ops.review.template.none": ("— choisir un motif type —", "— pick a reason template —"),
        "ops.review.reason": ("Motif", "Reason"),
        "ops.review.reason.hint": (
            "Obligatoire pour refuser ou demander un co-financement ; la référence fournisseur pour "
            "commencer l'acquisition. Il est transmis au demandeur et enregistré au journal.",
            "Required to reject or ask for co-financing; the supplier's reference to start the "
            "acquisition. It is sent to the applicant and written to the journal.",
        ),
        "ops.review.submit": ("Enregistrer la décision", "Record the decision"),
        "ops.review.action.start_review": (
            "Prendre en charge (commencer l'examen)",
            "Take up (start the review)",
        ),
        "ops.review.action.approve": ("Accepter", "Approve"),
        "ops.review.action.require_cofinancing": ("Demander un co-financement", "Ask for co-financing"),
        "ops.review.action.reject": ("Refuser", "Reject"),
        "ops.review.action.start_acquisition": (
            "Commencer l'acquisition (commande passée à la main)",
            "Start acquisition (order placed by hand)",
        ),
        "ops.review.action.propose_scenes": ("Proposer des scènes du catalogue", "Propose catalogue scenes"),
        "ops.review.bad.action": ("décision inconnue", "unknown decision"),
        "ops.done.review-start_review": ("Examen commencé.", "Review started."),
        "ops.done.review-approve": (
            "Décision enregistrée par le service des demandes.",
            "Decision recorded.",
        ),
        "ops.done.review-require_cofinancing": ("Co-financement demandé.", "Co-financing asked."),
        "ops.done.review-reject": ("Demande refusée.", "Request rejected."),
        "ops.done.review-start_acquisition": ("Acquisition commencée.", "Acquisition started."),
        "ops.done.review-propose_scenes": (
            "Scènes proposées : la demande est close et le demandeur les voit sur sa demande.",
            "Scenes proposed: the request is closed and the applicant sees them on their request.",
        ),
        # The member's request page.
        "req.detail.proposed": ("Scènes proposées à la place", "Scenes proposed instead"),
        "req.detail.proposed.lead": (
            "L'équipe DINAMIS a trouvé au catalogue des images qui couvrent votre zone : "
            "consultez-les et commandez-les directement.",
            "The DINAMIS team found catalogue imagery covering your area: see it and order it directly.",
        ),
        "req.history.propose_scenes": ("Scènes du catalogue proposées", "Catalogue scenes proposed"),
    }
)
