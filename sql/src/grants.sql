/*
 * sql/src/grants.sql - privileges: the one list of who may use what
 *
 * PUBLIC may use nothing of pgbroker; the roles of roles.sql get what the
 * lines below give them.  Each line names an object (its kind, then its
 * name or signature) and the roles that get its one privilege: EXECUTE on
 * a function or procedure, SELECT on a table or view, USAGE on a sequence
 * or the schema.  For each line the block first revokes everything from
 * PUBLIC and from the three roles, then grants to the roles listed, in the
 * order listed (the order of the object's ACL), so an object ends with the
 * privileges of its line whatever it had before.  A line without roles
 * leaves the object to its owner.
 *
 * The install script and the upgrade step both end with this file: a fresh
 * installation and an upgraded one get their privileges from the same
 * lines.  Every function and procedure of the extension needs a line, or
 * the block fails (PUBLIC may execute a function by default).  Tables,
 * views and sequences give PUBLIC nothing by default; broker.queue_id_seq
 * has no line and so keeps the default ACL (NULL) that it has always had.
 */
DO $grants$
DECLARE
	g record;
	fn regprocedure;
	rel regclass;
	target text;		/* the object, as GRANT and REVOKE name it */
	privilege text;
	kind "char";		/* the object's prokind or relkind */
	want "char";		/* the one its line's kind stands for */
	roles text;
	listed oid[] := '{}';
	missing text;
