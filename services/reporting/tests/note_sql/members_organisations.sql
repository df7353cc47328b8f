-- name: members_organisations
-- version: 1
-- title_fr: Organisations adhérentes
-- title_en: Member organisations
-- definition_fr: Organisations dont l'adhésion a été approuvée (statut actuel actif), par année de leur première approbation.
-- definition_en: Organisations whose membership was approved (current status active), by year of their first approval.
-- unit: organisations
-- dimensions: year, category, department
-- public_dimensions: year, category
-- privacy: organisations
-- measure: organisations_active = count(DISTINCT organisation_id) FILTER (WHERE status = 'active') | organisations | Organisations actives | Active organisations
SELECT
    o.organisation_id,
    o.category,
    o.department,
    o.status,
    CAST(year(min(CAST(e.data->>'$.changed_at' AS TIMESTAMPTZ))) AS VARCHAR) AS year
FROM organisations o
JOIN events e
    ON e.type = 'fr.dinamis.organisation-changed.v1'
    AND e.data->>'$.organisation_id' = o.organisation_id
    AND e.data->>'$.status' = 'active'
GROUP BY o.organisation_id, o.category, o.department, o.status
