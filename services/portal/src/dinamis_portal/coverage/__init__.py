"""The yearly coverage board (`/ops/couverture`): the campaign's cells and their state,
driven by the scene events (consumer.py), kept in the portal's MongoDB (store.py)."""
