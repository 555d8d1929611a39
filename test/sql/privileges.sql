-- privileges: every public function and view, called by each kind of role,
-- against one queue and one topic; the expected outcome of each call is
-- derived from the one table below, so a function cannot be added without
-- its row.  A call's effects are rolled back (outcome() raises after it).
SET client_min_messages = warning;
CREATE FUNCTION public.outcome(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		EXECUTE stmt;
		RAISE EXCEPTION USING ERRCODE = 'P0042';
	EXCEPTION WHEN SQLSTATE 'P0042' THEN
		RETURN 'ok';
	END;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
GRANT EXECUTE ON FUNCTION public.outcome(text) TO PUBLIC;

-- the roles: an owner (granted create), one role per privilege, a member
-- of the pgbroker roles with no grant, a monitoring role, an admin
CREATE ROLE priv_owner IN ROLE pgbroker_producer, pgbroker_consumer;
CREATE ROLE priv_send IN ROLE pgbroker_producer, pgbroker_consumer;
CREATE ROLE priv_consume IN ROLE pgbroker_producer, pgbroker_consumer;
CREATE ROLE priv_browse IN ROLE pgbroker_producer, pgbroker_consumer;
CREATE ROLE priv_manage IN ROLE pgbroker_producer, pgbroker_consumer;
CREATE ROLE priv_stranger IN ROLE pgbroker_producer, pgbroker_consumer;
CREATE ROLE priv_monitor IN ROLE pg_monitor;
CREATE ROLE priv_admin IN ROLE pgbroker_admin;

-- private by default: the creator owns what it creates
SELECT sqlstate_of($$SET ROLE priv_owner; SELECT broker.create_queue('pq')$$) AS create_without_grant;
RESET ROLE;
SELECT broker.grant('create', 'priv_owner');
SELECT broker.has_privilege('priv_owner', 'create') AS owner_may_create,
       broker.has_privilege('priv_stranger', 'create') AS stranger_may_create;
SET ROLE priv_owner;
SELECT broker.create_queue('pq'), broker.create_topic('pt', partitions => 2),
       broker.create_group('pt', 'pg', 'earliest');
SELECT broker.send('pq', '{"n": 1}') > 0 AS sent, broker.publish('pt', '{"n": 1}', partition => 0);
SELECT p, broker.grant(p, ('priv_' || p)::regrole, queue => 'pq'), broker.grant(p, ('priv_' || p)::regrole, topic => 'pt')
  FROM unnest(ARRAY['send', 'consume', 'browse', 'manage']) p;
RESET ROLE;
SELECT kind, name, owner, grantee, privilege FROM broker.privileges WHERE name IN ('pq', 'pt') ORDER BY 1, 2, 4, 5;
-- a subscription of the owner's (paused: no worker), and a handler anybody may run
CREATE FUNCTION public.priv_handler(m broker.message) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SET ROLE priv_owner;
SELECT broker.subscribe('ps', 'public.priv_handler(broker.message)'::regprocedure, queue => 'pq', enabled => false);
RESET ROLE;
SELECT id AS pqid FROM broker.queue WHERE name = 'pq' \gset
SELECT id AS ptid FROM broker.topic WHERE name = 'pt' \gset

-- every call, and what it needs: send, consume, browse, manage (on the
-- queue or topic), create, monitor (browse, or pg_monitor), group
-- (another role's consumer group: membership in its owner, or manage on
-- the topic), owner (of the subscription: its members, or admin), admin,
-- any; a|b: either
CREATE TEMP TABLE calls (n serial, needs text, call text);
INSERT INTO calls (needs, call) VALUES
	('send',	$$SELECT broker.send('pq', '{}')$$),
	('send',	$$SELECT broker.send_bytes('pq', '\x00')$$),
	('send',	$$SELECT broker.send_batch('pq', ARRAY['{}']::jsonb[])$$),
	('send',	$$SELECT broker.send_batch_bytes('pq', ARRAY['\x00']::bytea[])$$),
	('consume',	$$SELECT * FROM broker.claim('pq')$$),
	('consume',	$$SELECT broker.ack('pq', 1, '00000000-0000-0000-0000-000000000000')$$),
	('manage',	$$SELECT broker.ack('pq', 1)$$),
	('manage',	$$SELECT broker.ack('pq', ARRAY[1]::bigint[])$$),
	('consume',	$$SELECT broker.ack_batch('pq', ARRAY[1]::bigint[], ARRAY['00000000-0000-0000-0000-000000000000']::uuid[])$$),
	('consume',	$$SELECT broker.nack('pq', 1, '00000000-0000-0000-0000-000000000000')$$),
	('manage',	$$SELECT broker.nack('pq', 1)$$),
	('consume',	$$SELECT broker.extend('pq', 1, '00000000-0000-0000-0000-000000000000', '1 minute')$$),
	('browse',	$$SELECT * FROM broker.peek('pq')$$),
	('browse',	$$SELECT * FROM broker.dead_letters('pq')$$),
	('manage',	$$SELECT broker.cancel('pq', 1)$$),
	('manage',	$$SELECT broker.set_visible('pq', 1, now())$$),
	('manage',	$$SELECT broker.redrive('pq')$$),
	('manage',	$$SELECT broker.purge_dead_letters('pq')$$),
	('manage',	$$SELECT broker.purge('pq')$$),
	('manage',	$$SELECT broker.alter_queue('pq', max_attempts => 3)$$),
	('manage',	$$SELECT broker.alter_queue('pq', true)$$),
	('manage',	$$SELECT broker.drop_queue('pq')$$),
	('create',	$$SELECT broker.create_queue('pq2')$$),
	('monitor',	format('SELECT * FROM broker.queue_stats(%s)', :pqid)),
	('monitor',	$$SELECT 1 / count(*) FROM broker.queues WHERE queue = 'pq'$$),
	('send',	$$SELECT broker.publish('pt', '{}')$$),
	('send',	$$SELECT broker.publish_bytes('pt', '\x00')$$),
	('send',	$$SELECT broker.publish_batch('pt', ARRAY['{}']::jsonb[])$$),
	('send',	$$SELECT broker.publish_batch_bytes('pt', ARRAY['\x00']::bytea[])$$),
	('send|browse', $$SELECT broker.partition_for('pt', 'k')$$),
	('browse',	$$SELECT * FROM broker.read('pt', 0, 0)$$),
	('browse',	$$SELECT broker.earliest_offset('pt', 0)$$),
	('browse',	$$SELECT broker.latest_offset('pt', 0)$$),
	('browse',	$$SELECT broker.offset_for_time('pt', 0, now())$$),
	('browse',	$$SELECT * FROM broker.topic_partitions('pt')$$),
	('monitor',	format('SELECT * FROM broker.topic_stats(%s)', :ptid)),
	('monitor',	$$SELECT 1 / count(*) FROM broker.topics WHERE topic = 'pt'$$),
	('monitor',	$$SELECT 1 / count(*) FROM broker.consumer_lag WHERE topic = 'pt'$$),
	('monitor',	$$SELECT 1 / count(*) FROM broker.queue_metrics WHERE queue = 'pq'$$),
	('monitor',	$$SELECT 1 / count(*) FROM broker.topic_metrics WHERE topic = 'pt'$$),
	('monitor',	$$SELECT 1 / count(*) FROM broker.partition_metrics WHERE topic = 'pt'$$),
	('monitor',	$$SELECT 1 / count(*) FROM broker.group_metrics WHERE topic = 'pt'$$),
	('monitor',	$$SELECT 1 / (strpos(broker.metrics_text(), 'queue="pq"') > 0)::int$$),
	('monitor',	$$SELECT 1 / (strpos(broker.metrics_text(), 'topic="pt",consumer_group="pg"') > 0)::int$$),
	('manage',	$$SELECT broker.alter_topic('pt', dedup_window => '1 minute')$$),
	('manage',	$$SELECT broker.alter_topic('pt', true)$$),
	('manage',	$$SELECT broker.start_partition_at('pt', 1, 5)$$),
	('manage',	$$SELECT broker.drop_topic('pt')$$),
	('create',	$$SELECT broker.create_topic('pt2')$$),
	('consume|manage', $$SELECT * FROM broker.poll('pt', 'own')$$),
	('consume',	$$SELECT broker.create_group('pt', 'own')$$),
	('consume|manage', $$SELECT broker.seek('pt', 'own', 'earliest')$$),
	('consume|manage', $$SELECT count(*) FROM broker.reset_group('pt', 'own', 'latest', dry_run => true)$$),
	('group',	$$SELECT * FROM broker.poll('pt', 'pg')$$),
	('group',	$$SELECT broker.commit('pt', 'pg', 0, 0)$$),
	('group',	$$SELECT broker.commit('pt', 'pg', ARRAY[]::broker.record[])$$),
	('group',	$$SELECT broker.commit('pt', 'pg', 'c')$$),
	('group',	$$SELECT broker.extend_lease('pt', 'pg', 'c')$$),
	('group',	$$SELECT broker.leave('pt', 'pg', 'c')$$),
	('group',	$$SELECT broker.seek('pt', 'pg', 'earliest')$$),
	('group',	$$SELECT broker.seek('pt', 'pg', 0::bigint)$$),
	('group',	$$SELECT broker.seek('pt', 'pg', now())$$),
	('group',	$$SELECT count(*) FROM broker.reset_group('pt', 'pg', 'earliest')$$),
	('group',	$$SELECT broker.delete_group('pt', 'pg')$$),
	('manage',	$$SELECT broker.grant('browse', 'priv_stranger', queue => 'pq')$$),
	('manage',	$$SELECT broker.revoke('browse', 'priv_browse', topic => 'pt')$$),
	('any',		$$SELECT broker.has_privilege('priv_owner', 'send', queue => 'pq')$$),
	('any',		$$SELECT broker.join('pt', 'pg', 'c')$$),
	('any',		$$SELECT count(*) FROM broker.privileges$$),
	('any',		$$SELECT broker.grant_default('browse', 'priv_stranger')$$),
	('any',		$$SELECT broker.revoke_default('browse', 'priv_stranger')$$),
	('any',		$$SELECT count(*) FROM broker.default_privileges$$),
	('consume',	$$SELECT broker.subscribe('ps2', 'public.priv_handler(broker.message)'::regprocedure, queue => 'pq')$$),
	('owner',	$$SELECT broker.alter_subscription('ps', batch_size => 5)$$),
	('owner',	$$SELECT broker.unsubscribe('ps')$$),
	('owner',	$$SELECT broker.replay_subscription_dead_letters('ps')$$),
	('monitor',	$$SELECT 1 / count(*) FROM broker.subscriptions WHERE name = 'ps'$$),
	('any',		$$SELECT count(*) FROM broker.subscription_dead_letters$$),
	('admin',	$$SELECT count(*) FROM broker.maintain()$$),
	('admin',	$$SELECT count(*) FROM broker.maintain_topics()$$);

-- every public function and view has a row (the wait procedures, which
-- commit, are checked in wait.sql and below)
SELECT p.oid::regprocedure::text AS without_a_row
  FROM pg_proc p
 WHERE p.pronamespace = 'broker'::regnamespace AND p.proname !~ '^_' AND p.prokind = 'f'
   AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.call ~ ('broker\.' || p.proname || '\('))
