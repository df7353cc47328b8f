"""French first, English available: the page language and the portal's texts.

The language is `?lang=fr|en` (remembered in the `lang` cookie), else that cookie,
else French. Texts are looked up by key; a missing English text falls back to French,
a missing key is a bug (KeyError), caught by the unit tests."""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request

Lang = Literal["fr", "en"]
LANGS: tuple[Lang, ...] = ("fr", "en")
LANG_COOKIE = "lang"

TEXTS: dict[str, tuple[str, str]] = {
    "service.tagline": (
        "Imagerie satellitaire très haute résolution pour les acteurs publics",
        "Very-high-resolution satellite imagery for French public bodies",
    ),
    "skip.content": ("Contenu", "Content"),
    "skip.menu": ("Menu", "Menu"),
    "skip.footer": ("Pied de page", "Footer"),
    "skip.label": ("Accès rapide", "Quick access"),
    "nav.label": ("Menu principal", "Main menu"),
    "nav.home": ("Accueil", "Home"),
    "nav.search": ("Rechercher", "Search"),
    "menu": ("Menu", "Menu"),
    "close": ("Fermer", "Close"),
    "login": ("Se connecter", "Log in"),
    "logout": ("Se déconnecter", "Log out"),
    "lang.switch": ("English", "Français"),
    "lang.switch.title": ("Display this site in English", "Afficher le site en français"),
    "home.title": ("Accueil", "Home"),
    "home.lead": (
        "DINAMIS met gratuitement à disposition des acteurs publics français des images "
        "satellitaires très haute résolution (Pléiades, Pléiades Neo, SPOT 6/7).",
        "DINAMIS provides French public bodies with very-high-resolution satellite imagery "
        "(Pléiades, Pléiades Neo, SPOT 6/7) free of charge.",
    ),
    "home.search": ("Rechercher des images", "Search imagery"),
    "home.search.desc": (
        "Parcourez le catalogue sur une carte ou sous forme de liste, sans compte.",
        "Browse the catalogue on a map or as a list, no account needed.",
    ),
    "home.login.desc": (
        "Les adhérents connectés obtiennent des liens de téléchargement signés.",
        "Logged-in members get signed download links.",
    ),
    "home.welcome": ("Vous êtes connecté·e en tant que", "You are logged in as"),
    "standing.member": ("adhérent·e actif·ve", "active member"),
    "standing.staff": ("équipe DINAMIS", "DINAMIS staff"),
    "standing.other": ("pas d'adhésion active", "no active membership"),
    "search.title": ("Rechercher des images", "Search imagery"),
    "search.filters": ("Filtres", "Filters"),
    "search.defaults": (
        "Par défaut : toutes les collections, toutes les dates, toute la couverture nuageuse "
        "(aucun filtre de nébulosité caché), partout.",
        "Defaults: every collection, every date, any cloud cover (no hidden cloud filter), everywhere.",
    ),
    "search.collection": ("Collection", "Collection"),
    "search.collection.all": ("Toutes les collections", "All collections"),
    "search.start": ("Date de début", "Start date"),
    "search.end": ("Date de fin", "End date"),
    "search.date.hint": ("Vide : sans limite.", "Empty: no limit."),
    "search.cloud": ("Couverture nuageuse maximale (%)", "Maximum cloud cover (%)"),
    "search.cloud.hint": (
        "De 0 à 100. Vide : aucun filtre (les images nuageuses sont aussi montrées).",
        "0 to 100. Empty: no filter (cloudy images are shown too).",
    ),
    "search.bbox": ("Emprise (ouest, sud, est, nord)", "Area (west, south, east, north)"),
    "search.bbox.hint": (
        "Longitudes et latitudes en degrés (WGS 84), par exemple 4.75,45.70,4.95,45.82 pour Lyon. "
        "Vide : partout.",
        "Longitudes and latitudes in degrees (WGS 84), e.g. 4.75,45.70,4.95,45.82 for Lyon. "
        "Empty: everywhere.",
    ),
    "search.use_view": ("Utiliser la vue de la carte", "Use the map's view"),
    "search.submit": ("Rechercher", "Search"),
    "search.reset": ("Réinitialiser", "Reset"),
    "search.map": (
        "Carte des emprises des scènes (la liste des résultats en est l'alternative accessible)",
        "Map of the scenes' footprints (the result list is its accessible alternative)",
    ),
    "search.results": ("Résultats", "Results"),
    "search.count.none": ("Aucune scène ne correspond à ces filtres.", "No scene matches these filters."),
    "search.count.one": ("1 scène trouvée.", "1 scene found."),
    "search.count.many": ("{n} scènes trouvées.", "{n} scenes found."),
    "search.count.shown": ("{shown} affichées ci-dessous.", "{shown} shown below."),
    "search.count.more": (
        "Plus de {shown} scènes trouvées ; les {shown} premières sont affichées.",
        "More than {shown} scenes found; the first {shown} are shown.",
    ),
    "search.next": ("Résultats suivants", "Next results"),
    "search.unavailable": (
        "Le catalogue ne répond pas pour le moment ; réessayez dans quelques instants.",
        "The catalogue is not answering right now; try again in a moment.",
    ),
    "scene.date": ("Date d'acquisition", "Acquisition date"),
    "scene.cloud": ("Nébulosité", "Cloud cover"),
    "scene.open": ("Voir la fiche de la scène", "Open the scene page"),
    "scene.quicklook": ("Aperçu de la scène {id}", "Quicklook of scene {id}"),
    "scene.metadata": ("Métadonnées", "Metadata"),
    "scene.footprint": ("Emprise", "Footprint"),
    "scene.footprint.map": ("Carte de l'emprise de la scène", "Map of the scene's footprint"),
    "scene.licence": ("Licence", "Licence"),
    "scene.assets": ("Fichiers", "Files"),
    "scene.asset": ("Fichier", "File"),
    "scene.asset.type": ("Type", "Type"),
    "scene.asset.roles": ("Rôles", "Roles"),
    "scene.asset.download": ("Téléchargement", "Download"),
    "scene.download": ("Télécharger {name}", "Download {name}"),
    "scene.download.expiry": (
        "Liens signés valables jusqu'au {expiry}.",
        "Signed links valid until {expiry}.",
    ),
    "scene.download.login": (
        "Connectez-vous avec un compte adhérent pour obtenir des liens de téléchargement signés.",
        "Log in with a member account to get signed download links.",
    ),
    "scene.download.refused": ("Téléchargement refusé : {reason}", "Download refused: {reason}"),
    "scene.download.public": ("Aperçu public", "Public preview"),
    "scene.snippets": ("Utiliser cette scène dans vos outils", "Use this scene in your tools"),
    "scene.snippet.python": ("Python (pystac-client)", "Python (pystac-client)"),
    "scene.snippet.curl": ("curl", "curl"),
    "scene.snippet.qgis": ("QGIS (/vsicurl/)", "QGIS (/vsicurl/)"),
    "scene.snippet.qgis.help": (
        "Dans QGIS : Couche > Ajouter une couche > Ajouter une couche raster, "
        "source « Protocole : HTTP(S) », ou collez ce chemin GDAL.",
        'In QGIS: Layer > Add Layer > Add Raster Layer, source type "Protocol: HTTP(S)", '
        "or paste this GDAL path.",
    ),
    "scene.snippet.signed_note": (
        "Les liens signés expirent ; avec le SDK DINAMIS, la signature est automatique.",
        "Signed links expire; the DINAMIS SDK signs for you.",
    ),
    "scene.back": ("Retour à la recherche", "Back to the search"),
    "prop.datetime": ("Date et heure d'acquisition (UTC)", "Acquisition date and time (UTC)"),
    "prop.collection": ("Collection", "Collection"),
    "prop.platform": ("Satellite", "Satellite"),
    "prop.constellation": ("Constellation", "Constellation"),
    "prop.instruments": ("Instruments", "Instruments"),
    "prop.gsd": ("Résolution au sol (m)", "Ground sample distance (m)"),
    "prop.eo:cloud_cover": ("Couverture nuageuse (%)", "Cloud cover (%)"),
    "prop.view:incidence_angle": ("Angle d'incidence (°)", "Incidence angle (°)"),
    "prop.view:sun_elevation": ("Élévation du soleil (°)", "Sun elevation (°)"),
    "prop.view:sun_azimuth": ("Azimut du soleil (°)", "Sun azimuth (°)"),
    "prop.view:off_nadir": ("Angle hors nadir (°)", "Off-nadir angle (°)"),
    "prop.proj:epsg": ("Projection (code EPSG)", "Projection (EPSG code)"),
    "prop.proj:code": ("Projection", "Projection"),
    "prop.processing:level": ("Niveau de traitement", "Processing level"),
    "prop.created": ("Catalogué le", "Catalogued on"),
    "prop.updated": ("Mis à jour le", "Updated on"),
    "prop.other": ("Autres propriétés", "Other properties"),
    "prop.name": ("Propriété", "Property"),
    "prop.value": ("Valeur", "Value"),
    "a11y.title": ("Déclaration d'accessibilité", "Accessibility statement"),
    "footer.desc": (
        "DINAMIS : dispositif institutionnel national d'approvisionnement mutualisé en imagerie "
        "satellitaire, au service des acteurs publics.",
        "DINAMIS: the French national scheme providing satellite imagery to public bodies.",
    ),
    "footer.a11y": ("Accessibilité : non conforme", "Accessibility: not compliant"),
    "footer.legal": ("Mentions légales", "Legal notice"),
    "footer.privacy": ("Données personnelles", "Personal data"),
    "footer.cookies": ("Gestion des cookies", "Cookies"),
    "footer.new_window": ("nouvelle fenêtre", "new window"),
    "footer.home_title": ("Accueil - DINAMIS - République Française", "Home - DINAMIS - French Republic"),
    "footer.licence": (
        "Sauf mention explicite de propriété intellectuelle détenue par des tiers, les contenus de ce site "
        "sont proposés sous",
        "Unless a third party's intellectual property is stated, the contents of this site are offered under",
    ),
    "search.grid": (
        "Afficher la grille de la couverture annuelle",
        "Show the yearly coverage grid",
    ),
    "search.grid.hint": (
        "Les 243 mailles de 52 km de la couverture SPOT 6/7 à 1,5 m de la France métropolitaine, "
        "acquises d'avril à septembre.",
        "The 243 cells of 52 km of the yearly 1.5 m SPOT 6/7 coverage of metropolitan France, "
        "acquired April to September.",
    ),
    "error.title": ("Erreur", "Error"),
    "error.back": ("Retour à l'accueil", "Back to the home page"),
    "error.code": ("Code de l'erreur", "Error code"),
}


def register(texts: dict[str, tuple[str, str]]) -> None:
    """Add a feature's texts (each page module keeps its own); a key defined twice is a bug."""
    clash = sorted(set(texts) & set(TEXTS))
    if clash:
        raise KeyError(f"portal texts defined twice: {', '.join(clash)}")
    TEXTS.update(texts)


def text(key: str, lang: Lang, **values: object) -> str:
    fr, en = TEXTS[key]
    chosen = en if lang == "en" and en else fr
    return chosen.format(**values) if values else chosen


def _lang(value: str | None) -> Lang | None:
    if value == "en":
        return "en"
    if value == "fr":
        return "fr"
    return None


def language_of(request: Request) -> Lang:
    return _lang(request.query_params.get("lang")) or _lang(request.cookies.get(LANG_COOKIE)) or "fr"
