"""Texts of the ops console's frame (menu, home, journal, announcements), French first.
Each section of the console registers its own texts beside its entrypoint."""

from __future__ import annotations

from dinamis_portal.i18n import register

TEXTS: dict[str, tuple[str, str]] = {
    "nav.ops": ("Console DINAMIS", "DINAMIS console"),
    "ops.title": ("Console des opérateurs", "Operators' console"),
    "ops.menu": ("Sections de la console", "Console sections"),
    "ops.menu.home": ("Vue d'ensemble", "Overview"),
    "ops.menu.review": ("Demandes à examiner", "Review queue"),
    "ops.menu.members": ("Adhésions", "Memberships"),
    "ops.menu.quotas": ("Quotas", "Quotas"),
    "ops.menu.coverage": ("Couverture annuelle", "Yearly coverage"),
    "ops.menu.pipeline": ("Santé de la chaîne", "Pipeline health"),
    "ops.menu.announcements": ("Annonces et maintenance", "Announcements and maintenance"),
    "ops.menu.journal": ("Journal des actions", "Actions journal"),
    "ops.you": ("Connecté·e en tant que {name} ({roles})", "Logged in as {name} ({roles})"),
    "ops.role.operator": ("opérateur", "operator"),
    "ops.role.admin": ("administrateur", "administrator"),
    "ops.role.governance": ("Groupe de travail (gouvernance)", "Working group (governance)"),
    "ops.done.title": ("C'est fait", "Done"),
    "ops.refused.title": ("Le service a refusé", "The service refused"),
    "ops.reason": ("Motif", "Reason"),
    "ops.reason.hint": (
        "Obligatoire : il est enregistré au journal des actions.",
        "Required: it is written to the actions journal.",
    ),
    "ops.reason.missing": ("Indiquez un motif.", "Give a reason."),
    "ops.home.lead": (
        "Les tâches des opérateurs DINAMIS : examen des demandes, adhésions, quotas, "
        "couverture annuelle, santé de la chaîne. Chaque action est enregistrée au journal.",
        "The DINAMIS operators' work: request review, memberships, quotas, the yearly "
        "coverage, pipeline health. Every action is written to the journal.",
    ),
    "ops.home.recent": ("Dernières actions", "Latest actions"),
    # journal
    "ops.journal.title": ("Journal des actions des opérateurs", "Operators' actions journal"),
    "ops.journal.lead": (
        "Toute action faite depuis la console : qui, quand, quoi, sur quel enregistrement, "
        "pourquoi, et ce qui en est résulté. Le journal ne peut être ni modifié ni effacé "
        "depuis la console.",
        "Every action taken through the console: who, when, what, on which record, why, "
        "and what came of it. The journal cannot be changed or erased from the console.",
    ),
    "ops.journal.caption": ("Actions, les plus récentes d'abord", "Actions, newest first"),
    "ops.journal.at": ("Date", "When"),
    "ops.journal.actor": ("Opérateur", "Operator"),
    "ops.journal.action": ("Action", "Action"),
    "ops.journal.target": ("Enregistrement", "Record"),
    "ops.journal.outcome": ("Résultat", "Outcome"),
    "ops.journal.details": ("Détails", "Details"),
    "ops.journal.empty": ("Aucune action enregistrée.", "No action recorded."),
    "ops.journal.filter": ("Filtrer", "Filter"),
    "ops.journal.filter.action": ("Action (exacte)", "Action (exact)"),
    "ops.journal.filter.actor": ("Opérateur (identifiant ou courriel)", "Operator (id or e-mail)"),
    "ops.journal.filter.target": ("Enregistrement (exact)", "Record (exact)"),
    "ops.journal.more": ("Actions plus anciennes", "Older actions"),
    "ops.outcome.done": ("fait", "done"),
    "ops.outcome.refused": ("refusé", "refused"),
    "ops.outcome.failed": ("échec", "failed"),
    # announcements and maintenance
    "ops.notices.title": ("Annonces et maintenance", "Announcements and maintenance"),
    "ops.notices.current": ("Annonce en cours", "Current announcement"),
    "ops.notices.none": ("Aucune annonce n'est affichée.", "No announcement is shown."),
    "ops.notices.text_fr": ("Texte de l'annonce (français)", "Announcement text (French)"),
    "ops.notices.text_en": (
        "Texte de l'annonce (anglais, facultatif)",
        "Announcement text (English, optional)",
    ),
    "ops.notices.severity": ("Type", "Kind"),
    "ops.notices.severity.info": ("information", "information"),
    "ops.notices.severity.warning": ("avertissement", "warning"),
    "ops.notices.severity.alert": ("alerte", "alert"),
    "ops.notices.until": ("Affichée jusqu'au (facultatif)", "Shown until (optional)"),
    "ops.notices.publish": ("Publier l'annonce", "Publish the announcement"),
    "ops.notices.withdraw": ("Retirer l'annonce", "Withdraw the announcement"),
    "ops.notices.maintenance": ("Mode maintenance", "Maintenance mode"),
    "ops.notices.maintenance.desc": (
        "En maintenance, le portail passe en lecture seule : consultation, recherche et "
        "téléchargements restent possibles ; demandes, commandes et autres formulaires sont "
        "refusés avec votre message. La console reste utilisable.",
        "In maintenance the portal is read-only: browsing, searching and downloads keep "
        "working; requests, orders and other forms are refused with your message. The "
        "console stays usable.",
    ),
    "ops.notices.maintenance.on": (
        "La maintenance est en cours depuis le {since}.",
        "Maintenance since {since}.",
    ),
    "ops.notices.maintenance.off": ("Le portail fonctionne normalement.", "The portal works normally."),
    "ops.notices.message_fr": ("Message aux utilisateurs (français)", "Message to users (French)"),
    "ops.notices.message_en": (
        "Message aux utilisateurs (anglais, facultatif)",
        "Message to users (English, optional)",
    ),
    "ops.notices.start": ("Passer en maintenance", "Start maintenance"),
    "ops.notices.stop": ("Terminer la maintenance", "End maintenance"),
    "ops.done.announcement": ("L'annonce est publiée.", "The announcement is published."),
    "ops.done.announcement-withdrawn": ("L'annonce est retirée.", "The announcement is withdrawn."),
    "ops.done.maintenance-on": ("Le portail est en maintenance.", "The portal is in maintenance."),
    "ops.done.maintenance-off": ("La maintenance est terminée.", "Maintenance is over."),
    "ops.notice.close": ("Masquer le message", "Hide the message"),
    "maintenance.title": ("Maintenance en cours", "Maintenance in progress"),
    "maintenance.default": (
        "Le portail est en maintenance : la consultation reste possible, les demandes et "
        "commandes sont suspendues.",
        "The portal is under maintenance: browsing still works, requests and orders are suspended.",
    ),
}

register(TEXTS)
