-- Groundwork's database bootstrap for the official postgres / pgvector images.
--
-- Mounted into /docker-entrypoint-initdb.d/ by docker-compose.yml, it runs once, as the superuser
-- (POSTGRES_USER), when the data directory is empty. For an external PostgreSQL run the same steps
-- by hand as a superuser (platform/README.md, "Database").
--
-- Security invariant: the application role is NOT a superuser and NOT BYPASSRLS. Superusers and
-- BYPASSRLS roles skip Row-Level Security even where it is FORCED, so connecting as either would
-- silently switch off the database's tenant isolation.

\set ON_ERROR_STOP on

-- The application role's password comes from the container's environment, never from this file.
\getenv groundwork_password GROUNDWORK_DB_PASSWORD
\if :{?groundwork_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'GROUNDWORK_DB_PASSWORD is not set: the application role needs a password'; END $$;
\endif

-- pgvector is not a trusted extension, so only a superuser can create it. In template1 first: every
-- database created afterwards (the application's now, a test database later) starts with it.
\connect template1
CREATE EXTENSION IF NOT EXISTS vector;

\connect postgres
-- LOGIN only: no superuser, no BYPASSRLS, no role or database creation.
CREATE ROLE groundwork LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION
    PASSWORD :'groundwork_password';
-- The role owns the database, so the migrations it runs create tables that it owns; RLS is FORCED on
-- every tenant table so that it binds the owner too.
CREATE DATABASE groundwork OWNER groundwork;
REVOKE ALL ON DATABASE groundwork FROM PUBLIC;

\connect groundwork
-- Already copied from template1; stated again so this database has it whatever template1 held.
CREATE EXTENSION IF NOT EXISTS vector;
