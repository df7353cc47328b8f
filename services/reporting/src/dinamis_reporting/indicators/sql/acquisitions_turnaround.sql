-- name: acquisitions_turnaround
-- version: 1
-- title_fr: Délais de traitement des demandes
-- title_en: Request turnaround
-- definition_fr: En jours (décimaux), médiane et 90e centile, par demande datée de son dépôt : dépôt → décision (approbation ou rejet), décision → première scène (première scène archivée portant l'identifiant de la demande, heure de son événement), première scène → réalisation (premier passage à « fulfilled » ou « partially_fulfilled »), dépôt → réalisation. Une étape non atteinte n'est pas comptée.
-- definition_en: In (decimal) days, median and 90th percentile, per request dated by its submission: submission → decision (approval or rejection), decision → first scene (first archived scene carrying the request's id, its event time), first scene → fulfilment (first move to "fulfilled" or "partially_fulfilled"), submission → fulfilment. A step not reached is not counted.
-- unit: jours
-- dimensions: year, quarter, category, region, sensor_family, kind
-- public_dimensions: year, category, sensor_family, kind
-- privacy: organisations
-- measure: requests = count(*) | demandes | Demandes | Requests
-- measure: decision_median_days = round(median(decision_days), 3) | jours | Dépôt → décision, médiane | Submission → decision, median
-- measure: decision_p90_days = round(quantile_cont(decision_days, 0.9), 3) | jours | Dépôt → décision, 90e centile | Submission → decision, 90th percentile
-- measure: first_scene_median_days = round(median(first_scene_days), 3) | jours | Décision → première scène, médiane | Decision → first scene, median
-- measure: first_scene_p90_days = round(quantile_cont(first_scene_days, 0.9), 3) | jours | Décision → première scène, 90e centile | Decision → first scene, 90th percentile
-- measure: fulfilment_median_days = round(median(fulfilment_days), 3) | jours | Première scène → réalisation, médiane | First scene → fulfilment, median
-- measure: fulfilment_p90_days = round(quantile_cont(fulfilment_days, 0.9), 3) | jours | Première scène → réalisation, 90e centile | First scene → fulfilment, 90th percentile
-- measure: total_median_days = round(median(total_days), 3) | jours | Dépôt → réalisation, médiane | Submission → fulfilment, median
-- measure: total_p90_days = round(quantile_cont(total_days, 0.9), 3) | jours | Dépôt → réalisation, 90e centile | Submission → fulfilment, 90th percentile
WITH r AS (
    SELECT *, coalesce(approved_at, rejected_at) AS decided_at FROM requests
)
SELECT
    r.request_id,
    r.organisation_id,
    CAST(year(r.submitted_at) AS VARCHAR) AS year,
    year(r.submitted_at) || '-Q' || quarter(r.submitted_at) AS quarter,
    o.category,
    o.region,
    r.sensor_family,
    r.kind,
    epoch(r.decided_at - r.submitted_at) / 86400.0 AS decision_days,
    epoch(r.first_scene_at - r.approved_at) / 86400.0 AS first_scene_days,
    epoch(r.fulfilled_at - r.first_scene_at) / 86400.0 AS fulfilment_days,
    epoch(r.fulfilled_at - r.submitted_at) / 86400.0 AS total_days
FROM r
LEFT JOIN org_dims o USING (organisation_id)
