-- group_basic: consumer groups, transactional and leased, commit, seek, lag
SET client_min_messages = warning;
SELECT broker.create_topic('orders', partitions => 3);
SELECT count(*) FROM (
	SELECT broker.publish('orders', jsonb_build_object('n', i), partition => i % 3)
	  FROM generate_series(1, 9) i) s;

-- a new group starts at the end by default: it sees only what comes next
SELECT count(*) FROM broker.poll('orders', 'late');
SELECT broker.publish('orders', '{"n": "new"}', partition => 2);
SELECT partition, offset_id, payload FROM broker.poll('orders', 'late');
SELECT count(*) FROM broker.poll('orders', 'late');

-- transactional consumption: offsets advance with the transaction
SELECT broker.create_group('orders', 'billing', start => 'earliest');
BEGIN;
SELECT partition, offset_id, payload FROM broker.poll('orders', 'billing', 100) ORDER BY 1, 2;
ROLLBACK;
SELECT partition, committed_offset, end_offset, lag FROM broker.consumer_lag
 WHERE consumer_group = 'billing' ORDER BY partition;
BEGIN;
SELECT count(*) FROM broker.poll('orders', 'billing', 4);
SELECT count(*) FROM broker.poll('orders', 'billing', 100);
COMMIT;
SELECT partition, committed_offset, end_offset, lag FROM broker.consumer_lag
 WHERE consumer_group = 'billing' ORDER BY partition;
SELECT count(*) AS nothing_left FROM broker.poll('orders', 'billing');
-- groups are independent
SELECT broker.create_group('orders', 'audit', start => 'earliest');
SELECT count(*) AS audit_sees_all FROM broker.poll('orders', 'audit', 1000);

-- a poll that waits returns as soon as a producer commits
SELECT broker.create_group('orders', 'waiter');
\setenv PGDATABASE :DBNAME
\! (sleep 0.5; psql -X -q -c "SELECT broker.publish('orders', '{\"n\": \"waited for\"}', partition => 0)" >/dev/null) &
SELECT clock_timestamp() AS t0 \gset
SELECT payload, clock_timestamp() - :'t0'::timestamptz < interval '5 seconds' AS woke_early
  FROM broker.poll('orders', 'waiter', 10, wait => '10 seconds');

-- leased consumption (one partition, so that the output is deterministic)
SELECT broker.create_topic('jobs', partitions => 1);
SELECT count(*) FROM (SELECT broker.publish('jobs', jsonb_build_object('n', i)) FROM generate_series(0, 5) i) s;
SELECT broker.create_group('jobs', 'workers', start => 'earliest');
SELECT offset_id, payload FROM broker.poll('jobs', 'workers', 2, consumer => 'w1', lease => '1 minute');
-- the next poll of the lease holder goes on from its position
SELECT offset_id FROM broker.poll('jobs', 'workers', 2, consumer => 'w1', lease => '1 minute');
-- another consumer gets nothing while w1 holds the partition; nor does a transactional poll
SELECT count(*) FROM broker.poll('jobs', 'workers', 10, consumer => 'w2', lease => '1 minute');
SELECT count(*) FROM broker.poll('jobs', 'workers', 10);
SELECT committed_offset, lag, lease_holder, lease_until > now() AS leased
  FROM broker.consumer_lag WHERE consumer_group = 'workers';
-- w1 commits what it processed
SELECT broker.commit('jobs', 'workers', 0, 2, 'w1');
SELECT committed_offset, lag, lease_holder FROM broker.consumer_lag WHERE consumer_group = 'workers';
-- the commit form taking the polled records
SELECT broker.commit('jobs', 'workers', array_agg(r), 'w1')
  FROM broker.poll('jobs', 'workers', 2, consumer => 'w1', lease => '1 minute') r;
SELECT committed_offset, lag FROM broker.consumer_lag WHERE consumer_group = 'workers';
SELECT broker.extend_lease('jobs', 'workers', 'w1', '2 minutes');
SELECT broker.extend_lease('jobs', 'workers', 'w2', '2 minutes');
-- w1's lease runs out (pretend); w2 takes the partition over from the
-- last commit as soon as it gets records from it
SELECT count(*) FROM (SELECT broker.publish('jobs', jsonb_build_object('n', i)) FROM generate_series(6, 7) i) s;
UPDATE broker.group_state s SET lease_until = now() - interval '1 second'
  FROM broker.consumer_group g WHERE g.id = s.group_id AND g.name = 'workers';
