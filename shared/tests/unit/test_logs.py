import json
import logging

from dinamis_shared.logs import JsonFormatter, trace_id_var


def test_json_log_line_carries_trace_id_and_extra_fields():
    record = logging.LogRecord(
        "dinamis.test", logging.WARNING, __file__, 1, "scene %s rejected", ("S1",), None
    )
    record.reason = "checksum-mismatch"
    token = trace_id_var.set("4bf92f3577b34da6a3ce929d0e0e4736")
    try:
        line = JsonFormatter("ingest").format(record)
    finally:
        trace_id_var.reset(token)
    doc = json.loads(line)
    assert doc["message"] == "scene S1 rejected"
    assert doc["level"] == "WARNING" and doc["service"] == "ingest"
    assert doc["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert doc["reason"] == "checksum-mismatch"


def test_no_trace_id_outside_a_traced_context():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    assert "trace_id" not in json.loads(JsonFormatter("orders").format(record))
