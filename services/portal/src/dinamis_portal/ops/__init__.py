"""The ops console: the portal's staff pages under `/ops` (review queue, memberships,
quotas, the yearly coverage board, pipeline health, announcements, the operators' journal).

Who is staff is decided by the orders service from its current records (`GET /v1/me`,
asked afresh on every `/ops` request), never by a token claim or the portal's session;
the staff actions that change platform records are made by the service that owns them,
called with the operator's own token, and every action taken through the console is
written to the operators' journal (`audit`)."""
