-- name: money
-- version: 1
-- title_fr: Valeur de l'imagerie et cofinancements
-- title_en: Value of the imagery and co-financing
-- definition_fr: Aux prix catalogue de référence par km² (table configurable indicators/prices.toml, valeurs indicatives, par famille de capteurs, archive ou programmation) : valeur de l'imagerie livrée = surface (géodésique) de l'emprise de chaque produit prêt × prix de sa famille et de son type (programmation si la scène vient d'une demande de programmation, sinon archive), datée de la commande — le coût évité pour les utilisateurs ; cofinancement = km² cofinancés des demandes approuvées × prix de programmation ou d'archive de la demande, datés de l'approbation.
-- definition_en: At the reference list prices per km² (configurable table indicators/prices.toml, indicative values, by sensor family, archive or tasking): value of the imagery delivered = (geodesic) footprint area of each ready product × the price of its family and kind (tasking when the scene comes from a tasking request, else archive), dated by the order — the cost avoided by the users; co-financing = co-financed km² of the approved requests × the request's tasking or archive price, dated by the approval.
-- unit: €
-- dimensions: year, category, region, sensor_family, kind
-- public_dimensions: year, category, sensor_family, kind
-- privacy: organisations
-- measure: delivered_km2 = round(sum(delivered_km2), 3) | km² | Surface livrée | Area delivered
-- measure: delivered_value_eur = round(sum(delivered_km2 * eur_per_km2), 2) | € | Valeur de l'imagerie livrée (coût évité) | Value of the imagery delivered (avoided cost)
-- measure: cofinanced_km2 = round(sum(cofinanced_km2), 3) | km² | Surface cofinancée | Area co-financed
-- measure: cofinanced_eur = round(sum(cofinanced_km2 * eur_per_km2), 2) | € | Cofinancements (valeur catalogue) | Co-financing (list value)
WITH delivered AS (
    SELECT
        p.organisation_id,
        p.requested_at AS at,
        s.sensor_family,
        CASE WHEN r.kind = 'tasking' THEN 'tasking' ELSE 'archive' END AS kind,
        p.delivered_km2,
        CAST(NULL AS DOUBLE) AS cofinanced_km2
    FROM products p
    LEFT JOIN scenes s ON s.item_id = p.item_id
    LEFT JOIN requests r ON r.request_id = s.request_id
    WHERE p.ready
), cofinanced AS (
    SELECT
        organisation_id,
        approved_at AS at,
        sensor_family,
        kind,
        CAST(NULL AS DOUBLE) AS delivered_km2,
        cofinanced_km2
    FROM requests
    WHERE approved_at IS NOT NULL AND cofinanced_km2 > 0
), facts AS (
    SELECT * FROM delivered UNION ALL SELECT * FROM cofinanced
)
SELECT
    f.organisation_id,
    CAST(year(f.at) AS VARCHAR) AS year,
    o.category,
    o.region,
    f.sensor_family,
    f.kind,
    f.delivered_km2,
    f.cofinanced_km2,
    p.eur_per_km2
FROM facts f
LEFT JOIN ref_prices p ON p.sensor_family = f.sensor_family AND p.kind = f.kind
LEFT JOIN org_dims o ON o.organisation_id = f.organisation_id
