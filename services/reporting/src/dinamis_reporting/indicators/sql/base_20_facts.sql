-- Shared views of the indicators, continued (version 1). Every statement is CREATE OR REPLACE.
-- Functions dinamis_area_km2, dinamis_cell, dinamis_region and tables ref_grid,
-- ref_prices: indicators/functions.py.

-- Each organisation's breakdown columns (its latest state), with its region.
CREATE OR REPLACE VIEW org_dims AS
SELECT organisation_id, category, department, dinamis_region(department) AS region
FROM organisations;

-- Each organisation's revisions, in order (its state over time).
CREATE OR REPLACE VIEW organisation_revisions AS
SELECT
    data->>'$.organisation_id' AS organisation_id,
    CAST(data->>'$.revision' AS INTEGER) AS revision,
    data->>'$.status' AS status,
    CAST(data->>'$.changed_at' AS TIMESTAMPTZ) AS changed_at
FROM events
WHERE type = 'fr.dinamis.organisation-changed.v1';

-- Each user's revisions (the user id is only ever counted, never output).
CREATE OR REPLACE VIEW user_revisions AS
SELECT
    data->>'$.user_id' AS user_id,
    data->>'$.organisation_id' AS organisation_id,
    CAST(data->>'$.revision' AS INTEGER) AS revision,
    CAST(data->>'$.active' AS BOOLEAN) AS active,
    CAST(data->>'$.changed_at' AS TIMESTAMPTZ) AS changed_at
FROM events
WHERE type = 'fr.dinamis.user-changed.v1';

-- The years the membership indicators run over: from the first organisation event to
-- the last (or the current year, whichever is later).
CREATE OR REPLACE VIEW membership_years AS
SELECT CAST(y AS INTEGER) AS year
FROM (
    SELECT generate_series(
        CAST(min(year(changed_at)) AS BIGINT),
        CAST(greatest(max(year(changed_at)), year(current_date)) AS BIGINT)
    ) AS ys
    FROM organisation_revisions
), unnest(ys) AS t(y);

