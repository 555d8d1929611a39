-- Subscriptions: SQL functions called by pgbroker's workers.
-- The workers are real background workers of this server; each check that
-- depends on them waits (up to 30 s) for what it expects.
SET client_min_messages = warning;
\set VERBOSITY terse
CREATE SCHEMA sub_app;
CREATE TABLE sub_app.done (id bigint PRIMARY KEY, n int, who text, path text);
GRANT USAGE ON SCHEMA sub_app TO PUBLIC;
GRANT INSERT, SELECT ON sub_app.done TO PUBLIC;

-- wait until a query returns true
CREATE FUNCTION sub_app.wait_for(q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE ok boolean;
BEGIN
	FOR i IN 1 .. 600 LOOP
		-- pg_stat_activity is read once per transaction unless told otherwise
		PERFORM pg_stat_clear_snapshot();
		EXECUTE q INTO ok;
		IF ok THEN RETURN true; END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN false;
END $$;

-- handlers of every shape, and some that are not
CREATE FUNCTION sub_app.one(m broker.message) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF m.payload ? 'bad' THEN RAISE EXCEPTION 'bad message n=%', m.payload->>'n'; END IF;
	INSERT INTO sub_app.done VALUES (m.id, (m.payload->>'n')::int, current_user, current_setting('search_path'));
END $$;
CREATE FUNCTION sub_app.many(ms broker.message[]) RETURNS int LANGUAGE plpgsql AS $$
DECLARE m broker.message;
BEGIN
	FOREACH m IN ARRAY ms LOOP
		IF m.payload ? 'bad' THEN RAISE EXCEPTION 'bad message n=%', m.payload->>'n'; END IF;
		INSERT INTO sub_app.done VALUES (m.id, (m.payload->>'n')::int, current_user, NULL);
	END LOOP;
	RETURN cardinality(ms);
END $$;
CREATE FUNCTION sub_app.slow(m broker.message) RETURNS void LANGUAGE sql AS $$ SELECT pg_sleep(5) $$;
CREATE FUNCTION sub_app.escalate(m broker.message) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RESET ROLE;
END $$;
CREATE FUNCTION sub_app.two(a broker.message, b int) RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION sub_app.json(j jsonb) RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION sub_app.rows(m broker.message) RETURNS SETOF int LANGUAGE sql AS $$ SELECT 1 $$;
CREATE PROCEDURE sub_app.proc(m broker.message) LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION sub_app.rec(r broker.record) RETURNS void LANGUAGE sql AS $$ SELECT $$;

SELECT broker.create_queue('sq', max_attempts => 1);
SELECT broker.create_topic('st', partitions => 2);

-- shapes
SELECT broker.subscribe('s_bad', 'sub_app.two(broker.message, int)'::regprocedure, queue => 'sq');
SELECT broker.subscribe('s_bad', 'sub_app.json(jsonb)'::regprocedure, queue => 'sq');
SELECT broker.subscribe('s_bad', 'sub_app.rows(broker.message)'::regprocedure, queue => 'sq');
SELECT broker.subscribe('s_bad', 'sub_app.proc(broker.message)'::regprocedure, queue => 'sq');
SELECT broker.subscribe('s_bad', 'sub_app.rec(broker.record)'::regprocedure, queue => 'sq');
SELECT broker.subscribe('s_bad', 'sub_app.one(broker.message)'::regprocedure, topic => 'st', consumer_group => 'g');
-- sources and settings
SELECT broker.subscribe('s_bad', 'sub_app.one(broker.message)'::regprocedure);
SELECT broker.subscribe('s_bad', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq', topic => 'st');
SELECT broker.subscribe('s_bad', 'sub_app.rec(broker.record)'::regprocedure, topic => 'st');
SELECT broker.subscribe('s_bad', 'sub_app.one(broker.message)'::regprocedure, queue => 'nope');
SELECT broker.subscribe('s_bad', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq', batch_size => 0);
SELECT broker.subscribe('s_bad', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq', concurrency => 65);
SELECT broker.subscribe('s_bad', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq', timeout => '0');
SELECT broker.subscribe('s_bad', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq', on_failure => 'dead_letter');
SELECT broker.subscribe('', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq');
SELECT count(*) FROM broker.subscription;

-- a rolled-back subscribe starts nothing
BEGIN;
SELECT broker.subscribe('s_rolled_back', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq');
ROLLBACK;
SELECT pg_sleep(0.5);
SELECT count(*) AS workers FROM pg_stat_activity WHERE application_name LIKE 'pgbroker subscription %';

-- one message per call, as the owner, with the owner's search_path
CREATE ROLE sub_owner NOLOGIN;
GRANT pgbroker_consumer TO sub_owner;
GRANT USAGE ON SCHEMA sub_app TO sub_owner;
SELECT broker.grant('consume', 'sub_owner', queue => 'sq');
SET ROLE sub_owner;
SET search_path = sub_app, public;
SELECT broker.subscribe('s_one', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq', batch_size => 10);
SELECT broker.subscribe('s_one', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq');
SELECT broker.subscribe('s_one', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq', if_not_exists => true);
RESET search_path;
RESET ROLE;
SELECT broker.send_batch('sq', ARRAY(SELECT jsonb_build_object('n', g) FROM generate_series(1, 5) g)) IS NOT NULL AS sent;
SELECT sub_app.wait_for('SELECT count(*) = 5 FROM sub_app.done');
SELECT n, who, path FROM sub_app.done ORDER BY n;
SELECT sub_app.wait_for($$SELECT processed = 5 AND state = 'idle' FROM broker.subscriptions WHERE name = 's_one'$$);
SELECT name, source_kind, source, handler, owner, enabled, state, concurrency, workers, processed, failed,
	   search_path, batch_size, timeout
  FROM broker.subscriptions;

-- another role may not change or drop it; its owner and pgbroker_admin may
CREATE ROLE sub_other NOLOGIN;
GRANT pgbroker_consumer TO sub_other;
SET ROLE sub_other;
SELECT broker.alter_subscription('s_one', enabled => false);
SELECT broker.unsubscribe('s_one');
SELECT count(*) FROM broker.subscriptions;
RESET ROLE;

-- pause: the worker stops; resume: it starts again and catches up
SET ROLE sub_owner;
SELECT broker.alter_subscription('s_one', enabled => false);
RESET ROLE;
SELECT sub_app.wait_for($$SELECT state = 'paused' AND workers = 0 FROM broker.subscriptions WHERE name = 's_one'$$);
SELECT broker.send('sq', '{"n": 6}') IS NOT NULL AS sent;
SELECT pg_sleep(0.3);
SELECT count(*) FROM sub_app.done;
SELECT broker.alter_subscription('s_one', enabled => true, batch_size => 50);
SELECT sub_app.wait_for('SELECT count(*) = 6 FROM sub_app.done');

-- a failing message: its call is undone, the error goes with it to the dead letters
SELECT broker.send('sq', '{"n": 7, "bad": true}') IS NOT NULL AS sent;
SELECT sub_app.wait_for($$SELECT count(*) = 1 FROM broker.dead_letters('sq')$$);
SELECT payload, last_error FROM broker.dead_letters('sq');
SELECT sub_app.wait_for($$SELECT failed = 1 AND last_error = 'bad message n=7' FROM broker.subscriptions WHERE name = 's_one'$$);
SELECT broker.unsubscribe('s_one');
SELECT broker.unsubscribe('s_one');
SELECT broker.unsubscribe('s_one', if_exists => true);
SELECT sub_app.wait_for($$SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE 'pgbroker subscription %'$$);

-- a batch handler: one poison message costs the others nothing
TRUNCATE sub_app.done;
SELECT broker.send_batch('sq', ARRAY(SELECT CASE WHEN g = 4 THEN jsonb_build_object('n', g, 'bad', true)
										ELSE jsonb_build_object('n', g) END
								   FROM generate_series(1, 10) g)) IS NOT NULL AS sent;
SELECT broker.subscribe('s_many', 'sub_app.many(broker.message[])'::regprocedure, queue => 'sq', batch_size => 100);
SELECT sub_app.wait_for('SELECT count(*) = 9 FROM sub_app.done');
SELECT sub_app.wait_for($$SELECT count(*) = 1 FROM broker.dead_letters('sq') WHERE payload->>'n' = '4'$$);
SELECT string_agg(n::text, ',' ORDER BY n) FROM sub_app.done;
SELECT broker.unsubscribe('s_many');

-- a handler past its timeout is cancelled and its message failed
SELECT broker.subscribe('s_slow', 'sub_app.slow(broker.message)'::regprocedure, queue => 'sq', timeout => '200 ms');
SELECT broker.send('sq', '{"n": 100}') IS NOT NULL AS sent;
SELECT sub_app.wait_for($$SELECT count(*) = 1 FROM broker.dead_letters('sq') WHERE payload->>'n' = '100'$$);
SELECT last_error FROM broker.dead_letters('sq') WHERE payload->>'n' = '100';
SELECT broker.unsubscribe('s_slow');

-- the handler cannot leave the owner's identity
SELECT broker.subscribe('s_escalate', 'sub_app.escalate(broker.message)'::regprocedure, queue => 'sq');
SELECT broker.send('sq', '{"n": 101}') IS NOT NULL AS sent;
SELECT sub_app.wait_for($$SELECT count(*) = 1 FROM broker.dead_letters('sq') WHERE payload->>'n' = '101'$$);
SELECT last_error FROM broker.dead_letters('sq') WHERE payload->>'n' = '101';
SELECT broker.unsubscribe('s_escalate');

-- a dropped handler, a revoked privilege: the subscription is failing, with the error, and does not spin
CREATE FUNCTION sub_app.gone(m broker.message) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT broker.subscribe('s_gone', 'sub_app.gone(broker.message)'::regprocedure, queue => 'sq');
DROP FUNCTION sub_app.gone(broker.message);
SELECT broker.send('sq', '{"n": 102}') IS NOT NULL AS sent;
SELECT sub_app.wait_for($$SELECT state = 'failing' AND last_error LIKE 'the handler of subscription "s_gone" (function % does not exist'
						  FROM broker.subscriptions WHERE name = 's_gone'$$);
SELECT broker.unsubscribe('s_gone');
SELECT sub_app.wait_for($$SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE 'pgbroker subscription %'$$);
SET ROLE sub_owner;
SELECT broker.subscribe('s_revoked', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq');
RESET ROLE;
SELECT broker.revoke('consume', 'sub_owner', queue => 'sq');
SELECT sub_app.wait_for($$SELECT state = 'failing' AND last_error = 'permission denied for queue "sq"'
						  FROM broker.subscriptions WHERE name = 's_revoked'$$);
-- failures 1, 2, 4 s apart: 7.5 s in, the worker is in an 8 s backoff; a
-- grant then is taken up within a second, not at the backoff's end
SELECT pg_sleep(7.5);
SELECT clock_timestamp() AS granted_at \gset
SELECT broker.grant('consume', 'sub_owner', queue => 'sq');
SELECT sub_app.wait_for('SELECT count(*) = 1 FROM sub_app.done WHERE n = 102');
SELECT clock_timestamp() - :'granted_at'::timestamptz < interval '4 seconds' AS grant_taken_up_at_once;
SELECT broker.unsubscribe('s_revoked');

-- privileges: consume on the queue and EXECUTE on the handler
REVOKE EXECUTE ON FUNCTION sub_app.one(broker.message) FROM PUBLIC;
SET ROLE sub_owner;
SELECT broker.subscribe('s_priv', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq');
RESET ROLE;
SET ROLE sub_other;
SELECT broker.subscribe('s_priv', 'sub_app.many(broker.message[])'::regprocedure, queue => 'sq');
RESET ROLE;
GRANT EXECUTE ON FUNCTION sub_app.one(broker.message) TO PUBLIC;

-- dropping the queue drops its subscriptions
SELECT broker.subscribe('s_drop', 'sub_app.one(broker.message)'::regprocedure, queue => 'sq');
SELECT broker.drop_queue('sq');
SELECT count(*) FROM broker.subscription;

-- a transactional poll of one partition
SELECT broker.poll('st', 'g', 10, partition => 2);
SELECT broker.poll('st', 'g', 10, partition => -1);
SELECT broker.poll('st', 'g', 10, consumer => 'c', lease => '10 s', partition => 0);
SELECT count(*) FROM broker.poll('st', 'g', 10, partition => 1);

-- a topic: records in offset order per partition, a failing record retried,
-- then dead-lettered, and replayed once the handler takes it
CREATE TABLE sub_app.recs (p int, o bigint, n int, PRIMARY KEY (p, o));
CREATE TABLE sub_app.flag (reject boolean);
INSERT INTO sub_app.flag VALUES (true);
CREATE FUNCTION sub_app.recs(rs broker.record[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE r broker.record;
BEGIN
	FOREACH r IN ARRAY rs LOOP
		IF r.payload ? 'bad' AND (SELECT reject FROM sub_app.flag) THEN
			RAISE EXCEPTION 'bad record n=%', r.payload->>'n';
		END IF;
		IF NOT r.payload ? 'bad' AND EXISTS (SELECT 1 FROM sub_app.recs x WHERE x.p = r.partition AND x.o > r.offset_id) THEN
			RAISE EXCEPTION 'out of order';
		END IF;
		INSERT INTO sub_app.recs VALUES (r.partition, r.offset_id, (r.payload->>'n')::int);
	END LOOP;
END $$;
SELECT broker.subscribe('s_topic', 'sub_app.recs(broker.record[])'::regprocedure, topic => 'st',
						consumer_group => 'g2', batch_size => 7, concurrency => 2, max_attempts => 2,
						retry_base => '50 ms', on_failure => 'dead_letter');
SELECT count(*) FROM broker.consumer_lag WHERE consumer_group = 'g2';
SELECT count(*) FROM broker.publish_batch('st', ARRAY(SELECT CASE WHEN g = 13 THEN jsonb_build_object('n', g, 'bad', true)
														  ELSE jsonb_build_object('n', g) END
													 FROM generate_series(1, 40) g),
										  keys => ARRAY(SELECT (g % 5)::text FROM generate_series(1, 40) g));
SELECT sub_app.wait_for('SELECT count(*) = 39 FROM sub_app.recs');
SELECT sub_app.wait_for('SELECT count(*) = 1 FROM broker.subscription_dead_letters');
SELECT (record).payload, error, attempts FROM broker.subscription_dead_letters;
SELECT sub_app.wait_for($$SELECT processed = 39 AND backlog = 0 FROM broker.subscriptions WHERE name = 's_topic'$$);
UPDATE sub_app.flag SET reject = false;
SELECT broker.replay_subscription_dead_letters('s_topic');
SELECT count(*) FROM broker.subscription_dead_letters;
SELECT count(*), count(DISTINCT n) FROM sub_app.recs;
SELECT broker.unsubscribe('s_topic');

SELECT sub_app.wait_for($$SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE 'pgbroker subscription %'$$);
SELECT broker.drop_topic('st');
DELETE FROM broker.subscription_dead_letter;
DROP SCHEMA sub_app CASCADE;
DROP ROLE sub_other;
REVOKE ALL ON SCHEMA broker FROM sub_owner;
DROP OWNED BY sub_owner;
DROP ROLE sub_owner;
