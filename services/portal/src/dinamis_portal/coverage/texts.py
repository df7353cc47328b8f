"""Texts of the yearly coverage board (`/ops/couverture`), French first."""

from __future__ import annotations

from dinamis_portal.i18n import register

TEXTS: dict[str, tuple[str, str]] = {
    "cov.title": ("Couverture annuelle {year}", "Yearly coverage {year}"),
    "cov.lead": (
        "La couverture SPOT 6/7 à 1,5 m de la France métropolitaine : {total} mailles de 52 km "
        "(Lambert-93), acquises d'avril à septembre. L'état de chaque maille suit les événements de "
        "la chaîne (livraison, archivage, rejet) et le catalogue (publication).",
        "The yearly 1.5 m SPOT 6/7 coverage of metropolitan France: {total} cells of 52 km "
        "(Lambert-93), acquired April to September. Each cell's state follows the pipeline's events "
        "(delivery, archiving, rejection) and the catalogue (publication).",
    ),
    "cov.year.nav": ("Autres années", "Other years"),
    "cov.not-planned": (
        "La campagne {campaign} n'est pas planifiée : ses mailles n'existent pas encore.",
        "Campaign {campaign} is not planned: its cells do not exist yet.",
    ),
    "cov.plan": ("Planifier la campagne {year}", "Plan the {year} campaign"),
    "cov.plan.hint": (
        "Crée les {total} mailles à l'état « planifiée », fenêtre du 1er avril au 30 septembre.",
        "Creates the {total} cells as planned, window April 1st to September 30th.",
    ),
    "cov.live": ("Mise à jour en direct", "Live updates"),
    "cov.live.on": ("connectée", "connected"),
    "cov.live.off": ("reconnexion…", "reconnecting…"),
    "cov.live.changed": ("Maille {cell} : {state}", "Cell {cell}: {state}"),
    "cov.progress": ("Avancement", "Progress"),
    "cov.progress.overall": (
        "{done} mailles couvertes sur {total} ({percent} %)",
        "{done} of {total} cells covered ({percent}%)",
    ),
    "cov.progress.region": ("Avancement par région", "Progress by region"),
    "cov.progress.covered": ("couvertes", "covered"),
    "cov.region": ("Région", "Region"),
    "cov.region.all": ("Toutes les régions", "All regions"),
    "cov.state": ("État", "State"),
    "cov.state.all": ("Tous les états", "All states"),
    "cov.state.planned": ("planifiée", "planned"),
    "cov.state.acquired": ("acquise", "acquired"),
    "cov.state.ingested": ("archivée", "ingested"),
    "cov.state.published": ("publiée", "published"),
    "cov.state.rejected": ("rejetée", "rejected"),
    "cov.state.too-cloudy": ("trop nuageuse", "too cloudy"),
    "cov.state.re-tasked": ("reprogrammée", "re-tasked"),
    "cov.counts": ("Mailles par état", "Cells by state"),
    "cov.legend": ("Légende", "Legend"),
    "cov.map": ("Carte des mailles", "Map of the cells"),
    "cov.map.hint": (
        "Chaque maille porte le symbole de son état ; le tableau ci-dessous donne les mêmes informations.",
        "Each cell carries its state's symbol; the table below gives the same information.",
    ),
    "cov.map.attribution": (
        "Contours : IGN Admin Express 2018 (Licence Ouverte)",
        "Outlines: IGN Admin Express 2018 (Licence Ouverte)",
    ),
    "cov.chart": ("Objectif de la saison et réalisé", "The season's target and actual"),
    "cov.chart.desc": (
        "Objectif linéaire du 1er avril ({start}) au 30 septembre ({end}) : {expected} mailles attendues "
        "à ce jour, {done} couvertes.",
        "Linear target from April 1st ({start}) to September 30th ({end}): {expected} cells expected "
        "by today, {done} covered.",
    ),
    "cov.chart.target": ("objectif", "target"),
    "cov.chart.actual": ("réalisé", "actual"),
    "cov.chart.today": ("aujourd'hui", "today"),
    "cov.table": ("Les mailles", "The cells"),
    "cov.table.caption": (
        "Mailles de la campagne {campaign} ({shown} affichées)",
        "Cells of campaign {campaign} ({shown} shown)",
    ),
    "cov.filter": ("Filtrer", "Filter"),
    "cov.col.cell": ("Maille", "Cell"),
    "cov.col.window": ("Fenêtre planifiée (mois-jour)", "Planned window (month-day)"),
    "cov.col.acquired": ("Acquise le", "Acquired at"),
    "cov.col.ingested": ("Archivée le", "Ingested at"),
    "cov.col.cloud": ("Nuages", "Cloud"),
    "cov.col.scene": ("Scène", "Scene"),
    "cov.col.action": ("Action", "Action"),
    "cov.reason.code": ("motif", "reason"),
    "cov.retask": ("Reprogrammer", "Re-task"),
    "cov.retask.label": ("Motif de la reprogrammation de la maille {cell}", "Why re-task cell {cell}"),
    "cov.history": ("Historique", "History"),
    "cov.history.of": ("Historique de la maille {cell}", "History of cell {cell}"),
    "cov.none": ("Aucune maille ne correspond aux filtres.", "No cell matches the filters."),
    "ops.done.coverage-planned": ("La campagne est planifiée.", "The campaign is planned."),
    "ops.done.coverage-retasked": (
        "La maille est reprogrammée (enregistré au journal).",
        "The cell is re-tasked (written to the journal).",
    ),
}

register(TEXTS)