-- One row per acquisition request: what was asked, decided, delivered, and when.
CREATE OR REPLACE VIEW requests AS
WITH submitted AS (
    SELECT
        data->>'$.request_id' AS request_id,
        arg_min(data->>'$.organisation_id', time) AS organisation_id,
        arg_min(data->>'$.kind', time) AS kind,
        arg_min(data->>'$.sensor_family', time) AS sensor_family,
        arg_min(CAST(data->>'$.area_km2' AS DOUBLE), time) AS requested_km2,
        min(CAST(data->>'$.submitted_at' AS TIMESTAMPTZ)) AS submitted_at
    FROM events WHERE type = 'fr.dinamis.request-submitted.v1' GROUP BY 1
), approved AS (
    SELECT
        data->>'$.request_id' AS request_id,
        arg_max(data->>'$.organisation_id', CAST(data->>'$.approved_at' AS TIMESTAMPTZ)) AS organisation_id,
        arg_max(data->>'$.kind', CAST(data->>'$.approved_at' AS TIMESTAMPTZ)) AS kind,
        arg_max(data->>'$.sensor_family', CAST(data->>'$.approved_at' AS TIMESTAMPTZ)) AS sensor_family,
        arg_max(CAST(data->>'$.area_km2' AS DOUBLE), CAST(data->>'$.approved_at' AS TIMESTAMPTZ)) AS approved_km2,
        arg_max(CAST(data->>'$.reserved_km2' AS DOUBLE), CAST(data->>'$.approved_at' AS TIMESTAMPTZ)) AS quota_km2,
        arg_max(CAST(data->>'$.cofinanced_km2' AS DOUBLE), CAST(data->>'$.approved_at' AS TIMESTAMPTZ)) AS cofinanced_km2,
        min(CAST(data->>'$.approved_at' AS TIMESTAMPTZ)) AS approved_at
    FROM events WHERE type = 'fr.dinamis.request-approved.v1' GROUP BY 1
), rejected AS (
    SELECT
        data->>'$.request_id' AS request_id,
        arg_min(data->>'$.organisation_id', CAST(data->>'$.rejected_at' AS TIMESTAMPTZ)) AS organisation_id,
        arg_min(lower(data->>'$.reason'), CAST(data->>'$.rejected_at' AS TIMESTAMPTZ)) AS reason_text,
        min(CAST(data->>'$.rejected_at' AS TIMESTAMPTZ)) AS rejected_at
    FROM events WHERE type = 'fr.dinamis.request-rejected.v1' GROUP BY 1
), updates AS (
    SELECT
        data->>'$.request_id' AS request_id,
        arg_max(data->>'$.status', CAST(data->>'$.changed_at' AS TIMESTAMPTZ)) AS status,
        arg_max(CAST(data->>'$.covered_share' AS DOUBLE), CAST(data->>'$.changed_at' AS TIMESTAMPTZ))
            FILTER (WHERE data->>'$.covered_share' IS NOT NULL) AS covered_share,
        min(CAST(data->>'$.changed_at' AS TIMESTAMPTZ))
            FILTER (WHERE data->>'$.status' IN ('fulfilled', 'partially_fulfilled')) AS fulfilled_at
    FROM events WHERE type = 'fr.dinamis.request-updated.v1' GROUP BY 1
), first_scenes AS (
    SELECT data->>'$.acquisition_request_id' AS request_id, min(time) AS first_scene_at
    FROM events
    WHERE type = 'fr.dinamis.scene-ingested.v1' AND data->>'$.acquisition_request_id' IS NOT NULL
    GROUP BY 1
), ids AS (
    SELECT request_id FROM submitted UNION SELECT request_id FROM approved
)
SELECT
    k.request_id,
    coalesce(s.organisation_id, a.organisation_id) AS organisation_id,
    coalesce(a.kind, s.kind) AS kind,
    coalesce(a.sensor_family, s.sensor_family) AS sensor_family,
    s.requested_km2,
    a.approved_km2,
    a.quota_km2,
    a.cofinanced_km2,
    -- acquired: the approved area times the latest share of it the supplier covered
    -- (request-updated `covered_share`): a request never reported on acquired nothing.
    a.approved_km2 * u.covered_share AS acquired_km2,
    CASE
        WHEN a.request_id IS NULL THEN NULL
        WHEN coalesce(a.cofinanced_km2, 0) = 0 THEN 'quota'
        WHEN coalesce(a.quota_km2, 0) = 0 THEN 'cofinancing'
        ELSE 'mixed'
    END AS funding,
    coalesce(u.status, CASE WHEN r.request_id IS NOT NULL THEN 'rejected'
                            WHEN a.request_id IS NOT NULL THEN 'approved' ELSE 'submitted' END) AS status,
    coalesce(s.submitted_at, a.approved_at) AS submitted_at,
    a.approved_at,
    r.rejected_at,
    r.reason_text,
    sc.first_scene_at,
    u.fulfilled_at
FROM ids k
LEFT JOIN submitted s ON s.request_id = k.request_id
LEFT JOIN approved a ON a.request_id = k.request_id
LEFT JOIN rejected r ON r.request_id = k.request_id
LEFT JOIN updates u ON u.request_id = k.request_id
LEFT JOIN first_scenes sc ON sc.request_id = k.request_id;

