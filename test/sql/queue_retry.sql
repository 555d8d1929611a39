-- queue_retry: nack with backoff, dead letters, redrive, poison messages
SET client_min_messages = warning;
SELECT broker.create_queue('retry', max_attempts => 3, retry_base => '10 seconds', retry_max => '25 seconds');
SELECT broker.send('retry', '{"job": "flaky"}') AS id \gset

-- exponential backoff: 10 s, 20 s, then capped at 25 s
CREATE TEMP TABLE c AS SELECT * FROM broker.claim('retry');
SELECT broker.nack('retry', id, receipt, error => 'boom 1') FROM c;
SELECT state, attempt, last_error,
       available_at BETWEEN now() + '9 seconds' AND now() + '11 seconds' AS backoff_10s
  FROM broker.peek('retry');
-- retry_in overrides the backoff
SELECT broker.nack('retry', :id, retry_in => '0') AS nacked_now;
SELECT attempt FROM broker.claim('retry');
SELECT broker.nack('retry', :id, error => 'boom 2') AS nacked;
SELECT available_at BETWEEN now() + '19 seconds' AND now() + '21 seconds' AS backoff_20s
  FROM broker.peek('retry');
SELECT broker.nack('retry', :id, retry_in => '0');
SELECT attempt FROM broker.claim('retry');
-- third attempt failed: out of attempts, so into the dead letters
SELECT broker.nack('retry', :id, error => 'boom 3') AS dead_lettered;
SELECT count(*) AS in_queue FROM broker.peek('retry');
SELECT id = :id AS same_id, payload, attempts, last_error, reason,
       jsonb_array_length(history) AS history_len,
       history -> 0 ->> 'error' AS first_error
  FROM broker.dead_letters('retry');
SELECT dead FROM broker.queues WHERE queue = 'retry';

-- redrive sends it back with a fresh count, under its old id
SELECT broker.redrive('retry') AS redriven;
SELECT id = :id AS same_id, attempt FROM broker.claim('retry');
SELECT count(*) FROM broker.dead_letters('retry');

-- a lease that runs out after the last attempt also ends in the dead letters
SELECT broker.create_queue('expiring', max_attempts => 2);
SELECT broker.send('expiring', '{"job": "slow"}');
SELECT attempt FROM broker.claim('expiring', lease => '10 milliseconds');
SELECT pg_sleep(0.05);
SELECT attempt FROM broker.claim('expiring', lease => '10 milliseconds');
SELECT pg_sleep(0.05);
SELECT count(*) AS delivered FROM broker.claim('expiring');
SELECT attempts, last_error, reason, jsonb_path_query_array(history, '$[*].error') AS errors FROM broker.dead_letters('expiring');

-- a poison message that kills its consumer's transaction every time: the
-- rollback undoes the claim, and the next call from the session counts it
SELECT broker.create_queue('poison', max_attempts => 3, retry_base => '0');
SELECT broker.send('poison', '{"job": "poison"}');
BEGIN;
SELECT attempt FROM broker.claim('poison');
SELECT 1 / 0;
ROLLBACK;
BEGIN;
SELECT attempt FROM broker.claim('poison');
SELECT 1 / 0;
ROLLBACK;
BEGIN;
SELECT attempt FROM broker.claim('poison');
ROLLBACK;
SELECT count(*) AS delivered_again FROM broker.claim('poison');
SELECT attempts, last_error, reason, jsonb_array_length(history) AS failures
  FROM broker.dead_letters('poison');

-- the savepoint-and-nack pattern in one transaction
SELECT broker.create_queue('savepoint', max_attempts => 2, retry_base => '0');
SELECT broker.send('savepoint', '{"job": "bad"}');
DO $$
DECLARE
	m broker.message;
	i int;
BEGIN
	FOR i IN 1..3 LOOP
		SELECT * INTO m FROM broker.claim('savepoint');
		EXIT WHEN m.id IS NULL;
		BEGIN
			PERFORM 1 / 0;			-- the work fails
			PERFORM broker.ack('savepoint', m.id, m.receipt);
		EXCEPTION WHEN OTHERS THEN
			PERFORM broker.nack('savepoint', m.id, m.receipt, error => SQLERRM);
		END;
	END LOOP;
END
$$;
SELECT attempts, last_error FROM broker.dead_letters('savepoint');

-- purging dead letters: some, then all
SELECT broker.create_queue('purged', max_attempts => 1);
SELECT count(*) FROM broker.send_batch('purged', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[]);
SELECT count(*) FILTER (WHERE broker.nack('purged', m.id, m.receipt, error => 'no')) AS dead
  FROM broker.claim('purged', 3) m;
SELECT broker.purge_dead_letters('purged', ARRAY(SELECT id FROM broker.dead_letters('purged') ORDER BY id LIMIT 1)) AS purged_one;
SELECT count(*) AS left FROM broker.dead_letters('purged');
SELECT broker.purge_dead_letters('purged') AS purged_rest;
SELECT count(*) AS left FROM broker.dead_letters('purged');
SELECT broker.purge_dead_letters('nope');
SELECT broker.drop_queue('purged');
