-- name: members_organisations
-- version: 2
-- title_fr: Organisations adhérentes
-- title_en: Member organisations
-- definition_fr: Pour chaque année, l'état de chaque organisation ayant été adhérente (au moins une fois au statut actif) au 31 décembre, ou à la date du dernier événement pour l'année en cours : actives, suspendues, expirées ; nouvelles = première approbation dans l'année. Catégorie et département : ceux de leur dernière révision.
-- definition_en: For each year, the state on 31 December (or at the last event, for the current year) of each organisation that was ever a member (active at least once): active, suspended, expired; new = first approval in that year. Category and department: those of their latest revision.
-- unit: organisations
-- dimensions: year, category, department, region
-- public_dimensions: year, category, region
-- privacy: organisations
-- measure: organisations_active = count(DISTINCT organisation_id) FILTER (WHERE state = 'active') | organisations | Organisations actives | Active organisations
-- measure: organisations_new = count(DISTINCT organisation_id) FILTER (WHERE is_new) | organisations | Nouvelles organisations | New organisations
-- measure: organisations_suspended = count(DISTINCT organisation_id) FILTER (WHERE state = 'suspended') | organisations | Organisations suspendues | Suspended organisations
-- measure: organisations_expired = count(DISTINCT organisation_id) FILTER (WHERE state = 'expired') | organisations | Organisations expirées | Expired organisations
WITH members AS (
    SELECT organisation_id, min(changed_at) AS approved_at
    FROM organisation_revisions WHERE status = 'active' GROUP BY 1
), yearly AS (
    SELECT m.organisation_id, y.year, m.approved_at
    FROM members m JOIN membership_years y ON y.year >= year(m.approved_at)
), state AS (
    SELECT
        yr.organisation_id,
        yr.year,
        yr.approved_at,
        arg_max(r.status, r.revision) AS state
    FROM yearly yr
    JOIN organisation_revisions r
        ON r.organisation_id = yr.organisation_id
        AND r.changed_at < make_timestamptz(yr.year + 1, 1, 1, 0, 0, 0, 'UTC')
    GROUP BY 1, 2, 3
)
SELECT
    s.organisation_id,
    CAST(s.year AS VARCHAR) AS year,
    o.category,
    o.department,
    o.region,
    s.state,
    year(s.approved_at) = s.year AS is_new
FROM state s
JOIN org_dims o USING (organisation_id)