SELECT offset_id FROM broker.poll('jobs', 'workers', 10, consumer => 'w2', lease => '1 minute');
SELECT lease_holder FROM broker.consumer_lag WHERE consumer_group = 'workers';
-- w1 comes back late and commits: refused, it no longer holds the partition
SELECT sqlstate_of($$SELECT broker.commit('jobs', 'workers', 0, 6, 'w1')$$) AS late_commit;
SELECT broker.commit('jobs', 'workers', 0, 8, 'w2');
SELECT committed_offset, lag FROM broker.consumer_lag WHERE consumer_group = 'workers';

-- a consumer that comes back under the same name in a new session (it may
-- have crashed with records it was given) starts again from its last commit
SELECT broker.create_topic('restart', partitions => 1);
SELECT count(*) FROM (SELECT broker.publish('restart', jsonb_build_object('n', i)) FROM generate_series(0, 5) i) s;
SELECT broker.create_group('restart', 'r', start => 'earliest');
SELECT offset_id FROM broker.poll('restart', 'r', 2, consumer => 'r1', lease => '1 minute');
SELECT broker.commit('restart', 'r', 0, 1, 'r1');
SELECT offset_id FROM broker.poll('restart', 'r', 2, consumer => 'r1', lease => '1 minute');
\c
SET client_min_messages = warning;
SELECT offset_id FROM broker.poll('restart', 'r', 10, consumer => 'r1', lease => '1 minute');
SELECT broker.drop_topic('restart');

-- fair sharing: a consumer alone takes every partition; once a second one
-- polls, the first lets its surplus run out and the second gets it
SELECT broker.create_topic('shared', partitions => 2);
SELECT count(*) FROM (SELECT broker.publish('shared', jsonb_build_object('n', i), partition => i % 2)
						FROM generate_series(0, 7) i) s;
SELECT broker.create_group('shared', 'pool', start => 'earliest');
SELECT partition, count(*) FROM broker.poll('shared', 'pool', 10, consumer => 'a', lease => '2 seconds') GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM (SELECT broker.publish('shared', jsonb_build_object('n', i), partition => i % 2)
						FROM generate_series(8, 11) i) s;
SELECT count(*) AS b_gets_nothing_yet FROM broker.poll('shared', 'pool', 10, consumer => 'b', lease => '2 seconds');
-- a, now one of two (share 1), renews partition 0 only and lets partition 1 go
SELECT partition, count(*) FROM broker.poll('shared', 'pool', 1, consumer => 'a', lease => '1 minute') GROUP BY 1 ORDER BY 1;
SELECT pg_sleep(2.1);
-- partition 1's lease ran out: b takes it over from its committed offset (0)
SELECT partition, min(offset_id), count(*) FROM broker.poll('shared', 'pool', 10, consumer => 'b', lease => '2 seconds') GROUP BY 1 ORDER BY 1;
SELECT partition, lease_holder FROM broker.consumer_lag WHERE consumer_group = 'pool' ORDER BY 1;
SELECT broker.drop_topic('shared');

-- seek: earliest, latest, an offset, a time; it revokes leases
SELECT broker.seek('jobs', 'workers', 'earliest');
SELECT committed_offset, lease_holder FROM broker.consumer_lag WHERE consumer_group = 'workers';
SELECT sqlstate_of($$SELECT broker.commit('jobs', 'workers', 0, 6, 'w2')$$) AS revoked;
SELECT broker.seek('jobs', 'workers', 4::bigint);
SELECT offset_id FROM broker.poll('jobs', 'workers', 10);
SELECT broker.seek('jobs', 'workers', now() - interval '1 hour');
SELECT committed_offset FROM broker.consumer_lag WHERE consumer_group = 'workers';
SELECT broker.seek('jobs', 'workers', 'latest');
SELECT committed_offset FROM broker.consumer_lag WHERE consumer_group = 'workers';
-- seek on a group that does not exist creates it there
SELECT broker.seek('jobs', 'replay', '2');
SELECT offset_id FROM broker.poll('jobs', 'replay', 10);

