"""The yearly coverage campaign, end to end, on a running platform (`dinamis campaign`).

- `record.py`   — what a run did (the scenes it delivered and their fate, the orders it
                  placed, the bad inputs it sent on purpose, the offsets it started from):
                  what the invariants are checked against;
- `drive.py`    — the stages: members, deliveries of the cells (some cloudy or corrupt,
                  re-tasked), ingest → catalogue, the burst of product orders → delivery →
                  notify; measures per stage;
- `chaos.py`    — the faults: a random service replica SIGKILLed every N seconds (the
                  supervisor restarts it), each server restarted once;
- `invariants.py` — checked at the end from the stores and topics themselves;
- `report.py`   — the JSON report and its summary.
"""
