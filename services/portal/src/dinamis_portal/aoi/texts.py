"""The AOI feature's texts (French first, English), registered with the portal's i18n."""

from __future__ import annotations

from dinamis_portal.i18n import register

TEXTS: dict[str, tuple[str, str]] = {
    "aoi.defaults": (
        "Par défaut : toutes les collections, tous les satellites, tous les niveaux de traitement, "
        "toutes les dates, toute couverture nuageuse (aucun filtre de nébulosité caché), tout angle "
        "d'incidence, partout. Les filtres de nuages, d'incidence, de satellite et de niveau écartent "
        "les scènes qui n'indiquent pas la valeur.",
        "By default: every collection, every satellite, every processing level, every date, any "
        "cloud cover (no hidden cloud filter), any incidence angle, everywhere. The cloud, incidence, "
        "satellite and level filters leave out scenes that do not give the value.",
    ),
    "aoi.mission": ("Satellite (mission)", "Satellite (mission)"),
    "aoi.mission.all": ("Tous les satellites", "All satellites"),
    "aoi.level": ("Niveau de traitement", "Processing level"),
    "aoi.level.all": ("Tous les niveaux", "All levels"),
    "aoi.level.ortho": ("Ortho (orthorectifié)", "Ortho (orthorectified)"),
    "aoi.level.primary": ("Primaire", "Primary"),
    "aoi.level.sensor": ("Capteur (sensor)", "Sensor"),
    "aoi.level.projected": ("Projeté", "Projected"),
    "aoi.incidence": ("Angle d'incidence maximal (degrés)", "Maximum incidence angle (degrees)"),
    "aoi.incidence.hint": ("De 0 à 90. Vide : tout angle.", "0 to 90. Empty: any angle."),
    "aoi.whole": ("Couvre toute ma zone", "Covers my whole area"),
    "aoi.whole.hint": (
        "Ne garde que les scènes couvrant au moins 99,9 % de la zone. Ce filtre est appliqué par le "
        "portail sur les {n} scènes les plus récentes qui touchent la zone, sans pagination : le "
        "nombre annoncé dit combien ont été examinées.",
        "Keeps only the scenes covering at least 99.9% of the area. The portal applies this filter "
        "to the {n} most recent scenes touching the area, without paging: the announced count says "
        "how many were examined.",
    ),
    "aoi.zone.active": (
        "Zone de recherche : {area} km², {n} polygone(s).",
        "Search area: {area} km², {n} polygon(s).",
    ),
    "aoi.zone.remove": ("Retirer la zone", "Remove the area"),
    "aoi.tools": ("Ma zone d'intérêt", "My area of interest"),
    "aoi.tools.hint": (
        "Dessinez sur la carte, collez ou importez une zone : elle est vérifiée sur le serveur "
        "(surface, erreurs) avant de servir à la recherche. Au clavier : collez ou importez.",
        "Draw on the map, paste or upload an area: the server checks it (area, errors) before it is "
        "used for the search. With the keyboard: paste or upload.",
    ),
    "aoi.draw.box": ("Dessiner un rectangle", "Draw a rectangle"),
    "aoi.draw.polygon": ("Dessiner un polygone", "Draw a polygon"),
    "aoi.draw.modify": ("Modifier les sommets", "Edit vertices"),
    "aoi.draw.clear": ("Effacer le dessin", "Clear the drawing"),
    "aoi.draw.help": (
        "Rectangle : cliquez deux coins opposés. Polygone : cliquez chaque sommet, double-cliquez "
        "pour finir. Échap annule.",
        "Rectangle: click two opposite corners. Polygon: click each vertex, double-click to finish. "
        "Escape cancels.",
    ),
    "aoi.paste": ("Coller une zone", "Paste an area"),
    "aoi.paste.hint": (
        "Emprise ouest,sud,est,nord, WKT (POLYGON…), GeoJSON (géométrie, Feature, FeatureCollection), "
        "KML ou GPX.",
        "Bbox west,south,east,north, WKT (POLYGON…), GeoJSON (geometry, Feature, FeatureCollection), "
        "KML or GPX.",
    ),
    "aoi.paste.submit": ("Vérifier la zone collée", "Check the pasted area"),
    "aoi.upload": ("Importer un fichier", "Upload a file"),
    "aoi.upload.hint": (
        "GeoJSON, KML, KMZ, GPX (trace fermée), WKT ou shapefile zippé (.zip avec .shp, .shx, .dbf et "
        ".prj). 10 Mo au plus.",
        "GeoJSON, KML, KMZ, GPX (closed track), WKT or zipped shapefile (.zip with .shp, .shx, .dbf "
        "and .prj). 10 MB at most.",
    ),
    "aoi.upload.submit": ("Vérifier le fichier", "Check the file"),
    "aoi.review": ("Vérification de la zone", "Area check"),
    "aoi.review.source": ("Lu comme : {source}.", "Read as: {source}."),
    "aoi.review.col.n": ("N°", "No."),
    "aoi.review.col.area": ("Surface (km²)", "Area (km²)"),
    "aoi.review.col.vertices": ("Sommets", "Vertices"),
    "aoi.review.col.findings": ("Constats", "Findings"),
    "aoi.review.caption": (
        "Polygones trouvés, surface géodésique calculée sur le serveur",
        "Polygons found, geodesic area computed on the server",
    ),
    "aoi.review.ok": ("aucun problème", "no problem"),
    "aoi.review.error": ("Erreur", "Error"),
    "aoi.review.warning": ("Attention", "Warning"),
    "aoi.review.unused": ("non retenu", "not used"),
    "aoi.review.total": (
        "Zone retenue : {area} km² ({n} polygone(s)).",
        "Area kept: {area} km² ({n} polygon(s)).",
    ),
    "aoi.review.use": ("Utiliser cette zone pour la recherche", "Use this area for the search"),
    "aoi.review.simplify": ("Simplifier", "Simplify"),
    "aoi.review.simplify.hint": (
        "Réduit le nombre de sommets sur le serveur ; le résultat est de nouveau vérifié ici.",
        "Reduces the number of vertices on the server; the result is checked here again.",
    ),
    "aoi.review.problem": ("Zone refusée", "Area refused"),
    "aoi.save.name": ("Nom de la zone", "Area name"),
    "aoi.save.submit": ("Enregistrer cette zone", "Save this area"),
    "aoi.saved": ("Mes zones enregistrées", "My saved areas"),
    "aoi.saved.none": ("Aucune zone enregistrée.", "No saved area."),
    "aoi.saved.use": ("Rechercher sur « {name} »", "Search over “{name}”"),
    "aoi.saved.delete": ("Supprimer « {name} »", "Delete “{name}”"),
    "aoi.saved.area": ("{area} km²", "{area} km²"),
    "aoi.saved.login": (
        "Connectez-vous pour enregistrer vos zones.",
        "Log in to save your areas.",
    ),
    "aoi.saved.title": ("Mes zones", "My areas"),
    "aoi.covered": ("Part de ma zone couverte", "Share of my area covered"),
    "aoi.count.whole": (
        "{n} scène(s) couvrent toute la zone, parmi les {touching} scènes examinées qui la touchent.",
        "{n} scene(s) cover the whole area, among the {touching} scenes examined that touch it.",
    ),
    "aoi.count.whole.partial": (
        "Seules les {touching} plus récentes des {matched} scènes touchant la zone ont été examinées : "
        "précisez les dates ou les filtres pour les examiner toutes.",
        "Only the {touching} most recent of the {matched} scenes touching the area were examined: "
        "narrow the dates or filters to examine them all.",
    ),
    "aoi.popup.close": ("Fermer", "Close"),
    "aoi.source.bbox": ("emprise", "bbox"),
    "aoi.source.wkt": ("WKT", "WKT"),
    "aoi.source.geojson": ("GeoJSON", "GeoJSON"),
    "aoi.source.kml": ("KML", "KML"),
    "aoi.source.kmz": ("KMZ", "KMZ"),
    "aoi.source.gpx": ("GPX", "GPX"),
    "aoi.source.shapefile": ("shapefile zippé", "zipped shapefile"),
    "aoi.source.simplified": ("zone simplifiée", "simplified area"),
    "aoi.field.label": ("Zone d'intérêt (GeoJSON)", "Area of interest (GeoJSON)"),
    "aoi.field.hint": (
        "Une géométrie GeoJSON (Polygon ou MultiPolygon, WGS 84), une emprise ouest,sud,est,nord ou du WKT.",
        "A GeoJSON geometry (Polygon or MultiPolygon, WGS 84), a bbox west,south,east,north or WKT.",
    ),
}

register(TEXTS)