UNION ALL
SELECT c.oid::regclass::text FROM pg_class c
 WHERE c.relnamespace = 'broker'::regnamespace AND c.relkind = 'v' AND c.relname !~ '_acl$'
   AND NOT EXISTS (SELECT 1 FROM calls k WHERE k.call ~ ('broker\.' || c.relname || '\M'));

-- each call as each role
CREATE TEMP TABLE outcomes (role text, n integer, needs text, call text, got text);
GRANT ALL ON outcomes, calls TO PUBLIC;
GRANT USAGE ON SEQUENCE calls_n_seq TO PUBLIC;
DO $$
DECLARE
	r text;
	c record;
BEGIN
	FOREACH r IN ARRAY ARRAY['priv_owner', 'priv_send', 'priv_consume', 'priv_browse', 'priv_manage',
							 'priv_stranger', 'priv_monitor', 'priv_admin'] LOOP
		FOR c IN SELECT * FROM calls LOOP
			EXECUTE format('SET ROLE %I', r);
			INSERT INTO outcomes VALUES (r, c.n, c.needs, c.call, public.outcome(c.call));
			RESET ROLE;
		END LOOP;
	END LOOP;
END
$$;

-- what each role may do, by the rule: the owner and admins everything
-- (admin functions only admins), a grantee what it was granted, monitors
-- names and counts, anybody in a pgbroker role what needs nothing
CREATE TEMP VIEW expected AS
SELECT o.*, CASE
	WHEN o.needs = 'any' THEN o.role <> 'priv_monitor' OR o.call ~ 'has_privilege|privileges|subscription_dead_letters'
	WHEN o.needs = 'admin' THEN o.role = 'priv_admin'
	WHEN o.role IN ('priv_owner', 'priv_admin') THEN true
	WHEN o.needs = 'owner' THEN false
	WHEN o.needs = 'monitor' THEN o.role IN ('priv_browse', 'priv_monitor')
	WHEN o.needs = 'group' THEN o.role = 'priv_manage'
	ELSE o.role = ANY (SELECT 'priv_' || x FROM unnest(string_to_array(o.needs, '|')) x)
  END AS allowed
  FROM outcomes o;

