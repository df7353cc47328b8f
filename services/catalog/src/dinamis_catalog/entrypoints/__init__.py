"""HTTP routes of the catalog beside the STAC API."""
