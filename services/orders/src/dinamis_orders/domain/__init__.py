"""Pure rules of orders: quotas (more to come: memberships, requests)."""
