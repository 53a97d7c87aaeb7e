-- Runs once, when the postgres volume is first initialised (docker-entrypoint-initdb.d), as
-- the superuser. Keel and Temporal each get their own role and only their own databases.
-- Passwords come from the container's environment; changing them later takes ALTER ROLE,
-- since this file never runs again on an initialised volume.
\getenv keel_password KEEL_DB_PASSWORD
\getenv temporal_password TEMPORAL_DB_PASSWORD

CREATE ROLE keel LOGIN PASSWORD :'keel_password';
CREATE DATABASE keel OWNER keel;
REVOKE ALL ON DATABASE keel FROM PUBLIC;

-- Temporal's auto-setup is told not to create databases (SKIP_DB_CREATE), so its role needs
-- no CREATEDB; it creates its schemas inside these.
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal, temporal_visibility FROM PUBLIC;
