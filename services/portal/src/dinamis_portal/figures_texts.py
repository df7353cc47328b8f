"""Texts of "DINAMIS en chiffres" and the working group's dashboard, French first;
registered with the portal's i18n once (`register_texts`)."""

from __future__ import annotations

from dinamis_portal.i18n import TEXTS, register

FIGURES_TEXTS: dict[str, tuple[str, str]] = {
    "figures.nav": ("DINAMIS en chiffres", "DINAMIS in figures"),
    "figures.wg.nav": ("Groupe de travail", "Working group"),
    "figures.title": ("DINAMIS en chiffres", "DINAMIS in figures"),
    "figures.lead": (
        "Les chiffres du dispositif DINAMIS, calculés à partir des événements de la plateforme. "
        "Agrégats uniquement : aucune donnée personnelle ; une case comptant moins de "
        "3 organisations n'est pas publiée (secret statistique).",
        "The figures of DINAMIS, computed from the platform's own events. Aggregates only: "
        "no personal data; a cell counting fewer than 3 organisations is not published "
        "(statistical confidentiality).",
    ),
    "figures.year": ("Année", "Year"),
    "figures.year.submit": ("Afficher", "Show"),
    "figures.key": ("Chiffres clés de l'année {year}", "Key figures of {year}"),
    "figures.key.none": (
        "Les chiffres clés de l'année ne sont pas disponibles : {detail}",
        "The year's key figures are not available: {detail}",
    ),
    "figures.down": (
        "Le service des statistiques ne répond pas pour le moment ; réessayez dans quelques instants.",
        "The reporting service is not answering right now; try again in a moment.",
    ),
    "figures.charts": ("Graphiques", "Charts"),
    "figures.missing": ("Pas encore publiés : {names}.", "Not published yet: {names}."),
    "figures.secret": (
        "secret statistique (moins de 3 organisations)",
        "statistical confidentiality (fewer than 3 organisations)",
    ),
    "figures.suppressed.count": (
        "{n} case(s) non publiée(s) au titre du secret statistique (moins de 3 organisations, "
        "ou case permettant de la retrouver par différence).",
        "{n} cell(s) not published for statistical confidentiality (fewer than 3 organisations, "
        "or a cell that would reveal it by subtraction).",
    ),
    "figures.chart.empty": (
        "Pas de graphique : aucune valeur publiable (voir le tableau).",
        "No chart: no publishable value (see the table).",
    ),
    "figures.chart.alt": (
        "Graphique en barres : {title}. Les mêmes valeurs sont dans le tableau ci-contre.",
        "Bar chart: {title}. The same values are in the table beside it.",
    ),
    "figures.table.empty": ("Aucune donnée pour cette sélection.", "No data for this selection."),
    "figures.csv": ("Télécharger les données (CSV)", "Download the data (CSV)"),
    "figures.parquet": ("Télécharger les données (Parquet)", "Download the data (Parquet)"),
    "figures.refused": (
        "Données non disponibles : {detail} ({code})",
        "Data not available: {detail} ({code})",
    ),
    "figures.definition": ("Définition :", "Definition:"),
    "figures.organisations": ("Organisations", "Organisations"),
    "figures.value.none": ("non renseigné", "not recorded"),
    "figures.chart.organisations.title": ("Organisations par catégorie", "Organisations by category"),
    "figures.chart.organisations.caption": (
        "Organisations adhérentes par catégorie, année {year}",
        "Member organisations by category, {year}",
    ),
    "figures.chart.acquired.title": (
        "Km² acquis par année et famille de capteurs",
        "Km² acquired by year and sensor family",
    ),
    "figures.chart.acquired.caption": (
        "Surfaces acquises (km²) par année et famille de capteurs",
        "Areas acquired (km²) by year and sensor family",
    ),
    "figures.chart.downloads.title": ("Produits téléchargés par année", "Products downloaded by year"),
    "figures.chart.downloads.caption": (
        "Produits téléchargés par année",
        "Products downloaded by year",
    ),
    "figures.chart.coverage.title": (
        "Cellules de la couverture annuelle publiées",
        "Yearly coverage cells published",
    ),
    "figures.chart.coverage.caption": (
        "Cellules de la couverture annuelle publiées, par année",
        "Yearly coverage cells published, by year",
    ),
    "figures.category.french-public": ("Acteurs publics français", "French public bodies"),
    "figures.category.contractor": (
        "Prestataires de la commande publique",
        "Contractors of public bodies",
    ),
    "figures.category.french-research": ("Recherche française", "French research"),
    "figures.category.international-research": ("Recherche internationale", "International research"),
    "figures.category.french-private-rd": ("R&D privée française", "French private R&D"),
    "figures.dim.year": ("Année", "Year"),
    "figures.dim.quarter": ("Trimestre", "Quarter"),
    "figures.dim.category": ("Catégorie d'organisation", "Organisation category"),
    "figures.dim.department": ("Département", "Department"),
    "figures.dim.region": ("Région", "Region"),
    "figures.dim.sensor_family": ("Famille de capteurs", "Sensor family"),
    "figures.dim.collection": ("Collection", "Collection"),
    "figures.dim.kind": ("Type", "Kind"),
    "figures.dim.funding": ("Financement", "Funding"),
    "figures.dim.reason": ("Motif", "Reason"),
    "figures.dim.status": ("Statut", "Status"),
    "figures.dim.campaign": ("Campagne", "Campaign"),
    "figures.dim.state": ("État", "State"),
    "figures.wg.title": ("Tableau de bord du groupe de travail", "Working group dashboard"),
    "figures.wg.lead": (
        "Tous les indicateurs du dispositif, avec toutes leurs répartitions, pour le groupe de "
        "travail DINAMIS (équipe DINAMIS et gouvernance). Les cases de moins de 3 organisations "
        "restent masquées.",
        "Every indicator of DINAMIS, with every breakdown, for the DINAMIS working group (staff "
        "and governance). Cells of fewer than 3 organisations stay hidden.",
    ),
    "figures.wg.indicator": ("Indicateur", "Indicator"),
    "figures.wg.by": ("Répartir par", "Break down by"),
    "figures.wg.by.hint": ("Trois dimensions au plus.", "Three dimensions at most."),
    "figures.wg.filters": ("Filtres", "Filters"),
    "figures.wg.filters.hint": (
        "Plusieurs valeurs séparées par des virgules (par exemple 2025,2026 ou 2026-Q1). "
        "Vide : toutes les valeurs.",
        "Several values separated by commas (e.g. 2025,2026 or 2026-Q1). Empty: every value.",
    ),
    "figures.wg.all": ("Toutes", "All"),
    "figures.wg.submit": ("Afficher", "Show"),
    "figures.wg.caption": ("{title}, selon la sélection", "{title}, as selected"),
    "figures.wg.none": ("Le catalogue des indicateurs est vide.", "The indicators' catalogue is empty."),
    "figures.wg.note": ("Note annuelle", "Yearly note"),
    "figures.wg.note.link": (
        "Note « État des lieux du dispositif DINAMIS — année {year} » (PDF)",
        "Note “État des lieux du dispositif DINAMIS — année {year}” (PDF, in French)",
    ),
    "figures.wg.note.year": ("Année de la note", "Year of the note"),
    "figures.wg.note.submit": ("Changer d'année", "Change year"),
    "figures.summary.organisations": ("Organisations adhérentes", "Member organisations"),
    "figures.summary.users": ("Utilisateurs actifs", "Active users"),
    "figures.summary.km2_acquired": ("Km² acquis", "Km² acquired"),
    "figures.summary.products_downloaded": ("Produits téléchargés", "Products downloaded"),
    "figures.summary.cells_published": ("Cellules de couverture publiées", "Coverage cells published"),
}


def register_texts() -> None:
    if "figures.nav" not in TEXTS:
        register(FIGURES_TEXTS)
