-- name: use_reuse
-- version: 1
-- title_fr: Réutilisation des scènes (facteur de réutilisation)
-- title_en: Reuse of the scenes (reuse factor)
-- definition_fr: Sur les scènes archivées (dernière version ingérée), ventilées selon l'année de leur archivage : scènes utilisées = scènes dont au moins un produit a été commandé ; facteur de réutilisation = organisations distinctes par scène utilisée (somme sur les scènes utilisées du nombre d'organisations qui l'ont commandée, divisée par le nombre de ces scènes) ; par km² = la même moyenne pondérée par la surface de l'emprise (géodésique) ; part de l'archive utilisée = scènes utilisées / scènes archivées. Ventilée par catégorie, une ligne sans catégorie réunit les scènes jamais commandées.
-- definition_en: Over the archived scenes (latest ingested version), by the year of their archiving: scenes used = scenes with at least one product ordered; reuse factor = distinct organisations per scene used (the sum over used scenes of the organisations that ordered it, over the number of those scenes); per km² = the same mean weighted by the footprint's (geodesic) area; share of the archive used = used scenes / archived scenes. Broken down by category, a row without category holds the scenes never ordered.
-- unit: organisations par scène
-- dimensions: year, category, sensor_family, collection
-- public_dimensions: year, sensor_family, collection
-- privacy: organisations
-- measure: scenes_archived = count(DISTINCT item_id) | scènes | Scènes archivées | Scenes archived
-- measure: scenes_used = count(DISTINCT item_id) FILTER (WHERE organisation_id IS NOT NULL) | scènes | Scènes utilisées | Scenes used
-- measure: archive_used_share = round(count(DISTINCT item_id) FILTER (WHERE organisation_id IS NOT NULL) / count(DISTINCT item_id), 4) | part | Part de l'archive utilisée | Share of the archive used
-- measure: reuse_factor = round(count(*) FILTER (WHERE organisation_id IS NOT NULL) / nullif(count(DISTINCT item_id) FILTER (WHERE organisation_id IS NOT NULL), 0), 4) | organisations par scène | Organisations par scène utilisée | Organisations per scene used
-- measure: used_km2 = round(list_sum(list_transform(list_distinct(list({'i': item_id, 'a': area_km2}) FILTER (WHERE organisation_id IS NOT NULL)), lambda x: x.a)), 3) | km² | Surface des scènes utilisées | Area of the scenes used
-- measure: reuse_factor_km2 = round(sum(area_km2) FILTER (WHERE organisation_id IS NOT NULL) / nullif(list_sum(list_transform(list_distinct(list({'i': item_id, 'a': area_km2}) FILTER (WHERE organisation_id IS NOT NULL)), lambda x: x.a)), 0), 4) | organisations par km² | Organisations par km² utilisé | Organisations per km² used
WITH archived AS (
    SELECT item_id, collection, sensor_family, area_km2, ingested_at
    FROM scenes WHERE item_id IS NOT NULL
), users AS (
    SELECT DISTINCT item_id, organisation_id FROM products
)
SELECT
    a.item_id,
    u.organisation_id,
    CAST(year(a.ingested_at) AS VARCHAR) AS year,
    o.category,
    a.sensor_family,
    a.collection,
    a.area_km2
FROM archived a
LEFT JOIN users u USING (item_id)
LEFT JOIN org_dims o ON o.organisation_id = u.organisation_id