-- the matrix: one row per call, one column per role
SELECT needs, left(regexp_replace(call, 'stats\(\d+\)', 'stats(id)'), 60) AS call,
	   max(got) FILTER (WHERE role = 'priv_owner') AS owner,
	   max(got) FILTER (WHERE role = 'priv_send') AS send,
	   max(got) FILTER (WHERE role = 'priv_consume') AS consume,
	   max(got) FILTER (WHERE role = 'priv_browse') AS browse,
	   max(got) FILTER (WHERE role = 'priv_manage') AS manage,
	   max(got) FILTER (WHERE role = 'priv_stranger') AS stranger,
	   max(got) FILTER (WHERE role = 'priv_monitor') AS monitor,
	   max(got) FILTER (WHERE role = 'priv_admin') AS admin
  FROM outcomes GROUP BY n, needs, call ORDER BY n;

-- and where it differs from the rule (none): refused calls are 42501,
-- allowed ones succeed (a view hiding a row fails its 1 / count(*))
SELECT role, needs, call, got FROM expected
 WHERE allowed <> (got = 'ok') OR (NOT allowed AND got NOT IN ('42501', '22012'))
 ORDER BY 1, 3;

-- the wait procedures check the caller too
SET ROLE priv_stranger;
CALL broker.claim_wait('pq', 1, NULL, '0', NULL, NULL);
RESET ROLE;
SET ROLE priv_consume;
CALL broker.claim_wait('pq', 1, NULL, '0', NULL, NULL) \gset
SELECT cardinality(:'messages'::broker.message[]) AS claimed_by_consumer;
RESET ROLE;