-- retention removed records a slow group had not read: it jumps to the
-- earliest offset, and the skip shows in the lag view
SELECT broker.create_topic('logs', segment_interval => '1 microsecond', retention => '1 hour');
SELECT broker.create_group('logs', 'slow', start => 'earliest');
SELECT count(*) FROM (SELECT broker.publish('logs', jsonb_build_object('n', i)) FROM generate_series(0, 4) i) s;
SELECT count(*) > 0 FROM broker.maintain_topics();
SELECT broker.publish('logs', '{"n": 5}');
UPDATE broker.segment s SET sealed_at = now() - interval '2 hours'
  FROM broker.topic t WHERE t.id = s.topic_id AND t.name = 'logs' AND s.seg_no = 1;
SELECT count(*) > 0 FROM broker.maintain_topics();
SELECT committed_offset, end_offset, lag, skipped FROM broker.consumer_lag WHERE consumer_group = 'slow';
SELECT offset_id, payload FROM broker.poll('logs', 'slow');
SELECT committed_offset, end_offset, lag, skipped FROM broker.consumer_lag WHERE consumer_group = 'slow';

-- retention can wait for named groups: a segment goes only once they have read it
SELECT broker.create_topic('kept', segment_interval => '1 microsecond', retention => '1 hour',
						   retain_for_groups => ARRAY['reader']);
SELECT broker.create_group('kept', 'reader', start => 'earliest');
SELECT count(*) FROM (SELECT broker.publish('kept', jsonb_build_object('n', i)) FROM generate_series(0, 4) i) s;
SELECT count(*) > 0 FROM broker.maintain_topics();
UPDATE broker.segment s SET sealed_at = now() - interval '2 hours'
  FROM broker.topic t WHERE t.id = s.topic_id AND t.name = 'kept' AND s.seg_no = 1;
SELECT topic, segments_dropped FROM broker.maintain_topics() WHERE topic = 'kept';
SELECT count(*) FROM broker.poll('kept', 'reader', 3);
SELECT topic, segments_dropped FROM broker.maintain_topics() WHERE topic = 'kept';
SELECT count(*) FROM broker.poll('kept', 'reader', 3);
SELECT topic, segments_dropped FROM broker.maintain_topics() WHERE topic = 'kept';
SELECT broker.drop_topic('kept');

-- errors
SELECT sqlstate_of(stmt) AS sqlstate, stmt FROM (VALUES
	($$SELECT broker.commit('jobs', 'nope', 0, 1)$$),
	($$SELECT broker.commit('jobs', 'workers', 0, 100)$$),
	($$SELECT broker.commit('jobs', 'workers', 0, -1)$$),
	($$SELECT broker.commit('jobs', 'workers', 3, 1)$$),
	($$SELECT * FROM broker.poll('jobs', 'workers', 10, lease => '1 minute')$$),
	($$SELECT * FROM broker.poll('jobs', 'workers', 10, consumer => 'c', lease => '0')$$),
	($$SELECT * FROM broker.poll('jobs', 'workers', 10, consumer => 'c', lease => '2 days')$$),
	($$SELECT * FROM broker.poll('jobs', 'workers', 0)$$),
	($$SELECT * FROM broker.poll('jobs', NULL)$$),
	($$SELECT * FROM broker.poll('nope', 'workers')$$),
	($$SELECT * FROM broker.poll('jobs', '')$$),
	($$SELECT * FROM broker.poll('jobs', 'workers', wait => '-1 second')$$),
	($$SELECT broker.seek('jobs', 'workers', 'sometime')$$),
	($$SELECT broker.seek('jobs', 'workers', 'earliest', 5)$$),
	($$SELECT broker.extend_lease('jobs', 'workers', 'w1', '0')$$),
	($$SELECT broker.create_group('jobs', 'workers')$$),
	($$SELECT broker.create_group('jobs', 'new', start => 'middle')$$),
	($$SELECT broker.delete_group('jobs', 'nope')$$)
) v(stmt);
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT broker.commit('jobs', 'workers', 0, 100);
SELECT * FROM broker.poll('jobs', 'workers', 10, lease => '1 minute');

-- leave: a leased consumer gives its partitions back at once; the next
-- consumer starts from the last commit, and a late commit of the leaver is
-- refused
SELECT broker.create_topic('leaving', partitions => 2);
SELECT broker.create_group('leaving', 'g', start => 'earliest');
SELECT broker.publish('leaving', jsonb_build_object('n', i), partition => i % 2)
  FROM generate_series(0, 3) i;
