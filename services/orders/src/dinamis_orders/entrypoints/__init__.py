"""Entry points: Kafka handlers (events.py) and, later, HTTP routes (http.py)."""
