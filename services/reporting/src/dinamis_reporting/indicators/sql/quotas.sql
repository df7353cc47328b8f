-- name: quotas
-- version: 1
-- title_fr: Quotas alloués et consommés
-- title_en: Quotas allocated and consumed
-- definition_fr: Le dernier solde (rang le plus élevé) de chaque registre de quota (organisation × famille de capteurs × période) : km² alloués, réservés (demandes approuvées non encore acquises), consommés ; taux de consommation = consommés / alloués. Année et trimestre : ceux de la période du registre (« 2026-Q3 » : trimestriel, « 2026 » : annuel, sans trimestre).
-- definition_en: The latest balance (highest rank) of each quota ledger (organisation × sensor family × period): km² allocated, reserved (approved requests not yet acquired), consumed; consumption rate = consumed / allocated. Year and quarter: those of the ledger's period ("2026-Q3": quarterly, "2026": yearly, no quarter).
-- unit: km²
-- dimensions: year, quarter, category, region, sensor_family
-- public_dimensions: year, category, sensor_family
-- privacy: organisations
-- measure: ledgers = count(*) | registres | Registres de quota | Quota ledgers
-- measure: allocated_km2 = round(sum(allocated_km2), 3) | km² | Alloués | Allocated
-- measure: reserved_km2 = round(sum(reserved_km2), 3) | km² | Réservés | Reserved
-- measure: consumed_km2 = round(sum(consumed_km2), 3) | km² | Consommés | Consumed
-- measure: consumption_rate = round(sum(consumed_km2) / nullif(sum(allocated_km2), 0), 4) | part | Taux de consommation | Consumption rate
WITH ledgers AS (
    SELECT
        data->>'$.organisation_id' AS organisation_id,
        data->>'$.sensor_family' AS sensor_family,
        data->>'$.period' AS period,
        arg_max(CAST(data->>'$.allocated_km2' AS DOUBLE), CAST(data->>'$.seq' AS BIGINT)) AS allocated_km2,
        arg_max(CAST(data->>'$.reserved_km2' AS DOUBLE), CAST(data->>'$.seq' AS BIGINT)) AS reserved_km2,
        arg_max(CAST(data->>'$.consumed_km2' AS DOUBLE), CAST(data->>'$.seq' AS BIGINT)) AS consumed_km2
    FROM events WHERE type = 'fr.dinamis.quota-changed.v1'
    GROUP BY 1, 2, 3
)
SELECT
    l.organisation_id,
    l.sensor_family,
    regexp_extract(l.period, '^(\d{4})', 1) AS year,
    CASE WHEN regexp_full_match(l.period, '\d{4}-Q[1-4]') THEN l.period END AS quarter,
    o.category,
    o.region,
    l.allocated_km2,
    l.reserved_km2,
    l.consumed_km2
FROM ledgers l
LEFT JOIN org_dims o USING (organisation_id)