SELECT partition, offset_id FROM broker.poll('leaving', 'g', 10, consumer => 'a', lease => '1 hour')
 ORDER BY 1, 2;
SELECT broker.commit('leaving', 'g', 0, 2, 'a');
SELECT broker.leave('leaving', 'g', 'a') AS released;
SELECT partition, committed_offset, lease_holder FROM broker.consumer_lag
 WHERE topic = 'leaving' ORDER BY 1;
SELECT partition, offset_id FROM broker.poll('leaving', 'g', 10, consumer => 'b', lease => '1 hour')
 ORDER BY 1, 2;
SELECT sqlstate_of($$SELECT broker.commit('leaving', 'g', 1, 2, 'a')$$) AS late_commit;
SELECT broker.leave('leaving', 'g', 'a') AS released_again;
SELECT sqlstate_of($$SELECT broker.leave('leaving', 'g', NULL)$$) AS null_consumer;
SELECT sqlstate_of($$SELECT broker.leave('nosuch', 'g', 'a')$$) AS unknown_topic;
SELECT broker.drop_topic('leaving');

-- with pgbroker.synchronous_offsets off (on by default), a transaction
-- whose only writes are the group's offsets commits without waiting for
-- its WAL flush (a crash re-delivers); any other write, before or after
-- the poll, keeps the commit synchronous, as does the setting on
SET pgbroker.synchronous_offsets = off;
SELECT broker.create_topic('flushes', partitions => 1);
SELECT broker.create_group('flushes', 'g', start => 'earliest');
SELECT count(*) AS published
  FROM (SELECT broker.publish('flushes', jsonb_build_object('n', i)) FROM generate_series(1, 8) i) p;
CREATE TABLE flush_effects (n int);
SET client_min_messages = debug1;
SELECT count(*) AS polled_alone FROM broker.poll('flushes', 'g', 1);
BEGIN;
SELECT count(*) AS polled_then_wrote FROM broker.poll('flushes', 'g', 1);
INSERT INTO flush_effects VALUES (1);
COMMIT;
BEGIN;
INSERT INTO flush_effects VALUES (2);
SELECT count(*) AS wrote_then_polled FROM broker.poll('flushes', 'g', 1);
COMMIT;
BEGIN;
SELECT count(*) AS polled_and_published FROM broker.poll('flushes', 'g', 1);
SELECT broker.publish('flushes', '{"n": 9}');
COMMIT;
BEGIN;
SELECT count(*) AS polled_rolled_back FROM broker.poll('flushes', 'g', 1);
ROLLBACK;
SELECT count(*) AS leased_poll FROM broker.poll('flushes', 'g', 1, consumer => 'a', lease => '1 hour');
SELECT broker.commit('flushes', 'g', 0, 5, 'a') AS leased_commit;
SET pgbroker.synchronous_offsets = on;
SELECT count(*) AS polled_synchronous FROM broker.poll('flushes', 'g', 1, consumer => 'a', lease => '1 hour');
RESET pgbroker.synchronous_offsets;
SHOW pgbroker.synchronous_offsets;
SELECT count(*) AS polled_by_default FROM broker.poll('flushes', 'g', 1, consumer => 'a', lease => '1 hour');
RESET client_min_messages;
SHOW synchronous_commit;
SELECT array_agg(n ORDER BY n) AS effects FROM flush_effects;
SELECT committed_offset FROM broker.consumer_lag WHERE topic = 'flushes';
DROP TABLE flush_effects;
SELECT broker.drop_topic('flushes');

-- a leased poll rolled back leaves nothing behind in what the session
-- remembers of its leases: a renewal it made and undid is not taken for
-- done.  Only a poll that does not look at partition 0 again relies on
-- that memory; polls start at a partition that rotates with each poll
-- (from a per-session seed), so the case runs twice, an odd number of
-- polls apart: one of the two last polls fills up from partition 1 first
SELECT broker.create_topic('renewals', partitions => 2);
SELECT broker.create_group('renewals', 'g', start => 'earliest');
SELECT broker.publish('renewals', '{"n": 1}', partition => 0);
SELECT partition, offset_id FROM broker.poll('renewals', 'g', 1, consumer => 'a', lease => '5 seconds');
BEGIN;
SELECT count(*) AS nothing_new FROM broker.poll('renewals', 'g', 1, consumer => 'a', lease => '1 hour');
SELECT lease_until > now() + interval '10 minutes' AS renewed_in_transaction
  FROM broker.consumer_lag WHERE topic = 'renewals' AND partition = 0;