BEGIN
	FOR g IN SELECT * FROM (VALUES
		-- roles.sql
		('schema',		'broker',	'pgbroker_producer pgbroker_consumer pgbroker_admin pg_monitor'),
		('function',	'broker._check_name(text, text)',	''),
		('function',	'broker._require_primary(text)',	''),
		('view',		'broker.create_acl',	''),
		('function',	'broker._caller()',	''),
		('function',	'broker._create_acl_holder(text, integer)',	''),
		('function',	'broker.has_privilege(regrole, text, text, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin pg_monitor'),
		('function',	'broker.grant(text, regrole, text, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.revoke(text, regrole, text, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._may_see("char", integer)',	'pgbroker_producer pgbroker_consumer pgbroker_admin pg_monitor'),
		('view',		'broker.privileges',	'pgbroker_producer pgbroker_consumer pgbroker_admin pg_monitor'),
		('function',	'broker.grant_default(text, regrole, regrole)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.revoke_default(text, regrole, regrole)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('view',		'broker.default_privileges',	'pgbroker_producer pgbroker_consumer pgbroker_admin pg_monitor'),

		-- queue.sql
		('table',		'broker.queue',	''),
		('table',		'broker.dead_letter',	''),
		('table',		'broker.dedup',	''),
		('function',	'broker._queue_changed(regclass)',	''),
		('function',	'broker._group_promote(text, text)',	''),
		('function',	'broker._group_join(text, text)',	''),
		('function',	'broker._message_removed(text, bigint, text, boolean, text, boolean)',	''),
		('function',	'broker._wake(text)',	''),
		('function',	'broker._queue(text)',	''),
		('function',	'broker._queue_table(integer)',	''),
		('function',	'broker._queue_expiry_index(integer, boolean)',	''),
		('function',	'broker.create_queue(text, integer, interval, interval, interval, interval, interval, text, bigint, text, boolean)',
						'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._create_queue(text, integer, interval, interval, interval, interval, interval, text, bigint, text, boolean)',	''),
		('function',	'broker.alter_queue(text, integer, interval, interval, interval, interval, interval, text, bigint, text, boolean, boolean, integer, boolean)',
						'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._alter_queue(text, integer, interval, interval, interval, interval, interval, text, bigint, text, boolean, boolean, integer, boolean)',	''),
		('function',	'broker.drop_queue(text, boolean)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._drop_queue(text, boolean)',	''),
		('function',	'broker.purge(text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._purge(text)',	''),
		('function',	'broker.send(text, jsonb, jsonb, interval, integer, text, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.send_bytes(text, bytea, jsonb, interval, integer, text, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.send_batch(text, jsonb[], jsonb, interval, integer, text[], text[])',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.send_batch_bytes(text, bytea[], jsonb, interval, integer, text[], text[])',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.claim(text, integer, interval, interval, jsonb, jsonb)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.set_visible(text, bigint, timestamptz)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._queue_next_due(text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.ack(text, bigint, uuid)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.ack_batch(text, bigint[], uuid[])',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.ack(text, bigint[])',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.nack(text, bigint, uuid, interval, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.extend(text, bigint, uuid, interval)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.peek(text, integer, jsonb)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._peek(text, integer, jsonb)',	''),
		('function',	'broker.cancel(text, bigint)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._cancel(text, bigint)',	''),
		('function',	'broker.dead_letters(text, integer)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._dead_letters(text, integer)',	''),
		('function',	'broker.redrive(text, bigint[])',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.purge_dead_letters(text, bigint[])',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._purge_dead_letters(text, bigint[])',	''),
		('function',	'broker._redrive(text, bigint[])',	''),
		-- (a view's function calls are checked against the user who queries it)
		('function',	'broker.queue_stats(integer)',	'pgbroker_producer pgbroker_consumer pgbroker_admin pg_monitor'),
		('function',	'broker._queue_stats(integer)',	''),
		('view',		'broker.queues',	'pgbroker_admin pgbroker_consumer pgbroker_producer pg_monitor'),

		-- topic.sql
		('table',		'broker.topic',	''),
		('sequence',	'broker.topic_id_seq',	''),
		('table',		'broker.segment',	''),
		('table',		'broker.topic_dedup',	''),
		('function',	'broker._lock_topic(integer)',	''),
		('function',	'broker._topic_changed()',	''),
		('function',	'broker._lock_segment(integer, integer)',	''),
		('function',	'broker._topic(text)',	''),
		('function',	'broker._check_partition(broker.topic, integer)',	''),
		('function',	'broker._segment_table(integer, integer)',	''),
		('function',	'broker._create_segment(integer, integer)',	''),
		-- (called by the view consumer_lag as the user who queries it)
		('function',	'broker._end_offset(broker.topic, integer)',	'pgbroker_admin pgbroker_consumer pg_monitor'),
		('function',	'broker.create_topic(text, integer, interval, bigint, boolean, interval, bigint, interval, interval, boolean, text[])',
						'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._create_topic(text, integer, interval, bigint, boolean, interval, bigint, interval, interval, boolean, text[])',	''),
		('function',	'broker.alter_topic(text, integer, interval, bigint, boolean, interval, bigint, interval, interval, boolean, boolean, text[], integer, boolean)',
						'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._alter_topic(text, integer, interval, bigint, boolean, interval, bigint, interval, interval, boolean, boolean, text[], integer, boolean)',	''),
		('function',	'broker.drop_topic(text, boolean)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._drop_topic(text, boolean)',	''),
		('function',	'broker.start_partition_at(text, integer, bigint)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._start_partition_at(text, integer, bigint)',	''),
		('function',	'broker.publish(text, jsonb, text, jsonb, integer, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.publish_bytes(text, bytea, text, jsonb, integer, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.publish_batch(text, jsonb[], text[], jsonb, integer, integer[])',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.publish_batch_bytes(text, bytea[], text[], jsonb, integer, integer[])',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.partition_for(text, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.read(text, integer, bigint, integer)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.latest_offset(text, integer)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._latest_offset(text, integer)',	''),
		('function',	'broker.earliest_offset(text, integer)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._earliest_offset(text, integer)',	''),
		('function',	'broker.offset_for_time(text, integer, timestamptz)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._offset_for_time(text, integer, timestamptz)',	''),
		('function',	'broker.topic_partitions(text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._topic_partitions(text)',	''),
		-- (a view's function calls are checked against the user who queries it)
		('function',	'broker.topic_stats(integer)',	'pgbroker_producer pgbroker_consumer pgbroker_admin pg_monitor'),
		('function',	'broker._topic_stats(integer)',	''),
		('view',		'broker.topics',	'pgbroker_admin pgbroker_consumer pgbroker_producer pg_monitor'),

		-- group.sql
		('table',		'broker.consumer_group',	''),
		('sequence',	'broker.consumer_group_id_seq',	''),
		('table',		'broker.group_state',	''),
		('sequence',	'broker.group_state_seq',	''),
		('table',		'broker.group_member',	''),
		('function',	'broker._lock_group_partition(integer, integer, boolean)',	''),
		-- (called by the view consumer_lag as the user who queries it)
		('function',	'broker._group_state(integer, integer)',	'pgbroker_admin pgbroker_consumer pg_monitor'),
		('function',	'broker._ensure_group(integer, text, text)',	''),
		('function',	'broker._group(broker.topic, text)',	''),
		('function',	'broker.create_group(text, text, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._create_group(text, text, text)',	''),
		('function',	'broker.delete_group(text, text, boolean)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._delete_group(text, text, boolean)',	''),
		('function',	'broker.poll(text, text, integer, interval, text, interval, integer, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.commit(text, text, integer, bigint, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.commit(text, text, broker.record[], text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.commit(text, text, text, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.join(text, text, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.extend_lease(text, text, text, interval)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.leave(text, text, text)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.seek(text, text, text, integer)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.seek(text, text, bigint, integer)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker.seek(text, text, timestamptz, integer)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('view',		'broker.consumer_lag',	'pgbroker_admin pgbroker_consumer pg_monitor'),
		('function',	'broker.reset_group(text, text, text, integer, boolean)',	'pgbroker_consumer pgbroker_admin'),

		-- wait.sql
		('procedure',	'broker.claim_wait(text, integer, interval, interval, jsonb, broker.message[])',
						'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('procedure',	'broker.poll_wait(text, text, integer, interval, text, interval, text, broker.record[])',
						'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('procedure',	'broker.claim_wait_json(text, integer, interval, interval, jsonb, jsonb)',
						'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('procedure',	'broker.poll_wait_json(text, text, integer, interval, text, interval, text, jsonb)',
						'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._check_channel(text, text)',	''),
		('function',	'broker.alter_queue(text, boolean)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._alter_queue(text, boolean)',	''),
		('function',	'broker.alter_topic(text, boolean)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._alter_topic(text, boolean)',	''),

		-- subscription.sql
		('table',		'broker.subscription',	''),
		('table',		'broker.subscription_stats',	''),
		('table',		'broker.subscription_partition',	''),
		('table',		'broker.subscription_dead_letter',	''),
		('function',	'broker._caller_search_path()',	''),
		('function',	'broker._subscription_changed(integer)',	''),
		('function',	'broker._run_handler(integer, broker.record)',	''),
		('function',	'broker._is_member_of(name)',	'pgbroker_producer pgbroker_consumer pgbroker_admin pg_monitor'),
		('function',	'broker._check_subscription_owner(broker.subscription)',	''),
		('function',	'broker._check_handler(regprocedure, boolean, name)',	''),
		('function',	'broker._check_subscription_settings(broker.subscription)',	''),
		('function',	'broker.subscribe(text, regprocedure, text, text, text, integer, integer, interval, boolean, text, integer, interval, interval, text, boolean)',
						'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._subscribe(text, regprocedure, text, text, text, integer, integer, interval, boolean, text, integer, interval, interval, text, boolean)',	''),
		('function',	'broker.alter_subscription(text, boolean, integer, integer, interval, text, regprocedure, integer, interval, interval, text)',
						'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._alter_subscription(text, boolean, integer, integer, interval, text, regprocedure, integer, interval, interval, text)',	''),
		('function',	'broker.unsubscribe(text, boolean)',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._unsubscribe(text, boolean)',	''),
		('function',	'broker._drop_subscription(integer)',	''),
		('function',	'broker._start_subscriptions()',	''),
		('function',	'broker.replay_subscription_dead_letters(text, bigint[])',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._replay_subscription_dead_letters(text, bigint[])',	''),
		('view',		'broker.subscriptions',	'pgbroker_admin pgbroker_consumer pg_monitor'),
		('view',		'broker.subscription_dead_letters',	'pgbroker_admin pgbroker_consumer pg_monitor'),

		-- maintain.sql
		('function',	'broker.maintain()',	'pgbroker_admin'),
		('function',	'broker._dead_letter(text, bigint, text)',	''),
		('function',	'broker.maintain_topics()',	'pgbroker_admin'),
		('function',	'broker._compact(broker.topic, integer)',	''),

		-- metrics.sql
		('function',	'broker._queue_metrics(integer[])',	'pgbroker_producer pgbroker_consumer pgbroker_admin pg_monitor'),
		('function',	'broker._metrics_since()',	'pgbroker_producer pgbroker_consumer pgbroker_admin pg_monitor'),
		('function',	'broker._queue_counters_keep(integer[])',	''),
		('function',	'broker._queue_count(integer, text, bigint)',	''),
		('view',		'broker.queue_metrics',	'pgbroker_admin pgbroker_consumer pgbroker_producer pg_monitor'),
		('view',		'broker.topic_metrics',	'pgbroker_admin pgbroker_consumer pgbroker_producer pg_monitor'),
		('view',		'broker.partition_metrics',	'pgbroker_admin pgbroker_consumer pgbroker_producer pg_monitor'),
		('view',		'broker.group_metrics',	'pgbroker_admin pgbroker_consumer pg_monitor'),
		('function',	'broker._prometheus_escape(text)',	'pgbroker_admin pgbroker_consumer pg_monitor'),
		('function',	'broker.metrics_text()',	'pgbroker_admin pgbroker_consumer pg_monitor')
	) AS l(kind, object, roles)
	LOOP
		IF g.kind IN ('function', 'procedure') THEN
			fn := pg_catalog.to_regprocedure(g.object);
			SELECT p.prokind INTO kind FROM pg_catalog.pg_proc p WHERE p.oid = fn;
			want := CASE g.kind WHEN 'function' THEN 'f' ELSE 'p' END;
			IF kind IS DISTINCT FROM want THEN
				RAISE EXCEPTION 'privileges list: % % does not exist', g.kind, g.object;
			END IF;
			IF fn = ANY (listed) THEN
				RAISE EXCEPTION 'privileges list: % % is listed twice', g.kind, g.object;
			END IF;
			listed := listed || fn::oid;
			target := pg_catalog.format('%s %s', pg_catalog.upper(g.kind), fn);
			privilege := 'EXECUTE';
		ELSIF g.kind IN ('table', 'view', 'sequence') THEN
			rel := pg_catalog.to_regclass(g.object);
			SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid = rel;
			want := CASE g.kind WHEN 'table' THEN 'r' WHEN 'view' THEN 'v' ELSE 'S' END;
			IF kind IS DISTINCT FROM want THEN
				RAISE EXCEPTION 'privileges list: % % does not exist', g.kind, g.object;
			END IF;
			target := pg_catalog.format('%s %s', CASE g.kind WHEN 'sequence' THEN 'SEQUENCE' ELSE 'TABLE' END, rel);
			privilege := CASE g.kind WHEN 'sequence' THEN 'USAGE' ELSE 'SELECT' END;
		ELSIF g.kind = 'schema' THEN
			target := pg_catalog.format('SCHEMA %I', g.object);
			privilege := 'USAGE';
		ELSE
			RAISE EXCEPTION 'privileges list: unknown kind "%"', g.kind;
		END IF;

		EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC, pgbroker_producer, pgbroker_consumer, pgbroker_admin, pg_monitor',
								  target);
		SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.role), ', ' ORDER BY r.n)
		  INTO roles
		  FROM pg_catalog.regexp_split_to_table(pg_catalog.btrim(g.roles), '\s+') WITH ORDINALITY AS r(role, n)
		 WHERE r.role <> '';
		IF roles IS NOT NULL THEN
			EXECUTE pg_catalog.format('GRANT %s ON %s TO %s', privilege, target, roles);
		END IF;
	END LOOP;

	SELECT pg_catalog.string_agg(p.oid::pg_catalog.regprocedure::text, ', ' ORDER BY p.oid::pg_catalog.regprocedure::text)
	  INTO missing
	  FROM pg_catalog.pg_depend d
	  JOIN pg_catalog.pg_proc p ON p.oid = d.objid
	 WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
	   AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
	   AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'pgbroker')
	   AND d.deptype = 'e'
	   AND p.oid <> ALL (listed);
	IF missing IS NOT NULL THEN
		RAISE EXCEPTION 'privileges list: no line for %', missing
			USING HINT = 'Add a line for each to sql/src/grants.sql.';
	END IF;
END
$grants$;
