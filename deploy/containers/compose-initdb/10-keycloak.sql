-- Keycloak keeps its state in its own database of the catalogue's PostgreSQL (as the native stack).
CREATE DATABASE keycloak;
