-- Shared views of the indicators (version 1). Every statement is CREATE OR REPLACE.
-- `events` (the lake): one row per CloudEvent, `data` its JSON as received.

-- Each organisation's latest state (highest revision), and when it was first seen.
CREATE OR REPLACE VIEW organisations AS
SELECT
    data->>'$.organisation_id' AS organisation_id,
    arg_max(data->>'$.category', CAST(data->>'$.revision' AS INTEGER)) AS category,
    arg_max(data->>'$.status', CAST(data->>'$.revision' AS INTEGER)) AS status,
    arg_max(data->>'$.department', CAST(data->>'$.revision' AS INTEGER)) AS department,
    min(CAST(data->>'$.changed_at' AS TIMESTAMPTZ)) AS first_seen
FROM events
WHERE type = 'fr.dinamis.organisation-changed.v1'
GROUP BY 1;
