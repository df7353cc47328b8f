"""Test and development helpers of the DINAMIS workspace — never deployed.

- `testing`: start a service process for a test, drive a subscriber through
  FastStream's in-memory broker;
- `examples`: one valid example of every event (contract tests, AsyncAPI, benches);
- `watch`: `EventWatcher`, waits for events on the bus (integration tests, the CLI).
"""
