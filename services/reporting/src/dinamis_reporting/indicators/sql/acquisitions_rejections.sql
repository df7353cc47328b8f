-- name: acquisitions_rejections
-- version: 1
-- title_fr: Motifs de rejet des demandes
-- title_en: Request rejection reasons
-- definition_fr: Demandes rejetées, datées du rejet, par motif. Le texte libre du motif n'est jamais publié : il est classé par mots-clés (version 1) en covered-by-catalogue (zone déjà couverte par le catalogue), quota, out-of-scope (hors périmètre, hors dispositif), duplicate (doublon), incomplete (demande incomplète), other.
-- definition_en: Rejected requests, dated by the rejection, by reason. The free text of the reason is never published: it is classified by keywords (version 1) into covered-by-catalogue (area already covered by the catalogue), quota, out-of-scope, duplicate, incomplete, other.
-- unit: demandes
-- dimensions: year, quarter, category, region, sensor_family, kind, reason
-- public_dimensions: year, category, reason
-- privacy: organisations
-- measure: requests_rejected = count(*) | demandes | Demandes rejetées | Rejected requests
-- measure: rejected_km2 = round(sum(requested_km2), 3) | km² | Surface rejetée | Area rejected
SELECT
    r.request_id,
    r.organisation_id,
    CAST(year(r.rejected_at) AS VARCHAR) AS year,
    year(r.rejected_at) || '-Q' || quarter(r.rejected_at) AS quarter,
    o.category,
    o.region,
    r.sensor_family,
    r.kind,
    r.requested_km2,
    CASE
        WHEN r.reason_text LIKE '%déjà couvert%' OR r.reason_text LIKE '%already covered%' THEN 'covered-by-catalogue'
        WHEN r.reason_text LIKE '%quota%' THEN 'quota'
        WHEN r.reason_text LIKE '%doublon%' OR r.reason_text LIKE '%duplicate%' THEN 'duplicate'
        WHEN r.reason_text LIKE '%incomplet%' THEN 'incomplete'
        WHEN r.reason_text LIKE '%périmètre%' OR r.reason_text LIKE '%scope%' OR r.reason_text LIKE '%hors dispositif%' OR r.reason_text LIKE '%éligib%' OR r.reason_text LIKE '%eligib%' THEN 'out-of-scope'
        ELSE 'other'
    END AS reason
FROM requests r
LEFT JOIN org_dims o USING (organisation_id)
WHERE r.rejected_at IS NOT NULL