ROLLBACK;
SELECT lease_until < now() + interval '10 minutes' AS short_lease_again
  FROM broker.consumer_lag WHERE topic = 'renewals' AND partition = 0;
SELECT broker.publish('renewals', '{"n": 2}', partition => 1);
SELECT count(*) AS other_group FROM broker.poll('renewals', 'other', 1);
SELECT count(*) AS polled FROM broker.poll('renewals', 'g', 1, consumer => 'a', lease => '1 hour');
SELECT partition, lease_holder, lease_until > now() + interval '10 minutes' AS renewed
  FROM broker.consumer_lag WHERE topic = 'renewals' AND consumer_group = 'g' ORDER BY 1;
SELECT broker.drop_topic('renewals');
SELECT broker.create_topic('renewals2', partitions => 2);
SELECT broker.create_group('renewals2', 'g', start => 'earliest');
SELECT broker.publish('renewals2', '{"n": 1}', partition => 0);
SELECT partition, offset_id FROM broker.poll('renewals2', 'g', 1, consumer => 'a', lease => '5 seconds');
BEGIN;
SELECT count(*) AS nothing_new FROM broker.poll('renewals2', 'g', 1, consumer => 'a', lease => '1 hour');
SELECT lease_until > now() + interval '10 minutes' AS renewed_in_transaction
  FROM broker.consumer_lag WHERE topic = 'renewals2' AND partition = 0;
ROLLBACK;
SELECT lease_until < now() + interval '10 minutes' AS short_lease_again
  FROM broker.consumer_lag WHERE topic = 'renewals2' AND partition = 0;
SELECT broker.publish('renewals2', '{"n": 2}', partition => 1);
SELECT count(*) AS other_group FROM broker.poll('renewals2', 'other', 1);
SELECT count(*) AS other_group FROM broker.poll('renewals2', 'other', 1);
SELECT count(*) AS polled FROM broker.poll('renewals2', 'g', 1, consumer => 'a', lease => '1 hour');
SELECT partition, lease_holder, lease_until > now() + interval '10 minutes' AS renewed
  FROM broker.consumer_lag WHERE topic = 'renewals2' AND consumer_group = 'g' ORDER BY 1;
SELECT broker.drop_topic('renewals2');

-- commit(topic, group, consumer): everything this session's polls handed
-- out, in every partition the consumer holds; refused (PB001) for a
-- partition it held but lost
SELECT broker.create_topic('handed', partitions => 3);
SELECT broker.create_group('handed', 'g', start => 'earliest');
SELECT count(*) AS published
  FROM (SELECT broker.publish('handed', jsonb_build_object('n', i), partition => i % 3)
          FROM generate_series(1, 30) i) p;
SELECT count(*) AS polled, count(DISTINCT partition) AS partitions
  FROM broker.poll('handed', 'g', 12, consumer => 'a', lease => '1 hour');
SELECT count(*) AS polled FROM broker.poll('handed', 'g', 3, consumer => 'a', lease => '1 hour');
SELECT broker.commit('handed', 'g', 'a') AS partitions_committed;
SELECT sum(committed_offset) AS committed, count(lease_holder) AS held
  FROM broker.consumer_lag WHERE topic = 'handed';
SELECT broker.commit('handed', 'g', 'a') AS nothing_more;
SELECT broker.commit('handed', 'g', consumer => 'b') AS holds_nothing;
SELECT broker.seek('handed', 'g', 'earliest');
SELECT sqlstate_of($$SELECT broker.commit('handed', 'g', 'a')$$) AS after_seek;
SELECT sqlstate_of($$SELECT broker.commit('handed', 'g', NULL::text)$$) AS null_consumer,
       sqlstate_of($$SELECT broker.commit('handed', 'nosuch', 'a')$$) AS unknown_group;
SELECT broker.drop_topic('handed');

