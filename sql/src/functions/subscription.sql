/*
 * sql/src/functions/subscription.sql - subscribing a SQL function to a
 * queue or a consumer group, pausing, changing and dropping it, and what
 * the workers are doing
 *
 * The workers are C (subscription_launch.c starts them when the
 * transaction that changed a subscription commits; subscription_worker.c
 * runs them).  These functions only write the configuration, check the
 * caller's rights, and tell the workers that it changed.  The public
 * functions go through the gate (acl.c), which records the caller and the
 * caller's search_path: the bodies check everything themselves, since what
 * they need depends on the subscription (consume on its queue or topic,
 * EXECUTE on its handler, ownership to change it).
 */

CREATE OR REPLACE FUNCTION broker._caller_search_path()
RETURNS text
AS 'MODULE_PATHNAME', 'pgbroker_caller_search_path'
LANGUAGE C STABLE;

/* Note that a subscription changed: its workers are told (and started) at commit. */
CREATE OR REPLACE FUNCTION broker._subscription_changed(id integer)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_subscription_changed'
LANGUAGE C VOLATILE;

/* Call a subscription's handler with one item, as its owner (subscription_worker.c). */
CREATE OR REPLACE FUNCTION broker._run_handler(subscription integer, item broker.record)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_run_handler'
LANGUAGE C VOLATILE;

/* Whether the current user is a member (with its privileges) of a role that may no longer exist. */
CREATE OR REPLACE FUNCTION broker._is_member_of(role name)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
					WHERE r.rolname = role
					  AND pg_catalog.pg_has_role(pg_catalog.current_user(), r.oid, 'USAGE'))
$$;

/* Raise 42501 unless the caller owns the subscription (as a member) or is pgbroker_admin. */
CREATE OR REPLACE FUNCTION broker._check_subscription_owner(s broker.subscription)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	caller name := broker._caller();
BEGIN
	IF pg_catalog.pg_has_role(caller, 'pgbroker_admin', 'USAGE') THEN
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
				WHERE r.rolname = s.owner AND pg_catalog.pg_has_role(caller, r.oid, 'USAGE')) THEN
		RETURN;
	END IF;
	RAISE EXCEPTION 'must be the owner of subscription "%"', s.name
		USING ERRCODE = '42501',
			  HINT = 'A subscription is changed or dropped by its owner (a member of the role that created it) or a member of pgbroker_admin.';
END
$$;

/*
 * Check a handler and say whether it takes a batch: a function (not a
 * procedure, not returning a set) of exactly one argument, of the type
 * the source hands out.
 */
CREATE OR REPLACE FUNCTION broker._check_handler(handler regprocedure, is_queue boolean, caller name)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p pg_catalog.pg_proc;
	one regtype := CASE WHEN is_queue THEN 'broker.message' ELSE 'broker.record' END;
	many regtype := CASE WHEN is_queue THEN 'broker.message[]' ELSE 'broker.record[]' END;
BEGIN
	IF handler IS NULL THEN
		RAISE EXCEPTION 'handler must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT * INTO p FROM pg_catalog.pg_proc WHERE oid = handler;
	IF p.prokind <> 'f' OR p.proretset OR p.pronargs <> 1
	   OR p.proargtypes[0] NOT IN (one, many) THEN
		RAISE EXCEPTION 'function % cannot handle a %', handler, CASE WHEN is_queue THEN 'queue' ELSE 'topic' END
			USING ERRCODE = '42P13',
				  DETAIL = pg_catalog.format('A handler is a function (not a procedure, not returning a set) of one argument of type %s (called once per %s) or %s (once per batch).',
											 one, CASE WHEN is_queue THEN 'message' ELSE 'record' END, many);
	END IF;
	IF NOT pg_catalog.has_function_privilege(caller, handler, 'EXECUTE') THEN
		RAISE EXCEPTION 'permission denied for function %', handler
			USING ERRCODE = '42501',
				  DETAIL = 'The subscription runs its handler as the role that subscribes it, which needs EXECUTE on it.';
	END IF;
	RETURN p.proargtypes[0] = many;
