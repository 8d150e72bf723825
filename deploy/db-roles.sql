-- Least privilege in the database: run ONCE per database, as a superuser, with psql:
--
--   psql "$ADMIN_URL" -v owner=homecare_owner -v app=homecare_app -v schema=homecare \
--        -v owner_password="$OWNER_PW" -v app_password="$APP_PW" -f deploy/db-roles.sql
--
-- owner  owns the schema and every table in it: the migration Job (one per release,
--        `homecare db upgrade` then `homecare db grant --app-role homecare_app`)
--        connects as this role. Only an owner may ALTER or DROP a table or its triggers.
-- app    what the API and the jobs process connect as: it reads and writes rows, and
--        nothing else. It owns no table, so it cannot drop or disable the audit
--        triggers, and `homecare db grant` gives it only SELECT and INSERT on
--        audit_entries: an UPDATE, DELETE or TRUNCATE of the audit trail is refused
--        by the privilege system before the append-only trigger even runs.
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'owner', :'owner_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'app', :'app_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec

-- Neither role may create objects in public, nor use a schema other than ours.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', :'schema', :'owner') \gexec
SELECT format('GRANT USAGE ON SCHEMA %I TO %I', :'schema', :'app') \gexec
-- Both find the tables without qualifying them.
SELECT format('ALTER ROLE %I SET search_path = %I', :'owner', :'schema') \gexec
SELECT format('ALTER ROLE %I SET search_path = %I', :'app', :'schema') \gexec
-- A statement or an idle transaction of the app is never allowed to hold locks for long.
SELECT format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', :'app', '60s')
\gexec
