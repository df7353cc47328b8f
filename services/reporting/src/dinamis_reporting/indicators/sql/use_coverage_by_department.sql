-- name: use_coverage_by_department
-- version: 1
-- title_fr: Usage de la couverture annuelle par département
-- title_en: Use of the yearly coverage by department
-- definition_fr: Produits commandés sur des scènes d'une campagne de couverture (france-AAAA), par département et région de l'organisation qui les commande, datés de la commande : organisations, scènes distinctes, produits commandés, téléchargements.
-- definition_en: Products ordered from scenes of a coverage campaign (france-YYYY), by the department and region of the ordering organisation, dated by the order: organisations, distinct scenes, products ordered, downloads.
-- unit: produits
-- dimensions: year, campaign, category, department, region
-- public_dimensions: year, campaign, region
-- privacy: organisations
-- measure: scenes = count(DISTINCT item_id) | scènes | Scènes de la couverture commandées | Coverage scenes ordered
-- measure: products_ordered = count(*) | produits | Produits commandés | Products ordered
-- measure: downloads = sum(downloads) | téléchargements | Téléchargements | Downloads
SELECT
    p.organisation_id,
    p.item_id,
    CAST(year(p.requested_at) AS VARCHAR) AS year,
    s.campaign,
    o.category,
    o.department,
    o.region,
    p.downloads
FROM products p
JOIN scenes s ON s.item_id = p.item_id AND s.campaign_year IS NOT NULL
LEFT JOIN org_dims o ON o.organisation_id = p.organisation_id
