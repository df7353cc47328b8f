"""Outages answer 503 with Retry-After (a caller may try again), never a bare 500."""

from __future__ import annotations

import json

import httpx

from dinamis_shared.errors import DinamisError, is_outage
from dinamis_shared.health import dinamis_error_response


def test_another_service_unreachable_is_an_outage_but_its_refusal_is_not():
    assert is_outage(httpx.ConnectError("All connection attempts failed"))
    assert is_outage(httpx.ReadTimeout("timed out"))
    request = httpx.Request("GET", "http://127.0.0.1:9/x")
    refused = httpx.HTTPStatusError("404", request=request, response=httpx.Response(404, request=request))
    assert not is_outage(refused)
    assert not is_outage(ValueError("bad input"))
    assert not is_outage(httpx.UnsupportedProtocol("no scheme"))  # a bug, retried it would loop for ever


class Down(DinamisError):
    code = "catalogue-unavailable"
    http_status = 503


def test_a_503_of_ours_says_when_to_retry_and_in_french_first():
    response = dinamis_error_response(Down("down, retry", message_fr="indisponible, réessayez"))
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    body = json.loads(response.body)
    assert body["code"] == "catalogue-unavailable" and body["detail"].startswith("indisponible")