-- the caller is checked, not the owner of a SECURITY DEFINER wrapper's
-- caller: an application's wrapper runs with its owner's privileges
CREATE FUNCTION public.send_as_owner(q text) RETURNS bigint
	LANGUAGE sql SECURITY DEFINER AS $$ SELECT broker.send(q, '{"via": "wrapper"}') $$;
ALTER FUNCTION public.send_as_owner(text) OWNER TO priv_send;
GRANT EXECUTE ON FUNCTION public.send_as_owner(text) TO priv_stranger;
SET ROLE priv_stranger;
SELECT sqlstate_of($$SELECT broker.send('pq', '{}')$$) AS stranger_sends,
	   public.send_as_owner('pq') > 0 AS stranger_sends_through_wrapper;
RESET ROLE;
ALTER FUNCTION public.send_as_owner(text) OWNER TO priv_browse;
SET ROLE priv_stranger;
SELECT sqlstate_of($$SELECT public.send_as_owner('pq')$$) AS wrapper_of_an_ungranted_owner;
RESET ROLE;

-- a revoke takes effect at the next call
SET ROLE priv_send;
SELECT broker.send('pq', '{}') > 0 AS before_revoke;
RESET ROLE;
SELECT broker.revoke('send', 'priv_send', queue => 'pq');
SET ROLE priv_send;
SELECT sqlstate_of($$SELECT broker.send('pq', '{}')$$) AS after_revoke;
RESET ROLE;

-- receipt-less settling: consume for a claim of the same transaction
SET ROLE priv_consume;
BEGIN;
SELECT count(*) FILTER (WHERE broker.ack('pq', c.id)) AS acked_in_claiming_transaction
  FROM broker.claim('pq', 1) c;
ROLLBACK;
RESET ROLE;

