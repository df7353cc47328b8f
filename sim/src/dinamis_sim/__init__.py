"""The supplier simulator: DIMAP packages, staging and announcing them (`simulator`), the
yearly coverage grid (`coverage`) and the supplier's ordering API (`supplier`). Test and
demonstration code, kept out of the production services."""
