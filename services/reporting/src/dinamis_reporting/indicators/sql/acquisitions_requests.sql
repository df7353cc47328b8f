-- name: acquisitions_requests
-- version: 1
-- title_fr: Demandes d'acquisition
-- title_en: Acquisition requests
-- definition_fr: Une ligne par demande, datée de son dépôt. Surface demandée = celle du dépôt ; approuvée = celle de l'approbation ; acquise = surface approuvée × dernière part couverte déclarée (covered_share des mises à jour de la demande). Financement : quota (aucun km² cofinancé), cofinancement (aucun km² sur quota) ou mixte ; km² sur quota et cofinancés tels qu'approuvés.
-- definition_en: One row per request, dated by its submission. Requested area = at submission; approved = at approval; acquired = approved area × the latest covered share reported (covered_share of the request's updates). Funding: quota (no co-financed km²), cofinancing (no quota km²) or mixed; quota and co-financed km² as approved.
-- unit: km²
-- dimensions: year, quarter, category, department, region, sensor_family, kind, funding, status
-- public_dimensions: year, quarter, category, region, sensor_family, kind, funding
-- privacy: organisations
-- measure: requests = count(*) | demandes | Demandes | Requests
-- measure: requests_approved = count(*) FILTER (WHERE approved_km2 IS NOT NULL) | demandes | Demandes approuvées | Approved requests
-- measure: requested_km2 = round(sum(requested_km2), 3) | km² | Surface demandée | Area requested
-- measure: approved_km2 = round(sum(approved_km2), 3) | km² | Surface approuvée | Area approved
-- measure: acquired_km2 = round(sum(acquired_km2), 3) | km² | Surface acquise | Area acquired
-- measure: quota_km2 = round(sum(quota_km2), 3) | km² | Surface sur quota | Area on quota
-- measure: cofinanced_km2 = round(sum(cofinanced_km2), 3) | km² | Surface cofinancée | Area co-financed
SELECT
    r.request_id,
    r.organisation_id,
    CAST(year(r.submitted_at) AS VARCHAR) AS year,
    year(r.submitted_at) || '-Q' || quarter(r.submitted_at) AS quarter,
    o.category,
    o.department,
    o.region,
    r.sensor_family,
    r.kind,
    r.funding,
    r.status,
    r.requested_km2,
    r.approved_km2,
    r.acquired_km2,
    r.quota_km2,
    r.cofinanced_km2
FROM requests r
LEFT JOIN org_dims o USING (organisation_id)
