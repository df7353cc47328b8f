"""Texts of the console's memberships (`/ops/adhesions`) and quotas (`/ops/quotas`)
sections, French first. The members' own texts (categories `cat.*`, statuses
`org.status.*`, families `family.*`, ledger kinds `kind.*`, quota columns `quotas.*`,
history columns `org.history.*`) are reused as they are."""

from __future__ import annotations

from dinamis_portal.i18n import register

TEXTS: dict[str, tuple[str, str]] = {
    # memberships
    "opsm.title": ("Adhésions", "Memberships"),
    "opsm.lead": (
        "Les demandes d'adhésion à examiner, puis toutes les organisations. Chaque décision "
        "est prise par le service des commandes et adhésions et enregistrée au journal.",
        "Applications to review, then every organisation. Each decision is made by the "
        "orders and membership service and written to the journal.",
    ),
    "opsm.pending": ("Demandes en attente d'examen", "Applications waiting for review"),
    "opsm.pending.none": ("Aucune demande en attente.", "No application waiting."),
    "opsm.all": ("Toutes les organisations", "Every organisation"),
    "opsm.all.none": ("Aucune organisation ne correspond.", "No organisation matches."),
    "opsm.caption.pending": ("Demandes en attente, les plus anciennes d'abord", "Waiting, oldest first"),
    "opsm.caption.all": ("Organisations", "Organisations"),
    "opsm.filter": ("Filtrer", "Filter"),
    "opsm.filter.status": ("Statut", "Status"),
    "opsm.filter.category": ("Catégorie", "Category"),
    "opsm.filter.any": ("Tous", "Any"),
    "opsm.name": ("Organisation", "Organisation"),
    "opsm.id": ("Identifiant", "Identifier"),
    "opsm.applied_at": ("Demande déposée le", "Applied on"),
    "opsm.valid_until": ("Adhésion jusqu'au", "Member until"),
    "opsm.staff.link": ("Comptes du personnel DINAMIS", "DINAMIS staff accounts"),
    "opsm.back": ("Retour aux adhésions", "Back to memberships"),
    "opsm.application": ("Dossier de demande", "Application"),
    "opsm.country": ("Pays", "Country"),
    "opsm.department": ("Département du siège", "Department of the seat"),
    "opsm.siret": ("SIRET", "SIRET"),
    "opsm.legal": ("Représentant légal", "Legal representative"),
    "opsm.justification": ("Justification", "Justification"),
    "opsm.decided": ("Dernière décision", "Last decision"),
    "opsm.reason": ("Motif enregistré", "Recorded reason"),
    "opsm.evidence": (
        "Preuve d'acceptation de la charte et de la licence",
        "Charter and licence acceptance evidence",
    ),
    "opsm.evidence.charter": ("Charte acceptée (version)", "Charter accepted (version)"),
    "opsm.evidence.licence": ("Licence produits acceptée (version)", "Product licence accepted (version)"),
    "opsm.evidence.at": ("Acceptées le", "Accepted on"),
    "opsm.evidence.by": ("Acceptées par (identifiant)", "Accepted by (identifier)"),
    "opsm.contract": ("Contrat de prestation", "Service contract"),
    "opsm.contract.body": ("Organisme commanditaire", "Commissioning body"),
    "opsm.contract.period": ("Période du contrat", "Contract period"),
    "opsm.contract.period.value": ("du {start} au {end}", "from {start} to {end}"),
    "opsm.contract.status": ("Confirmation par le commanditaire", "Confirmation by the commissioning body"),
    "opsm.delegation.unconfirmed": ("non confirmée", "unconfirmed"),
    "opsm.delegation.confirmed": ("confirmée", "confirmed"),
    "opsm.delegation.ended": ("terminée", "ended"),
    "opsm.delegation.decided": ("par {by}, le {at}", "by {by} on {at}"),
    "opsm.delegations": (
        "Prestataires travaillant pour cette organisation",
        "Contractors working for this organisation",
    ),
    "opsm.delegations.caption": (
        "Délégations de prestataires et leur confirmation",
        "Contractor delegations and their confirmation",
    ),
    "opsm.delegations.none": (
        "Aucun prestataire ne désigne cette organisation.",
        "No contractor names this organisation.",
    ),
    "opsm.users": ("Utilisateurs", "Users"),
    "opsm.users.caption": ("Utilisateurs de l'organisation", "The organisation's users"),
    "opsm.users.none": ("Aucun utilisateur.", "No user."),
    "opsm.user.name": ("Nom", "Name"),
    "opsm.user.email": ("Courriel", "E-mail"),
    "opsm.user.roles": ("Rôles", "Roles"),
    "opsm.user.active": ("Actif", "Active"),
    "opsm.yes": ("oui", "yes"),
    "opsm.no": ("non", "no"),
    "opsm.history": ("Historique de l'adhésion", "Membership history"),
    "opsm.quotas.link": ("Quotas de cette organisation", "This organisation's quotas"),
    "opsm.decide": ("Décision sur la demande", "Decision on the application"),
    "opsm.approve": ("Approuver l'adhésion", "Approve the membership"),
    "opsm.refuse": ("Refuser la demande", "Refuse the application"),
    "opsm.approve.until": (
        "Adhésion jusqu'au (facultatif, 3 ans par défaut)",
        "Member until (optional, 3 years by default)",
    ),
    "opsm.approve.reason": (
        "Commentaire (facultatif, enregistré au journal)",
        "Comment (optional, written to the journal)",
    ),
    "opsm.refuse.reason": ("Motif du refus", "Reason for the refusal"),
    "opsm.status.change": ("Suspendre, rétablir, renouveler", "Suspend, reinstate, renew"),
    "opsm.status.target": ("Nouveau statut", "New status"),
    "opsm.status.suspended": ("suspendre", "suspend"),
    "opsm.status.active": ("rétablir ou renouveler (active)", "reinstate or renew (active)"),
    "opsm.status.expired": ("déclarer expirée", "mark expired"),
    "opsm.status.until": ("Nouvelle fin d'adhésion (facultatif)", "New membership end (optional)"),
    "opsm.status.submit": ("Changer le statut", "Change the status"),
    "opsm.status.closed": (
        "Une demande refusée n'a plus de décision à prendre.",
        "A refused application has no decision left.",
    ),
    "ops.done.membership-approved": ("L'adhésion est approuvée.", "The membership is approved."),
    "ops.done.membership-refused": ("La demande est refusée.", "The application is refused."),
    "ops.done.membership-status": (
        "Le statut de l'adhésion est changé.",
        "The membership status is changed.",
    ),
    "ops.done.staff-saved": ("Le compte du personnel est enregistré.", "The staff account is saved."),
    # staff accounts
    "opss.title": ("Comptes du personnel DINAMIS", "DINAMIS staff accounts"),
    "opss.lead": (
        "Les opérateurs et administrateurs de la plateforme. Seuls les administrateurs les "
        "gèrent ; un administrateur ne peut pas retirer son propre rôle d'administrateur.",
        "The platform's operators and administrators. Only administrators manage them; an "
        "administrator cannot remove their own administrator role.",
    ),
    "opss.readonly": (
        "Consultation seule : la gestion des comptes est réservée aux administrateurs.",
        "Read only: managing accounts is for administrators.",
    ),
    "opss.caption": ("Comptes du personnel", "Staff accounts"),
    "opss.none": ("Aucun compte.", "No account."),
    "opss.sub": ("Identifiant Keycloak (sub)", "Keycloak identifier (sub)"),
    "opss.add": ("Ajouter un membre du personnel", "Add a staff member"),
    "opss.add.submit": ("Ajouter", "Add"),
    "opss.sub.hint": (
        "Le « sub » de la personne chez le fournisseur d'identité (Keycloak).",
        "The person's subject at the identity provider (Keycloak).",
    ),
    "opss.name": ("Nom affiché", "Display name"),
    "opss.roles": ("Rôles", "Roles"),
    "opss.account": ("Compte (nom, courriel, identifiant Keycloak)", "Account (name, e-mail, Keycloak id)"),
    "opss.roles_state": ("Rôles et état", "Roles and state"),
    "opss.active": ("Compte actif", "Active account"),
    "opss.save": ("Enregistrer", "Save"),
    "opss.edit": ("Modifier {name}", "Edit {name}"),
    "opss.you": ("(vous)", "(you)"),
    "opss.roles.missing": ("Cochez au moins un rôle.", "Tick at least one role."),
    # quotas
    "opsq.title": ("Quotas", "Quotas"),
    "opsq.lead": (
        "Les quotas par organisation, famille de capteurs et période, avec leur journal. "
        "Allocations et ajustements sont faits par le service des commandes, motivés, et "
        "enregistrés au journal des actions.",
        "Quotas per organisation, sensor family and period, with their ledger. Allocations "
        "and adjustments are made by the orders service, with a reason, and written to the "
        "actions journal.",
    ),
    "opsq.caption": ("Quotas des organisations", "The organisations' quotas"),
    "opsq.none": ("Aucun quota ne correspond.", "No quota matches."),
    "opsq.filter.org": ("Organisation (identifiant)", "Organisation (identifier)"),
    "opsq.filter.family": ("Famille de capteurs", "Sensor family"),
    "opsq.filter.period": (
        "Période (AAAA ou AAAA-Q1 à Q4, ex. 2026-Q3)",
        "Period (YYYY or YYYY-Q1 to Q4, e.g. 2026-Q3)",
    ),
    "opsq.export": ("Exporter en CSV", "Export as CSV"),
    "opsq.ledger.open": ("Journal", "Ledger"),
    "opsq.ledger.title": ("Quota {org} — {family} {period}", "Quota {org} — {family} {period}"),
    "opsq.ledger.export": ("Exporter ce journal en CSV", "Export this ledger as CSV"),
    "opsq.balance": ("Solde", "Balance"),
    "opsq.form": ("Allouer ou ajuster un quota", "Allocate or adjust a quota"),
    "opsq.form.this": ("Allouer ou ajuster ce quota", "Allocate or adjust this quota"),
    "opsq.km2": ("Surface (km²)", "Area (km²)"),
    "opsq.km2.hint": (
        "Une allocation est positive ; un ajustement peut être négatif (jamais sous ce qui est engagé).",
        "An allocation is positive; an adjustment may be negative (never below what is committed).",
    ),
    "opsq.kind": ("Mouvement", "Movement"),
    "opsq.kind.allocate": ("allocation", "allocation"),
    "opsq.kind.adjust": ("ajustement", "adjustment"),
    "opsq.submit": ("Enregistrer le mouvement", "Record the movement"),
    "opsq.chart.title": ("Quotas : consommé, réservé, disponible", "Quotas: consumed, reserved, available"),
    "opsq.chart.desc": (
        "Une barre par quota, à l'échelle de la plus grande allocation ; le tableau donne les valeurs.",
        "One bar per quota, to the scale of the largest allocation; the table gives the values.",
    ),
    "opsq.chart.more": (
        "Graphique limité aux {n} premiers quotas.",
        "Chart limited to the first {n} quotas.",
    ),
    "opsq.trend.title": (
        "Évolution du quota, mouvement par mouvement",
        "The quota over time, movement by movement",
    ),
    "opsq.trend.desc": (
        "Alloué (trait plein) et disponible (tirets) après chaque mouvement du journal ; "
        "le tableau donne les valeurs.",
        "Allocated (solid) and available (dashed) after each ledger movement; the table gives the values.",
    ),
    "opsq.trend.allocated": ("alloué", "allocated"),
    "opsq.trend.available": ("disponible", "available"),
    "ops.done.quota-allocate": ("L'allocation est enregistrée.", "The allocation is recorded."),
    "ops.done.quota-adjust": ("L'ajustement est enregistré.", "The adjustment is recorded."),
    # CSV headers
    "opsq.csv.org": ("Organisation", "Organisation"),
    "opsq.csv.org_name": ("Nom de l'organisation", "Organisation name"),
    "opsq.csv.org_status": ("Statut de l'adhésion", "Membership status"),
    "opsq.csv.family": ("Famille de capteurs", "Sensor family"),
    "opsq.csv.period": ("Période", "Period"),
    "opsq.csv.allocated": ("Alloué (km²)", "Allocated (km²)"),
    "opsq.csv.reserved": ("Réservé (km²)", "Reserved (km²)"),
    "opsq.csv.consumed": ("Consommé (km²)", "Consumed (km²)"),
    "opsq.csv.available": ("Disponible (km²)", "Available (km²)"),
    "opsq.csv.seq": ("N°", "No."),
    "opsq.csv.at": ("Date (UTC)", "Date (UTC)"),
    "opsq.csv.kind": ("Mouvement", "Movement"),
    "opsq.csv.km2": ("Surface (km²)", "Area (km²)"),
    "opsq.csv.request": ("Demande", "Request"),
    "opsq.csv.reason": ("Motif", "Reason"),
    "opsq.csv.by": ("Par", "By"),
    "opsq.csv.available_after": ("Disponible après (km²)", "Available after (km²)"),
}

register(TEXTS)