-- One row per archived scene (its latest ingested version): its STAC item id,
-- collection, sensor family, footprint area, cloud cover, coverage campaign and cell.
CREATE OR REPLACE VIEW scenes AS
WITH ingested AS (
    SELECT
        data->>'$.scene_id' AS scene_id,
        arg_max(data->>'$.item.id', CAST(data->>'$.version' AS INTEGER)) AS item_id,
        arg_max(data->>'$.collection', CAST(data->>'$.version' AS INTEGER)) AS collection,
        arg_max(data->>'$.item.properties.platform', CAST(data->>'$.version' AS INTEGER)) AS platform,
        arg_max(data->'$.item.geometry', CAST(data->>'$.version' AS INTEGER)) AS geometry,
        arg_max(TRY_CAST(data->>'$.item.properties."eo:cloud_cover"' AS DOUBLE), CAST(data->>'$.version' AS INTEGER)) AS cloud,
        arg_max(data->>'$.acquisition_request_id', CAST(data->>'$.version' AS INTEGER)) AS request_id,
        min(time) AS ingested_at
    FROM events WHERE type = 'fr.dinamis.scene-ingested.v1' GROUP BY 1
), acquired AS (
    SELECT
        data->>'$.scene_id' AS scene_id,
        arg_min(data->>'$.campaign', CAST(data->>'$.delivered_at' AS TIMESTAMPTZ)) AS campaign,
        arg_min(data->>'$.mission', CAST(data->>'$.delivered_at' AS TIMESTAMPTZ)) AS mission,
        arg_min(data->>'$.supplier_product_id', CAST(data->>'$.delivered_at' AS TIMESTAMPTZ)) AS supplier_product_id,
        arg_min(data->>'$.acquisition_request_id', CAST(data->>'$.delivered_at' AS TIMESTAMPTZ)) AS request_id,
        min(CAST(data->>'$.delivered_at' AS TIMESTAMPTZ)) AS acquired_at
    FROM events WHERE type = 'fr.dinamis.scene-acquired.v1' GROUP BY 1
)
SELECT
    coalesce(i.scene_id, a.scene_id) AS scene_id,
    i.item_id,
    i.collection,
    dinamis_sensor_family(a.mission, i.platform, i.collection) AS sensor_family,
    dinamis_area_km2(CAST(i.geometry AS VARCHAR)) AS area_km2,
    i.cloud,
    a.campaign,
    TRY_CAST(regexp_extract(a.campaign, '^france-(\d{4})$', 1) AS INTEGER) AS campaign_year,
    coalesce(
        dinamis_cell(CAST(i.geometry AS VARCHAR)),
        -- before its ingestion, a coverage scene names its cell by its tasking reference
        -- (`<year><cell, 5 digits>`, the portal's coverage board)
        CASE WHEN regexp_full_match(a.supplier_product_id, '\d{9}')
              AND left(a.supplier_product_id, 4) = regexp_extract(a.campaign, '^france-(\d{4})$', 1)
             THEN CAST(right(a.supplier_product_id, 5) AS INTEGER) END
    ) AS cell,
    coalesce(i.request_id, a.request_id) AS request_id,
    a.acquired_at,
    i.ingested_at
FROM ingested i
FULL JOIN acquired a ON a.scene_id = i.scene_id;

-- One row per product ordered (delivery-requested), with its delivery and downloads.
CREATE OR REPLACE VIEW products AS
WITH ordered AS (
    SELECT
        data->>'$.order_id' AS order_id,
        data->>'$.organisation_id' AS organisation_id,
        CAST(data->>'$.requested_at' AS TIMESTAMPTZ) AS requested_at,
        unnest(CAST(data->'$.products' AS JSON[])) AS p
    FROM events WHERE type = 'fr.dinamis.delivery-requested.v1'
), ready AS (
    SELECT
        data->>'$.product_id' AS product_id,
        arg_min(data->'$.footprint', time) AS footprint,
        sum(CAST(data->>'$.size_bytes' AS BIGINT)) AS size_bytes
    FROM events WHERE type = 'fr.dinamis.product-ready.v1' GROUP BY 1
), downloads AS (
    SELECT data->>'$.product_id' AS product_id, count(*) AS downloads,
           min(CAST(data->>'$.downloaded_at' AS TIMESTAMPTZ)) AS first_download_at
    FROM events WHERE type = 'fr.dinamis.product-downloaded.v1' GROUP BY 1
)
SELECT
    o.order_id,
    o.organisation_id,
    o.p->>'$.product_id' AS product_id,
    o.p->>'$.item_id' AS item_id,
    o.p->>'$.collection' AS collection,
    o.requested_at,
    r.product_id IS NOT NULL AS ready,
    dinamis_area_km2(CAST(r.footprint AS VARCHAR)) AS delivered_km2,
    coalesce(d.downloads, 0) AS downloads,
    d.first_download_at
FROM ordered o
LEFT JOIN ready r ON r.product_id = o.p->>'$.product_id'
LEFT JOIN downloads d ON d.product_id = o.p->>'$.product_id';
