-- metrics: the views in base units and the Prometheus exposition (this
-- cluster does not preload pgbroker: the counters are null here;
-- test/scripts/metrics.sh checks them on a cluster that does)
SET client_min_messages = warning;
SELECT broker.create_queue('mq', max_attempts => 1);
SELECT broker.create_queue('mq_grouped');
SELECT count(broker.send('mq', jsonb_build_object('n', i))) FROM generate_series(1, 20) i;
SELECT count(broker.send('mq', '{}', delay => '1 hour')) FROM generate_series(1, 3);
SELECT broker.send('mq_grouped', '{}', group_key => 'g') > 0 AS sent,
       broker.send('mq_grouped', '{}', group_key => 'g') > 0 AS sent;
SELECT count(*) AS claimed FROM broker.claim('mq', 4);
-- a nack of the last attempt: a dead letter
SELECT broker.nack('mq', c.id, c.receipt, error => 'boom') FROM broker.claim('mq', 1) c;

-- a small queue is measured exactly: 23 - 1 dead = 22 messages
SELECT queue, messages, ready, delayed, leased, waiting, dead, exact,
       oldest_ready_age_seconds >= 0 AS has_age, bytes > 0 AS has_size,
       sent_total, acked_total, counters_since
  FROM broker.queue_metrics WHERE queue LIKE 'mq%' ORDER BY queue;
-- the states add up to the messages
SELECT queue FROM broker.queue_metrics WHERE ready + delayed + leased + waiting <> messages;
-- broker.queues measures the same way
SELECT q.queue, q.messages = m.messages AND q.ready = m.ready AND q.leased = m.leased
       AND q.delayed = m.delayed AS same
  FROM broker.queues q JOIN broker.queue_metrics m USING (queue) WHERE queue LIKE 'mq%' ORDER BY 1;
-- nothing ready: no age
SELECT count(broker.ack('mq', c.id, c.receipt)) FROM broker.claim('mq', 100) c;
SELECT messages, ready, oldest_ready_age_seconds FROM broker.queue_metrics WHERE queue = 'mq';

-- topics, partitions, groups
SELECT broker.create_topic('mt', partitions => 2);
SELECT count(broker.publish('mt', '{}', partition => i % 2)) FROM generate_series(1, 7) i;
SELECT broker.create_group('mt', 'mg', 'earliest');
SELECT broker.create_group('mt', 'leased', 'earliest');
SELECT count(*) AS leased FROM broker.poll('mt', 'leased', max_records => 1, lease => '1 hour', consumer => 'c1');
BEGIN;
SELECT count(*) AS polled FROM broker.poll('mt', 'mg', max_records => 2, partition => 0);
COMMIT;
SELECT topic, partitions, records, segments, bytes > 0 AS has_size,
       oldest_record_age_seconds >= 0 AS has_age, published_total
  FROM broker.topic_metrics WHERE topic = 'mt';
SELECT * FROM broker.partition_metrics WHERE topic = 'mt' ORDER BY partition;
SELECT topic, consumer_group, partition, committed_offset, end_offset, lag,
       last_commit_age_seconds >= 0 AS committed
  FROM broker.group_metrics WHERE topic = 'mt' ORDER BY consumer_group, partition;
SELECT consumer_group, count(lease_holder) AS leased_partitions, min(lease_holder) AS holder
  FROM broker.group_metrics WHERE topic = 'mt' GROUP BY 1 ORDER BY 1;

-- the exposition: families, labels, values (no counters without preload)
SELECT line FROM regexp_split_to_table(broker.metrics_text(), E'\n') line
 WHERE line ~ '^pgbroker_(queue_messages|topic_partition_end_offset|consumer_group_lag|consumer_group_lease_holders|queue_sent_total)'
    AND line ~ '(queue="mq|topic="mt")'
    OR line ~ '^# TYPE pgbroker_queue_messages'
 ORDER BY line;
SELECT count(*) = count(DISTINCT split_part(line, ' ', 3)) AS each_family_once,
       count(*) >= 16 AS families
  FROM regexp_split_to_table(broker.metrics_text(), E'\n') line WHERE line LIKE '# HELP %';
-- label values are escaped as the format says
SELECT broker._prometheus_escape(E'a"b\\c\nd') AS label_value;

-- a role sees the queues and topics it may browse; pg_monitor sees all
CREATE ROLE metrics_browser IN ROLE pgbroker_consumer;
CREATE ROLE metrics_monitor IN ROLE pg_monitor;
SELECT broker.grant('browse', 'metrics_browser', queue => 'mq');
SET ROLE metrics_browser;
SELECT queue FROM broker.queue_metrics;
SELECT count(*) AS topics FROM broker.topic_metrics WHERE topic = 'mt';
SELECT broker.metrics_text() ~ 'queue="mq"' AS sees_mq, broker.metrics_text() ~ 'mq_grouped|topic="mt"' AS sees_others;
RESET ROLE;
SET ROLE metrics_monitor;
SELECT queue FROM broker.queue_metrics WHERE queue LIKE 'mq%' ORDER BY 1;
SELECT count(*) AS partitions FROM broker.partition_metrics WHERE topic = 'mt';
SELECT broker.metrics_text() ~ 'consumer_group="mg"' AS sees_groups;
-- and no payload
SELECT sqlstate_of($$SELECT * FROM broker.peek('mq')$$) AS peek;
RESET ROLE;
SELECT broker.revoke('browse', 'metrics_browser', queue => 'mq');
DROP ROLE metrics_browser;
DROP ROLE metrics_monitor;
SELECT broker.drop_queue('mq'), broker.drop_queue('mq_grouped'), broker.drop_topic('mt');