END
$$;

CREATE OR REPLACE FUNCTION broker._check_subscription_settings(s broker.subscription)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF s.batch_size IS NULL OR s.batch_size < 1 OR s.batch_size > 10000 THEN
		RAISE EXCEPTION 'batch_size must be between 1 and 10000' USING ERRCODE = '22023';
	END IF;
	IF s.concurrency IS NULL OR s.concurrency < 1 OR s.concurrency > 64 THEN
		RAISE EXCEPTION 'concurrency must be between 1 and 64' USING ERRCODE = '22023';
	END IF;
	IF s.timeout IS NULL OR s.timeout <= '0' OR s.timeout > '1 day' THEN
		RAISE EXCEPTION 'timeout must be greater than zero and at most 1 day' USING ERRCODE = '22023';
	END IF;
	IF s.max_attempts IS NULL OR s.max_attempts < 1 THEN
		RAISE EXCEPTION 'max_attempts must be at least 1' USING ERRCODE = '22023';
	END IF;
	IF s.retry_base IS NULL OR s.retry_max IS NULL OR s.retry_base < '0' OR s.retry_max < s.retry_base
	   OR s.retry_max > '1 day' THEN
		RAISE EXCEPTION 'retry_base and retry_max must satisfy 0 <= retry_base <= retry_max <= 1 day'
			USING ERRCODE = '22023';
	END IF;
	IF s.on_failure IS NULL OR s.on_failure NOT IN ('stop', 'dead_letter') THEN
		RAISE EXCEPTION 'on_failure must be ''stop'' or ''dead_letter''' USING ERRCODE = '22023';
	END IF;
	IF s.queue_id IS NOT NULL AND s.on_failure <> 'stop' THEN
		RAISE EXCEPTION 'on_failure is for topic subscriptions'
			USING ERRCODE = '22023',
				  HINT = 'A queue''s failed messages follow its own retry policy and end in its dead letters.';
	END IF;
	IF s.search_path IS NULL THEN
		RAISE EXCEPTION 'search_path must not be null' USING ERRCODE = '22004';
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION broker.subscribe(
	name			text,
	handler			regprocedure,
	queue			text DEFAULT NULL,
	topic			text DEFAULT NULL,
	consumer_group	text DEFAULT NULL,
	batch_size		integer DEFAULT 100,
	concurrency		integer DEFAULT 1,
	timeout			interval DEFAULT '1 minute',
	enabled			boolean DEFAULT true,
	search_path		text DEFAULT NULL,
	max_attempts	integer DEFAULT 5,
	retry_base		interval DEFAULT '1 second',
	retry_max		interval DEFAULT '5 minutes',
	on_failure		text DEFAULT 'stop',
	if_not_exists	boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._subscribe(
	name			text,
	handler			regprocedure,
	queue			text DEFAULT NULL,
	topic			text DEFAULT NULL,
	consumer_group	text DEFAULT NULL,
	batch_size		integer DEFAULT 100,
	concurrency		integer DEFAULT 1,
	timeout			interval DEFAULT '1 minute',
	enabled			boolean DEFAULT true,
	search_path		text DEFAULT NULL,
	max_attempts	integer DEFAULT 5,
	retry_base		interval DEFAULT '1 second',
	retry_max		interval DEFAULT '5 minutes',
	on_failure		text DEFAULT 'stop',
	if_not_exists	boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	caller name := broker._caller();
	s broker.subscription;
	q broker.queue;
	t broker.topic;
BEGIN
	PERFORM broker._check_name(name, 'subscription');
	IF (queue IS NULL) = (topic IS NULL) THEN
		RAISE EXCEPTION 'name either a queue or a topic' USING ERRCODE = '22023';
	END IF;
	IF topic IS NOT NULL AND consumer_group IS NULL THEN
		RAISE EXCEPTION 'a topic subscription needs a consumer_group' USING ERRCODE = '22004';
	END IF;
	IF queue IS NOT NULL AND consumer_group IS NOT NULL THEN
		RAISE EXCEPTION 'consumer_group is for topic subscriptions' USING ERRCODE = '22023';
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgbroker.subscribe'), 0);
	IF EXISTS (SELECT 1 FROM broker.subscription x WHERE x.name = _subscribe.name) THEN
		IF if_not_exists THEN
			RETURN false;
		END IF;
		RAISE EXCEPTION 'subscription "%" already exists', name USING ERRCODE = '42710';
	END IF;
	IF queue IS NOT NULL THEN
		q := broker._queue(queue);
		-- keep the queue from being dropped until we commit
		PERFORM 1 FROM broker.queue bq WHERE bq.id = q.id FOR KEY SHARE;
		IF NOT broker.has_privilege(caller::regrole, 'consume', queue => q.name) THEN
			RAISE EXCEPTION 'permission denied for queue "%"', q.name
				USING ERRCODE = '42501',
					  DETAIL = pg_catalog.format('The consume privilege on queue "%s" is needed.', q.name);
		END IF;
	ELSE
		t := broker._topic(topic);
		PERFORM 1 FROM broker.topic bt WHERE bt.id = t.id FOR KEY SHARE;
		IF NOT broker.has_privilege(caller::regrole, 'consume', topic => t.name) THEN
			RAISE EXCEPTION 'permission denied for topic "%"', t.name
				USING ERRCODE = '42501',
					  DETAIL = pg_catalog.format('The consume privilege on topic "%s" is needed.', t.name);
		END IF;
		PERFORM broker._check_name(consumer_group, 'consumer group');
		/* the group the subscription consumes through: created at 'latest' if missing */
		PERFORM broker._ensure_group(t.id, consumer_group, 'latest');
	END IF;
	s.id := pg_catalog.nextval('broker.subscription_id_seq');
	s.name := name;
	s.queue_id := q.id;
	s.topic_id := t.id;
	s.consumer_group := consumer_group;
	s.per_batch := broker._check_handler(handler, queue IS NOT NULL, caller);
	s.handler := handler;
	s.owner := caller;
	s.search_path := coalesce(search_path, broker._caller_search_path());
	s.batch_size := batch_size;
	s.concurrency := concurrency;
	s.timeout := timeout;
	s.enabled := coalesce(enabled, true);
	s.max_attempts := max_attempts;
	s.retry_base := retry_base;
	s.retry_max := retry_max;
	s.on_failure := on_failure;
	s.created_at := pg_catalog.now();
	PERFORM broker._check_subscription_settings(s);
	INSERT INTO broker.subscription VALUES (s.*);
	PERFORM broker._subscription_changed(s.id);
	RETURN true;
END
$$;
COMMENT ON FUNCTION broker.subscribe(text, regprocedure, text, text, text, integer, integer, interval,
									 boolean, text, integer, interval, interval, text, boolean)
	IS 'call a SQL function with the messages of a queue or the records of a consumer group, from pgbroker''s workers';

CREATE OR REPLACE FUNCTION broker.alter_subscription(
	name			text,
	enabled			boolean DEFAULT NULL,
	batch_size		integer DEFAULT NULL,
	concurrency		integer DEFAULT NULL,
	timeout			interval DEFAULT NULL,
	search_path		text DEFAULT NULL,
	handler			regprocedure DEFAULT NULL,
	max_attempts	integer DEFAULT NULL,
	retry_base		interval DEFAULT NULL,
	retry_max		interval DEFAULT NULL,
	on_failure		text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._alter_subscription(
	name			text,
	enabled			boolean DEFAULT NULL,
	batch_size		integer DEFAULT NULL,
	concurrency		integer DEFAULT NULL,
	timeout			interval DEFAULT NULL,
	search_path		text DEFAULT NULL,
	handler			regprocedure DEFAULT NULL,
	max_attempts	integer DEFAULT NULL,
	retry_base		interval DEFAULT NULL,
	retry_max		interval DEFAULT NULL,
	on_failure		text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s broker.subscription;
BEGIN
	PERFORM broker._check_name(name, 'subscription');
	SELECT * INTO s FROM broker.subscription x WHERE x.name = _alter_subscription.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'subscription "%" does not exist', name USING ERRCODE = '42704';
	END IF;
	PERFORM broker._check_subscription_owner(s);
	IF handler IS NOT NULL THEN
		/* the handler runs as the subscription's owner: the owner needs EXECUTE */
		s.per_batch := broker._check_handler(handler, s.queue_id IS NOT NULL, s.owner);
		s.handler := handler;
	END IF;
	s.enabled := coalesce(enabled, s.enabled);
	s.batch_size := coalesce(batch_size, s.batch_size);
	s.concurrency := coalesce(concurrency, s.concurrency);
	s.timeout := coalesce(timeout, s.timeout);
	s.search_path := coalesce(search_path, s.search_path);
	s.max_attempts := coalesce(max_attempts, s.max_attempts);
	s.retry_base := coalesce(retry_base, s.retry_base);
	s.retry_max := coalesce(retry_max, s.retry_max);
	s.on_failure := coalesce(on_failure, s.on_failure);
	PERFORM broker._check_subscription_settings(s);
	UPDATE broker.subscription x
	   SET enabled = s.enabled, batch_size = s.batch_size, concurrency = s.concurrency,
		   timeout = s.timeout, search_path = s.search_path, handler = s.handler,
		   per_batch = s.per_batch, max_attempts = s.max_attempts, retry_base = s.retry_base,
		   retry_max = s.retry_max, on_failure = s.on_failure
	 WHERE x.id = s.id;
	/* a partition stopped on a record is tried again after a change (resume) */
	IF enabled THEN
		UPDATE broker.subscription_partition p SET stopped = false, retry_at = NULL
		 WHERE p.subscription_id = s.id AND p.stopped;
	END IF;
	PERFORM broker._subscription_changed(s.id);
END
$$;
COMMENT ON FUNCTION broker.alter_subscription(text, boolean, integer, integer, interval, text,
											  regprocedure, integer, interval, interval, text)
	IS 'pause, resume or change a subscription';

CREATE OR REPLACE FUNCTION broker.unsubscribe(name text, if_exists boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._unsubscribe(name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s broker.subscription;
BEGIN
	PERFORM broker._check_name(name, 'subscription');
	SELECT * INTO s FROM broker.subscription x WHERE x.name = _unsubscribe.name FOR UPDATE;
	IF NOT FOUND THEN
		IF if_exists THEN
			RETURN false;
		END IF;
		RAISE EXCEPTION 'subscription "%" does not exist', name USING ERRCODE = '42704';
	END IF;
	PERFORM broker._check_subscription_owner(s);
	PERFORM broker._drop_subscription(s.id);
	RETURN true;
END
$$;
COMMENT ON FUNCTION broker.unsubscribe(text, boolean) IS 'drop a subscription; its workers stop when this commits';

/*
 * Delete a subscription and what its workers kept, and stop the workers
 * when the transaction commits.  Also called when its queue or topic is
 * dropped.  (The dead letters of a topic subscription stay until deleted:
 * they are records the application has not handled.)
 */
CREATE OR REPLACE FUNCTION broker._drop_subscription(id integer)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM broker.subscription_stats x WHERE x.subscription_id = _drop_subscription.id;
	DELETE FROM broker.subscription_partition x WHERE x.subscription_id = _drop_subscription.id;
	DELETE FROM broker.subscription x WHERE x.id = _drop_subscription.id;
	PERFORM broker._subscription_changed(_drop_subscription.id);
END
$$;

/* Start the missing workers of every enabled subscription (maintain() calls it). */
CREATE OR REPLACE FUNCTION broker._start_subscriptions()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer := 0;
	sid integer;
BEGIN
	FOR sid IN SELECT s.id FROM broker.subscription s WHERE s.enabled ORDER BY s.id LOOP
		PERFORM broker._subscription_changed(sid);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;

/*
 * Hand dead-lettered records of a topic subscription to its handler again,
 * in this transaction (called by its owner or pgbroker_admin; the handler
 * runs as the subscription's owner, as in its workers): those
 * the handler takes are deleted; those it fails on stay, with the new
 * error.  Returns how many were handled.
 */
CREATE OR REPLACE FUNCTION broker.replay_subscription_dead_letters(subscription text, ids bigint[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._replay_subscription_dead_letters(subscription text, ids bigint[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s broker.subscription;
	d broker.subscription_dead_letter;
	n bigint := 0;
	err text;
BEGIN
	PERFORM broker._check_name(subscription, 'subscription');
	SELECT * INTO s FROM broker.subscription x WHERE x.name = subscription;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'subscription "%" does not exist', subscription USING ERRCODE = '42704';
	END IF;
	PERFORM broker._check_subscription_owner(s);
	FOR d IN SELECT * FROM broker.subscription_dead_letter x
			  WHERE x.subscription = s.name AND (ids IS NULL OR x.id = ANY (ids))
			  ORDER BY x.id FOR UPDATE LOOP
		BEGIN
			/* as the subscription's owner, as its workers run it */
			PERFORM broker._run_handler(s.id, d.record);
			DELETE FROM broker.subscription_dead_letter x WHERE x.id = d.id;
			n := n + 1;
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
			UPDATE broker.subscription_dead_letter x
			   SET error = err, attempts = x.attempts + 1, failed_at = pg_catalog.now()
			 WHERE x.id = d.id;
		END;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION broker.replay_subscription_dead_letters(text, bigint[])
	IS 'hand a topic subscription''s dead-lettered records to its handler again';

/*
 * One row per subscription the caller may see (its owner's members, and
 * those with browse on its queue or topic, pg_monitor and pgbroker_admin).
 * state: paused (disabled), stopped (enabled but no worker runs: see
 * max_worker_processes), failing (the handler keeps failing, a partition
 * is stopped, or the handler or owner is gone), running (a worker is
 * handling a batch) or idle.  The workers are found in pg_stat_activity
 * by their application_name; backlog is the queue's message count as the
 * statistics system estimates it, or the group's lag.  Nothing here scans
 * a message table or a segment.
 */
CREATE OR REPLACE VIEW broker.subscriptions AS
SELECT s.name,
	   CASE WHEN s.queue_id IS NOT NULL THEN 'queue' ELSE 'topic' END AS source_kind,
	   coalesce(q.name, t.name) AS source,
	   s.consumer_group,
	   s.handler,
	   s.owner,
	   s.enabled,
	   CASE WHEN NOT s.enabled THEN 'paused'
			WHEN coalesce(w.workers, 0) = 0 THEN 'stopped'
			WHEN st.failing OR p.stopped > 0 THEN 'failing'
			WHEN w.running > 0 THEN 'running'
			ELSE 'idle' END AS state,
	   s.concurrency,
	   coalesce(w.workers, 0) AS workers,
	   w.pids,
	   coalesce(st.processed, 0) AS processed,
	   coalesce(st.failed, 0) AS failed,
	   st.last_error,
	   st.last_error_at,
	   st.last_error_about,
	   CASE WHEN s.queue_id IS NOT NULL
			THEN pg_catalog.pg_stat_get_live_tuples(pg_catalog.to_regclass('broker.queue_' || s.queue_id))
			ELSE (SELECT sum(l.lag) FROM broker.consumer_lag l
				   WHERE l.topic = t.name AND l.consumer_group = s.consumer_group)::bigint
	   END AS backlog,
	   coalesce(p.stopped, 0) AS stopped_partitions,
	   st.last_batch_at,
	   st.last_batch_ms,
	   s.batch_size,
	   s.timeout,
	   s.search_path,
	   s.max_attempts,
	   s.on_failure,
	   s.created_at
  FROM broker.subscription s
  LEFT JOIN broker.queue q ON q.id = s.queue_id
  LEFT JOIN broker.topic t ON t.id = s.topic_id
  LEFT JOIN LATERAL (
		SELECT count(*) AS workers,
			   count(*) FILTER (WHERE a.application_name LIKE '% running') AS running,
			   pg_catalog.array_agg(a.pid ORDER BY a.pid) AS pids
		  FROM pg_catalog.pg_stat_activity a
		 WHERE a.datid = (SELECT d.oid FROM pg_catalog.pg_database d
						   WHERE d.datname = pg_catalog.current_database())
		   AND pg_catalog.split_part(a.application_name, ' ', 1) = 'pgbroker'
		   AND pg_catalog.split_part(a.application_name, ' ', 2) = 'subscription'
		   AND pg_catalog.split_part(pg_catalog.split_part(a.application_name, ' ', 3), '/', 1)
			   = s.id::text) w ON true
  LEFT JOIN LATERAL (
		SELECT pg_catalog.sum(x.processed)::bigint AS processed,
			   pg_catalog.sum(x.failed)::bigint AS failed,
			   pg_catalog.bool_or(x.failing) AS failing,
			   (pg_catalog.array_agg(x.last_error ORDER BY x.last_error_at DESC NULLS LAST))[1] AS last_error,
			   pg_catalog.max(x.last_error_at) AS last_error_at,
			   (pg_catalog.array_agg(x.last_error_about ORDER BY x.last_error_at DESC NULLS LAST))[1] AS last_error_about,
			   pg_catalog.max(x.last_batch_at) AS last_batch_at,
			   (pg_catalog.array_agg(x.last_batch_ms ORDER BY x.last_batch_at DESC NULLS LAST))[1] AS last_batch_ms
		  FROM broker.subscription_stats x WHERE x.subscription_id = s.id) st ON true
  LEFT JOIN LATERAL (
		SELECT count(*) FILTER (WHERE x.stopped) AS stopped
		  FROM broker.subscription_partition x WHERE x.subscription_id = s.id) p ON true
 WHERE broker._is_member_of(s.owner)
	OR pg_catalog.pg_has_role(pg_catalog.current_user(), 'pgbroker_admin', 'USAGE')
	OR pg_catalog.pg_has_role(pg_catalog.current_user(), 'pg_monitor', 'USAGE')
	OR (s.queue_id IS NOT NULL AND broker._may_see('q', s.queue_id))
	OR (s.topic_id IS NOT NULL AND broker._may_see('t', s.topic_id));
COMMENT ON VIEW broker.subscriptions IS 'one row per subscription: source, handler, owner, state, workers, counters, last error, backlog';

/* The dead letters of topic subscriptions the caller owns or may browse. */
CREATE OR REPLACE VIEW broker.subscription_dead_letters AS
SELECT d.id, d.subscription, d.topic, d.consumer_group, d.partition, d.offset_id,
	   d.record, d.error, d.attempts, d.failed_at
  FROM broker.subscription_dead_letter d
  JOIN broker.topic t ON t.name = d.topic
 WHERE broker._may_see('t', t.id)
   AND (broker.has_privilege(pg_catalog.current_user()::regrole, 'browse', topic => t.name)
		OR EXISTS (SELECT 1 FROM broker.subscription s
					WHERE s.name = d.subscription AND broker._is_member_of(s.owner)));
COMMENT ON VIEW broker.subscription_dead_letters IS 'records topic subscriptions gave up on, with their errors';