-- a role holding grants or ownership cannot be dropped; errors name what
SELECT sqlstate_of($$DROP ROLE priv_owner$$) AS drop_owner, sqlstate_of($$DROP ROLE priv_consume$$) AS drop_grantee;
\set VERBOSITY default
SET ROLE priv_stranger;
SELECT * FROM broker.peek('pq');
RESET ROLE;
\set VERBOSITY terse
-- default privileges: what a role creates is granted at its creation
SELECT broker.grant_default('send', 'priv_stranger', creator => 'priv_owner');
SET ROLE priv_browse;
SELECT sqlstate_of($$SELECT broker.grant_default('send', 'priv_browse', creator => 'priv_owner')$$)
	AS others_defaults;
RESET ROLE;
SET ROLE priv_owner;
SELECT broker.grant_default('browse', 'priv_monitor');
SELECT broker.create_queue('pq3');
RESET ROLE;
SELECT creator, grantee, privilege FROM broker.default_privileges ORDER BY 1, 2, 3;
SELECT grantee, privilege FROM broker.privileges WHERE name = 'pq3' AND grantee <> owner ORDER BY 1, 2;
SET ROLE priv_stranger;
SELECT broker.send('pq3', '{}') > 0 AS stranger_sends_by_default;
RESET ROLE;
SELECT sqlstate_of($$DROP ROLE priv_monitor$$) AS drop_default_grantee;
SELECT broker.revoke_default('send', 'priv_stranger', creator => 'priv_owner'),
	   broker.revoke_default('browse', 'priv_monitor', creator => 'priv_owner');
SELECT count(*) AS defaults_left FROM broker.default_privileges;
SELECT broker.drop_queue('pq3');

-- the errors of the privilege functions
SELECT sqlstate_of(stmt) AS sqlstate, stmt FROM (VALUES
	($$SELECT broker.grant('fly', 'priv_send', queue => 'pq')$$),
	($$SELECT broker.grant(NULL, 'priv_send', queue => 'pq')$$),
	($$SELECT broker.grant('send', NULL, queue => 'pq')$$),
	($$SELECT broker.grant('send', 'priv_send')$$),
	($$SELECT broker.grant('send', 'priv_send', queue => 'pq', topic => 'pt')$$),
	($$SELECT broker.grant('send', 'priv_send', queue => 'no_such_queue')$$),
	($$SELECT broker.grant('send', 'priv_send', topic => 'no_such_topic')$$),
	($$SELECT broker.grant('send', 'no_such_role', queue => 'pq')$$),
	($$SELECT broker.grant('send', 0::oid::regrole, queue => 'pq')$$),
	($$SELECT broker.grant('create', 'priv_send', queue => 'pq')$$),
	($$SELECT broker.revoke('manage', 'priv_send', queue => E'bad\nname')$$),
	($$SELECT broker.has_privilege('priv_send', 'fly', queue => 'pq')$$),
	($$SELECT broker.has_privilege('priv_send', NULL, queue => 'pq')$$),
	($$SELECT broker.has_privilege('priv_send', 'send')$$),
	($$SELECT broker.has_privilege('priv_send', 'create', topic => 'pt')$$),
	($$SELECT broker.grant_default('fly', 'priv_send')$$),
	($$SELECT broker.grant_default('send', NULL)$$),
	($$SELECT broker.grant_default(NULL, 'priv_send')$$),
	($$SELECT broker.alter_queue('pq', max_message_size => -5)$$),
	($$SELECT broker.alter_topic('pt', max_message_size => 0)$$)
) v(stmt);
SELECT broker.has_privilege('priv_send', 'send', queue => 'no_such_queue') IS NULL AS unknown_queue_is_null;
\set VERBOSITY default
SELECT broker.grant('fly', 'priv_send', queue => 'pq');
SELECT broker.grant('send', 'priv_send', queue => 'pq', topic => 'pt');
\set VERBOSITY terse

-- names are not secret: an unknown queue is 42704 for everybody
SET ROLE priv_stranger;
SELECT sqlstate_of($$SELECT broker.send('no_such_queue', '{}')$$) AS unknown_queue;
RESET ROLE;

SELECT broker.drop_queue('pq'), broker.drop_topic('pt');
SELECT count(*) AS subscriptions_left FROM broker.subscription;
DROP FUNCTION public.send_as_owner(text);
DROP FUNCTION public.priv_handler(broker.message);
DROP OWNED BY priv_owner, priv_send, priv_consume, priv_browse, priv_manage, priv_stranger;
DROP ROLE priv_owner, priv_send, priv_consume, priv_browse, priv_manage, priv_stranger, priv_monitor, priv_admin;
DROP FUNCTION public.outcome(text);
