"""Pure rules of delivery: what a product is, which options are accepted, who may download."""
