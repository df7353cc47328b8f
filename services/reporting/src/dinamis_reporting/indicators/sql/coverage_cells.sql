-- name: coverage_cells
-- version: 1
-- title_fr: Couverture annuelle : mailles
-- title_en: Yearly coverage: cells
-- definition_fr: Pour chaque campagne de couverture (france-AAAA, portée par les scènes livrées) : mailles planifiées = toutes les mailles de la grille de couverture (carrés de 52 km en Lambert-93) ; acquises = mailles dont une scène de la campagne est livrée (maille du centre de l'emprise de la scène archivée, sinon de la référence de programmation) ; publiées = mailles dont une scène de la campagne est archivée et cataloguée. Dates : première livraison, dernière publication. Nébulosité (eo:cloud_cover de l'item STAC) : la plus faible des scènes publiées de la maille, moyenne sur les mailles.
-- definition_en: For each coverage campaign (france-YYYY, carried by the delivered scenes): cells planned = every cell of the coverage grid (52 km squares in Lambert-93); acquired = cells where a scene of the campaign was delivered (the cell of the centre of the archived scene's footprint, else of its tasking reference); published = cells where a scene of the campaign is archived and catalogued. Dates: first delivery, last publication. Cloud (eo:cloud_cover of the STAC item): the lowest of the cell's published scenes, averaged over the cells.
-- unit: mailles
-- dimensions: year, campaign
-- public_dimensions: year, campaign
-- privacy: none
-- measure: cells_planned = count(*) | mailles | Mailles planifiées | Cells planned
-- measure: cells_acquired = count(*) FILTER (WHERE acquired_at IS NOT NULL) | mailles | Mailles acquises | Cells acquired
-- measure: cells_published = count(*) FILTER (WHERE published_at IS NOT NULL) | mailles | Mailles publiées | Cells published
-- measure: acquired_share = round(count(*) FILTER (WHERE acquired_at IS NOT NULL) / count(*), 4) | part | Part acquise | Share acquired
-- measure: first_acquired_at = CAST(min(acquired_at) AS DATE) | date | Première acquisition | First acquisition
-- measure: last_published_at = CAST(max(published_at) AS DATE) | date | Dernière publication | Last publication
-- measure: cloud_mean = round(avg(cloud), 2) | % | Nébulosité moyenne | Mean cloud cover
WITH campaigns AS (
    SELECT DISTINCT campaign, campaign_year FROM scenes WHERE campaign_year IS NOT NULL
), cells AS (
    SELECT
        s.campaign,
        s.cell,
        min(s.acquired_at) AS acquired_at,
        max(s.ingested_at) FILTER (WHERE s.item_id IS NOT NULL) AS published_at,
        min(s.cloud) FILTER (WHERE s.item_id IS NOT NULL) AS cloud
    FROM scenes s
    WHERE s.campaign_year IS NOT NULL AND s.cell IS NOT NULL
    GROUP BY 1, 2
)
SELECT
    c.campaign,
    CAST(c.campaign_year AS VARCHAR) AS year,
    g.cell,
    x.acquired_at,
    x.published_at,
    x.cloud
FROM campaigns c
CROSS JOIN ref_grid g
LEFT JOIN cells x ON x.campaign = c.campaign AND x.cell = g.cell