-- a consumer instance's token: its polls and commits hold from any
-- connection (as behind a transaction pooler); without it, a commit from
-- another session than the polls fails instead of committing nothing
SELECT broker.create_topic('tok', partitions => 2);
SELECT broker.create_group('tok', 'g', 'earliest');
SELECT broker.publish('tok', jsonb_build_object('n', i), partition => i % 2) FROM generate_series(1, 6) i;
SELECT broker.join('tok', 'g', 'w') AS token \gset
SELECT count(*) AS polled FROM broker.poll('tok', 'g', 2, consumer => 'w', lease => '1 hour', token => :'token');
SELECT count(*) AS polled_no_token FROM broker.poll('tok', 'g', 2, consumer => 'v', lease => '1 hour');
\c
SET client_min_messages = warning;
-- the same token on another connection: the position holds (the next records, none twice)
SELECT offset_id FROM broker.poll('tok', 'g', 2, consumer => 'w', lease => '1 hour', token => :'token')
 ORDER BY 1;
SELECT broker.commit('tok', 'g', 'w', :'token') AS partitions_committed;
SELECT lease_holder, committed_offset FROM broker.consumer_lag WHERE topic = 'tok' ORDER BY 1;
-- a session-bound commit on another connection than its polls: 55000, not 0
SELECT sqlstate_of($$SELECT broker.commit('tok', 'g', 'v')$$) AS other_session;
-- a new instance under the same name (a new token) starts from the committed
-- offsets: what the old one was handed and did not commit comes again
SELECT partition AS wp FROM broker.consumer_lag WHERE topic = 'tok' AND lease_holder = 'w' \gset
SELECT broker.publish('tok', jsonb_build_object('n', i), partition => :wp) FROM generate_series(7, 8) i;
SELECT offset_id FROM broker.poll('tok', 'g', 10, consumer => 'w', lease => '1 hour', token => :'token')
 ORDER BY 1;
SELECT broker.join('tok', 'g', 'w') AS token2 \gset
SELECT :'token' <> :'token2' AS new_token;
SELECT offset_id FROM broker.poll('tok', 'g', 10, consumer => 'w', lease => '1 hour', token => :'token2')
 ORDER BY 1;
SELECT sqlstate_of($$SELECT * FROM broker.poll('tok', 'g', 1, token => 'x')$$) AS token_without_lease,
       sqlstate_of($$SELECT * FROM broker.poll('tok', 'g', 1, consumer => 'w', lease => '1 hour', token => '')$$) AS empty_token;
SELECT broker.drop_topic('tok');

-- delete_group, and dropping a topic takes its groups along
SELECT broker.delete_group('jobs', 'replay');
SELECT broker.delete_group('jobs', 'replay', if_exists => true);
SELECT broker.drop_topic('jobs');
SELECT broker.drop_topic('orders');
SELECT broker.drop_topic('logs');
SELECT count(*) AS groups_left FROM broker.consumer_group;
SELECT count(*) AS states_left FROM broker.group_state;

-- reset_group: per partition from where to where; a dry run moves nothing
SELECT broker.create_topic('rg', partitions => 2);
SELECT count(broker.publish('rg', '{}', partition => i % 2)) FROM generate_series(1, 6) i;
SELECT broker.create_group('rg', 'g', 'latest');
SELECT * FROM broker.reset_group('rg', 'g', 'earliest', dry_run => true);
SELECT partition, committed_offset FROM broker.consumer_lag WHERE topic = 'rg' ORDER BY 1;
SELECT * FROM broker.reset_group('rg', 'g', '1', partition => 1);
SELECT partition, committed_offset FROM broker.consumer_lag WHERE topic = 'rg' ORDER BY 1;
SELECT * FROM broker.reset_group('rg', 'g', (now() - interval '1 hour')::text);
-- a group that does not exist yet: created where it is told
SELECT * FROM broker.reset_group('rg', 'new', 'latest');
SELECT sqlstate_of($$SELECT * FROM broker.reset_group('rg', 'g', 'not a time')$$) AS bad_position;
SELECT sqlstate_of($$SELECT * FROM broker.reset_group('rg', 'g', NULL)$$) AS null_position,
       sqlstate_of($$SELECT * FROM broker.reset_group('nosuch', 'g', 'earliest')$$) AS unknown_topic,
       sqlstate_of($$SELECT * FROM broker.reset_group('rg', NULL, 'earliest')$$) AS null_group,
       sqlstate_of($$SELECT * FROM broker.reset_group('rg', 'g', 'earliest', partition => 7)$$) AS no_such_partition,
       sqlstate_of($$SELECT * FROM broker.reset_group('rg', 'g', 'earliest', partition => -1)$$) AS negative_partition;
SELECT broker.drop_topic('rg');
