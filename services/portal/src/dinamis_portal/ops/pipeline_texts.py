"""Texts of the console's pipeline section (`/ops/chaine`), French first."""

from __future__ import annotations

from dinamis_portal.i18n import register

TEXTS: dict[str, tuple[str, str]] = {
    "pipe.title": ("Santé de la chaîne", "Pipeline health"),
    "pipe.lead": (
        "L'état des services, le retard des consommateurs d'événements et les lettres mortes. "
        "Les chiffres sont lus à l'ouverture de la page : rechargez-la pour les mettre à jour.",
        "The services' state, the event consumers' lag and the dead letters. Figures are read "
        "when the page opens: reload it to update them.",
    ),
    "pipe.services": ("Services", "Services"),
    "pipe.services.caption": ("Disponibilité des services (/readyz)", "Services' readiness (/readyz)"),
    "pipe.service": ("Service", "Service"),
    "pipe.state": ("État", "State"),
    "pipe.checks": ("Vérifications", "Checks"),
    "pipe.http": ("Réponse HTTP", "HTTP answer"),
    "pipe.ready": ("prêt", "ready"),
    "pipe.not_ready": ("pas prêt", "not ready"),
    "pipe.unreachable": ("injoignable ({error})", "unreachable ({error})"),
    "pipe.all_ready": ("Tous les services sont prêts.", "All services are ready."),
    "pipe.some_not_ready": (
        "Au moins un service n'est pas prêt.",
        "At least one service is not ready.",
    ),
    "pipe.hooks": ("Webhooks en échec (notify)", "Failing webhooks (notify)"),
    "pipe.hooks.caption": (
        "Webhooks en échec, toutes organisations, les plus récents d'abord",
        "Failing webhooks, every organisation, newest first",
    ),
    "pipe.hooks.none": ("Aucun webhook en échec.", "No failing webhook."),
    "pipe.hooks.org": ("Organisation (propriétaire)", "Organisation (owner)"),
    "pipe.hooks.url": ("Adresse", "URL"),
    "pipe.hooks.since": ("En échec depuis", "Failing since"),
    "pipe.hooks.error": ("Dernière erreur", "Last error"),
    "pipe.hooks.held": ("Envois retenus", "Deliveries held"),
    "pipe.emails.gap": (
        "Les courriels refusés par le serveur de messagerie ne sont pas encore affichés ici "
        "(notify n'en offre pas de liste pour le personnel).",
        "E-mails refused by the mail server are not shown here yet (notify offers no staff list of them).",
    ),
    "pipe.flow": ("Débit", "Throughput"),
    "pipe.flow.lead": (
        "Lu sur les métriques Prometheus (/metrics) des services : compteurs depuis le "
        "démarrage du processus interrogé (une instance).",
        "Read from the services' Prometheus metrics (/metrics): counts since the queried "
        "process started (one replica).",
    ),
    "pipe.flow.ingested": ("Scènes ingérées (ingest)", "Scenes ingested (ingest)"),
    "pipe.flow.rejected": ("Scènes mises en lettres mortes (ingest)", "Scenes dead-lettered (ingest)"),
    "pipe.flow.queued": ("Produits en attente (delivery)", "Products queued (delivery)"),
    "pipe.flow.in_flight": ("Produits en cours de fabrication", "Products being built"),
    "pipe.flow.per_minute": ("Produits terminés par minute", "Products finished per minute"),
    "pipe.flow.built": ("Produits fabriqués", "Products built"),
    "pipe.flow.failed": ("Produits en échec", "Products failed"),
    "pipe.flow.indexing": ("Retard d'indexation (groupe catalog)", "Indexing lag (catalog group)"),
    "pipe.unknown": ("non disponible", "not available"),
    "pipe.lag": ("Retard des consommateurs", "Consumer lag"),
    "pipe.lag.caption": (
        "Retard par groupe de consommateurs et par sujet",
        "Lag per consumer group and topic",
    ),
    "pipe.group": ("Groupe", "Group"),
    "pipe.topic": ("Sujet", "Topic"),
    "pipe.partitions": ("Partitions", "Partitions"),
    "pipe.end": ("Écrits", "Written"),
    "pipe.committed": ("Traités", "Committed"),
    "pipe.lag.value": ("Retard", "Lag"),
    "pipe.lag.none": ("rien de validé", "nothing committed"),
    "pipe.dlq": ("Lettres mortes", "Dead letters"),
    "pipe.dlq.caption": ("Files de lettres mortes", "Dead-letter topics"),
    "pipe.dlq.count": ("Lettres conservées", "Letters kept"),
    "pipe.dlq.browse": ("Parcourir {topic}", "Browse {topic}"),
    "pipe.letters.title": ("Lettres mortes", "Dead letters"),
    "pipe.letters.lead": (
        "Les événements qu'un service n'a pas pu traiter, les plus récents d'abord. Après "
        "avoir corrigé la cause, rejouez-les vers leur sujet d'origine : les octets et en-têtes "
        "d'origine sont republiés, une seule fois sauf si vous demandez explicitement de rejouer "
        "encore.",
        "Events a service could not process, newest first. Once the cause is fixed, replay "
        "them to their original topic: the original bytes and headers are published again, "
        "once only unless you explicitly ask to replay again.",
    ),
    "pipe.letters.topic": ("File", "Topic"),
    "pipe.letters.show": ("Afficher", "Show"),
    "pipe.letters.caption": (
        "{topic} : {total} lettres, les plus récentes d'abord",
        "{topic}: {total} letters, newest first",
    ),
    "pipe.letters.empty": ("Aucune lettre morte dans cette file.", "No dead letter in this topic."),
    "pipe.letters.select": ("Choisir", "Select"),
    "pipe.letters.select_one": ("Choisir la lettre {ref}", "Select letter {ref}"),
    "pipe.letters.failed_at": ("Échec le", "Failed at"),
    "pipe.letters.code": ("Code", "Code"),
    "pipe.letters.reason": ("Raison", "Reason"),
    "pipe.letters.event": ("Événement", "Event"),
    "pipe.letters.replays": ("Rejouée", "Replayed"),
    "pipe.letters.replays.n": ("{n} fois", "{n} times"),
    "pipe.letters.replays.0": ("non", "no"),
    "pipe.letters.open": ("Détail", "Details"),
    "pipe.letters.open_one": ("Détail de la lettre {ref}", "Details of letter {ref}"),
    "pipe.letters.older": ("Lettres plus anciennes", "Older letters"),
    "pipe.letters.newest": ("Les plus récentes", "Newest"),
    "pipe.letters.outcome": (
        "{done} lettre(s) rejouée(s), {refused} refusée(s) : les refus et leurs raisons sont au journal.",
        "{done} letter(s) replayed, {refused} refused: the refusals and their reasons are in the journal.",
    ),
    "pipe.replay": ("Rejouer", "Replay"),
    "pipe.replay.selection": ("Rejouer la sélection", "Replay the selection"),
    "pipe.replay.title": ("Rejouer vers le sujet d'origine", "Replay to the original topic"),
    "pipe.replay.again": (
        "Rejouer encore (cette lettre a déjà été rejouée)",
        "Replay again (this letter was already replayed)",
    ),
    "pipe.replay.again.hint": (
        "Sans cette case, une lettre déjà rejouée est refusée.",
        "Without this box, a letter already replayed is refused.",
    ),
    "pipe.letter.title": ("Lettre morte {ref}", "Dead letter {ref}"),
    "pipe.letter.back": ("Retour aux lettres de {topic}", "Back to the letters of {topic}"),
    "pipe.letter.why": ("Pourquoi elle a échoué", "Why it failed"),
    "pipe.letter.group": ("Groupe consommateur", "Consumer group"),
    "pipe.letter.original": ("Origine (sujet:partition:position)", "Origin (topic:partition:offset)"),
    "pipe.letter.class": ("Classe d'erreur", "Error class"),
    "pipe.letter.type": ("Type d'événement", "Event type"),
    "pipe.letter.id": ("Identifiant d'événement", "Event id"),
    "pipe.letter.subject": ("Sujet de l'événement", "Event subject"),
    "pipe.letter.headers": ("En-têtes", "Headers"),
    "pipe.letter.headers.caption": ("En-têtes de l'enregistrement", "The record's headers"),
    "pipe.letter.header": ("Nom", "Name"),
    "pipe.letter.value": ("Valeur", "Value"),
    "pipe.letter.body": ("Contenu ({size} octets)", "Body ({size} bytes)"),
    "pipe.letter.dropped": (
        "Le contenu a été abandonné à la mise en lettre morte (trop volumineux) : "
        "cette lettre ne peut pas être rejouée.",
        "The body was dropped when dead-lettered (too large): this letter cannot be replayed.",
    ),
    "pipe.letter.replayed": ("Déjà rejouée {n} fois.", "Already replayed {n} times."),
    "pipe.letter.history": ("Actions sur cette lettre", "Actions on this letter"),
    "pipe.qa": ("Contrôle qualité du catalogue", "Catalogue QA"),
    "pipe.qa.link": ("Rejets d'ingestion et leurs raisons", "Ingest rejections and their reasons"),
    "pipe.qa.title": ("Rejets d'ingestion", "Ingest rejections"),
    "pipe.qa.lead": (
        "Les livraisons qu'ingest a refusées (événements scene-rejected), les plus récentes "
        "d'abord, avec leur raison. La copie déposée est conservée pour diagnostic ; l'événement "
        "refusé est dans la file de lettres mortes de scene-acquired, d'où il peut être rejoué "
        "une fois la cause corrigée.",
        "Deliveries ingest refused (scene-rejected events), newest first, with their reason. "
        "The staged copy is kept for diagnosis; the refused event is in scene-acquired's "
        "dead-letter topic, from which it can be replayed once the cause is fixed.",
    ),
    "pipe.qa.caption": ("{total} rejets, les plus récents d'abord", "{total} rejections, newest first"),
    "pipe.qa.empty": ("Aucun rejet.", "No rejection."),
    "pipe.qa.at": ("Date", "When"),
    "pipe.qa.scene": ("Scène", "Scene"),
    "pipe.qa.supplier": ("Fournisseur (produit)", "Supplier (product)"),
    "pipe.qa.staging": ("Dépôt", "Staging"),
    "pipe.qa.older": ("Rejets plus anciens", "Older rejections"),
    "pipe.qa.dlq": (
        "Voir les lettres mortes de scene-acquired",
        "See scene-acquired's dead letters",
    ),
    "ops.done.dlq-replayed": (
        "La lettre morte est rejouée vers son sujet d'origine.",
        "The dead letter is replayed to its original topic.",
    ),
    "ops.done.dlq-replayed-some": (
        "Une partie de la sélection a été refusée.",
        "Part of the selection was refused.",
    ),
}

register(TEXTS)
