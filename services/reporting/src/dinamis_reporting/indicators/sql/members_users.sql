-- name: members_users
-- version: 1
-- title_fr: Utilisateurs
-- title_en: Users
-- definition_fr: Utilisateurs des organisations adhérentes (connues par leurs événements : le personnel DINAMIS n'est pas compté), comptés (jamais listés) par année : actifs = compte actif au 31 décembre (ou au dernier événement pour l'année en cours) ; nouveaux = première activation du compte dans l'année. Ventilés selon leur organisation (sa dernière révision).
-- definition_en: Users of member organisations (known from their events: DINAMIS staff are not counted), counted (never listed) per year: active = account active on 31 December (or at the last event, for the current year); new = first activation of the account in that year. Broken down by their organisation (its latest revision).
-- unit: users
-- dimensions: year, category, department, region
-- public_dimensions: year, category, region
-- privacy: organisations
-- measure: users_active = count(DISTINCT user_id) FILTER (WHERE active) | users | Utilisateurs actifs | Active users
-- measure: users_new = count(DISTINCT user_id) FILTER (WHERE is_new) | users | Nouveaux utilisateurs | New users
WITH users AS (
    SELECT user_id, min(changed_at) AS activated_at
    FROM user_revisions WHERE active GROUP BY 1
), state AS (
    SELECT
        u.user_id,
        y.year,
        u.activated_at,
        arg_max(r.active, r.revision) AS active,
        arg_max(r.organisation_id, r.revision) AS organisation_id
    FROM users u
    JOIN membership_years y ON y.year >= year(u.activated_at)
    JOIN user_revisions r
        ON r.user_id = u.user_id
        AND r.changed_at < make_timestamptz(y.year + 1, 1, 1, 0, 0, 0, 'UTC')
    GROUP BY 1, 2, 3
)
SELECT
    s.user_id,
    s.organisation_id,
    CAST(s.year AS VARCHAR) AS year,
    o.category,
    o.department,
    o.region,
    s.active,
    year(s.activated_at) = s.year AS is_new
FROM state s
JOIN org_dims o USING (organisation_id)
