"""The stores delivery talks to: the catalogue (pgSTAC), product records (MongoDB), S3."""
