"""DINAMIS shared library: event contracts and plumbing shared by every service.

No business rules live here: only contracts (event models, topics), the
CloudEvents binding, and helpers to reach Kafka, MongoDB, S3 and PostgreSQL.
"""

__version__ = "0.1.0"
