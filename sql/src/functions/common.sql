/*
 * sql/src/functions/common.sql - the check of names every area uses
 *
 * Every function, procedure and view of this area, written CREATE OR
 * REPLACE: run by the fresh install and again by every version step, so
 * that an upgraded installation ends with the same definitions (a step
 * drops first what changed its signature).  The tables are in
 * sql/src/structure/.
 */


/*
 * Raise 42602 unless name is a valid name of a kind of object ("queue",
 * "topic", "consumer group"): 1 to 200 bytes, no control characters.
 * Internal: granted to no one, called only by pgbroker's own functions.
 */
CREATE OR REPLACE FUNCTION broker._check_name(name text, kind text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_check_name'
LANGUAGE C;

/* Fail with 25006 on a hot standby or in a read-only transaction. */
CREATE OR REPLACE FUNCTION broker._require_primary(what text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_require_primary'
LANGUAGE C STRICT;

/* ---------------------------------------------------------------------
 * Privileges (acl.c says how they are kept and checked)
 * --------------------------------------------------------------------- */

/*
 * The right to create queues and topics, as INSERT on this view, which
 * selects nothing; members of pgbroker_admin hold it anyway.
 */
CREATE OR REPLACE VIEW broker.create_acl AS SELECT WHERE false;

/* The role that called the pgbroker function now running. */
CREATE OR REPLACE FUNCTION broker._caller()
RETURNS name
AS 'MODULE_PATHNAME', 'pgbroker_caller'
LANGUAGE C STABLE;

/*
 * The ACL holder of a new queue or topic: a view that selects nothing,
 * owned by the role that created the queue or topic, whose table
 * privileges stand for pgbroker's (SELECT browse, INSERT send, UPDATE
 * consume, DELETE manage).
 */
CREATE OR REPLACE FUNCTION broker._create_acl_holder(kind text, id integer)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	holder text := kind || '_' || id || '_acl';
	d record;
BEGIN
	EXECUTE format('CREATE VIEW broker.%I AS SELECT WHERE false', holder);
	EXECUTE format('ALTER VIEW broker.%I OWNER TO %I', holder, broker._caller());
	-- the creator's default privileges (broker.grant_default)
	FOR d IN SELECT a.grantee, a.privilege_type
			   FROM pg_catalog.pg_default_acl da,
					pg_catalog.aclexplode(da.defaclacl) a
			  WHERE da.defaclrole = broker._caller()::regrole
				AND da.defaclnamespace = 'broker'::regnamespace
				AND da.defaclobjtype = 'r'
				AND a.grantee <> da.defaclrole
				AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
			  ORDER BY 1, 2 LOOP
		EXECUTE format('GRANT %s ON broker.%I TO %s', d.privilege_type, holder,
					   CASE WHEN d.grantee = 0 THEN 'PUBLIC'
							ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(d.grantee)) END);
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION broker.has_privilege(role regrole, privilege text,
												queue text DEFAULT NULL, topic text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_has_privilege'
LANGUAGE C STABLE;
COMMENT ON FUNCTION broker.has_privilege(regrole, text, text, text)
	IS 'whether a role holds send, consume, browse or manage on a queue or topic, or may create them';

CREATE OR REPLACE FUNCTION broker.grant(privilege text, grantee regrole,
										queue text DEFAULT NULL, topic text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_grant'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION broker.grant(text, regrole, text, text)
	IS 'grant send, consume, browse or manage on a queue or topic, or create';

CREATE OR REPLACE FUNCTION broker.revoke(privilege text, grantee regrole,
										 queue text DEFAULT NULL, topic text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_revoke'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION broker.revoke(text, regrole, text, text)
	IS 'revoke a privilege granted with broker.grant';

/*
 * Default privileges: what the queues and topics a role creates are
 * granted to, at their creation ("an admin creates, the app sends and
 * consumes").  Kept as PostgreSQL's default privileges of the creator in
 * schema broker (pg_default_acl), so they are dumped by role name and a
 * role they name cannot be dropped.
 */
CREATE OR REPLACE FUNCTION broker.grant_default(privilege text, grantee regrole, creator regrole DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_grant_default'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION broker.grant_default(text, regrole, regrole)
	IS 'grant a privilege on every queue and topic a role creates from now on';

CREATE OR REPLACE FUNCTION broker.revoke_default(privilege text, grantee regrole, creator regrole DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_revoke_default'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION broker.revoke_default(text, regrole, regrole)
	IS 'stop granting a privilege on what a role creates';

CREATE OR REPLACE VIEW broker.default_privileges AS
SELECT da.defaclrole::regrole AS creator, a.grantee::regrole AS grantee, p.privilege
  FROM pg_catalog.pg_default_acl da
 CROSS JOIN LATERAL pg_catalog.aclexplode(da.defaclacl) a
  JOIN (VALUES ('INSERT', 'send'), ('UPDATE', 'consume'), ('SELECT', 'browse'), ('DELETE', 'manage'))
	   AS p(mode, privilege) ON p.mode = a.privilege_type
 WHERE da.defaclnamespace = 'broker'::regnamespace AND da.defaclobjtype = 'r'
   AND a.grantee <> da.defaclrole;
COMMENT ON VIEW broker.default_privileges IS 'what the queues and topics each role creates are granted to';

/* Whether the caller may see a queue's ('q') or topic's ('t') name and counts. */
CREATE OR REPLACE FUNCTION broker._may_see(kind "char", id integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_may_see'
LANGUAGE C STABLE STRICT;

/*
 * Every grant on every queue and topic the caller may see: the owner, the
 * grantee and the privilege, as their ACL holders record them.
 */
CREATE OR REPLACE VIEW broker.privileges AS
SELECT o.kind, o.name, c.relowner::regrole AS owner, a.grantee::regrole AS grantee,
	   p.privilege, a.grantor::regrole AS grantor
  FROM (SELECT 'queue'::text AS kind, q.name, q.id, 'q'::"char" AS k FROM broker.queue q
		UNION ALL
		SELECT 'topic', t.name, t.id, 't' FROM broker.topic t) o
  JOIN pg_catalog.pg_class c
	ON c.relnamespace = 'broker'::regnamespace AND c.relname = o.kind || '_' || o.id || '_acl'
 CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))) a
  JOIN (VALUES ('INSERT', 'send'), ('UPDATE', 'consume'), ('SELECT', 'browse'), ('DELETE', 'manage'))
	   AS p(mode, privilege) ON p.mode = a.privilege_type
 WHERE broker._may_see(o.k, o.id);
COMMENT ON VIEW broker.privileges IS 'who holds which privilege on each queue and topic';
