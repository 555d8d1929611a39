-- queue_errors: every misuse gets a specific SQLSTATE and a clear message
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = warning;
\set ON_ERROR_STOP 0
SELECT broker.create_queue('errs');

-- unknown queue, bad names
SELECT broker.send('nope', '{}');
SELECT * FROM broker.claim('nope');
SELECT broker.ack('nope', 1);
SELECT broker.drop_queue('nope');
SELECT broker.drop_queue('nope', if_exists => true);
SELECT broker.send('', '{}');
SELECT broker.create_queue(repeat('x', 201));
SELECT broker.create_queue(E'tab\there');
SELECT broker.create_queue('errs');
SELECT broker.create_queue(NULL);

-- NULLs where not allowed
SELECT broker.send(NULL, '{}');
SELECT * FROM broker.send_batch('errs', NULL);
SELECT * FROM broker.claim('errs', NULL);
SELECT broker.ack('errs', NULL::bigint);
SELECT broker.ack('errs', NULL::bigint[]);
SELECT broker.nack('errs', NULL);
SELECT broker.extend('errs', 1, NULL, '1 minute');
SELECT broker.extend('errs', 1, gen_random_uuid(), NULL);

-- absurd counts and intervals
SELECT * FROM broker.claim('errs', 0);
SELECT * FROM broker.claim('errs', -5);
SELECT * FROM broker.claim('errs', 1000000);
SELECT * FROM broker.claim('errs', 1, lease => '-1 second');
SELECT * FROM broker.claim('errs', 1, lease => '0');
SELECT * FROM broker.claim('errs', 1, lease => '1 year');
SELECT * FROM broker.claim('errs', 1, wait => '-1 second');
SELECT * FROM broker.claim('errs', 1, wait => '2 hours');
SELECT broker.send('errs', '{}', delay => '-1 minute');
SELECT broker.nack('errs', 1, retry_in => '-1 second');
SELECT broker.extend('errs', 1, gen_random_uuid(), '0');
SELECT broker.create_queue('bad', max_attempts => 0);
SELECT broker.create_queue('bad', lease => '0');
SELECT broker.create_queue('bad', ttl_action => 'explode');
SELECT broker.create_queue('bad', overflow => 'spill');
SELECT broker.create_queue('bad', max_length => 0);
SELECT broker.create_queue('bad', retry_base => '1 hour', retry_max => '1 minute');
SELECT * FROM broker.peek('errs', 0);

-- malformed headers and filters
SELECT broker.send('errs', '{}', headers => '[1, 2]');
SELECT broker.send('errs', '{}', headers => '"text"');
SELECT * FROM broker.claim('errs', 1, filter => '[1]');
SELECT * FROM broker.claim('errs', 1, filter => '42');
SELECT * FROM broker.peek('errs', 1, filter => '"x"');

-- arrays that do not line up
SELECT * FROM broker.send_batch('errs', ARRAY['{}', '{}']::jsonb[], dedup_keys => ARRAY['a']);
SELECT * FROM broker.send_batch('errs', ARRAY[['{}'], ['{}']]::jsonb[]);

-- oversize payloads and keys
SET pgbroker.max_message_size = '2kB';
SELECT broker.send('errs', jsonb_build_object('big', repeat('x', 3000)));
SELECT broker.send_bytes('errs', convert_to(repeat('x', 3000), 'UTF8'));
RESET pgbroker.max_message_size;
SET pgbroker.max_message_size = 10;
SELECT broker.send('errs', '{}', dedup_key => repeat('k', 600));
SELECT broker.send('errs', '{}', group_key => repeat('k', 600));

-- administration and browsing
SELECT broker.alter_queue('nope', max_attempts => 3);
SELECT broker.alter_queue('errs', max_attempts => 0);
SELECT broker.alter_queue('errs', lease => '8 days');
SELECT broker.alter_queue('errs', overflow => 'spill');
SELECT broker.alter_queue('errs', retry_base => '2 hours');
SELECT broker.purge('nope');
SELECT broker.cancel('errs', NULL);
SELECT broker.cancel('nope', 1);
SELECT * FROM broker.dead_letters('errs', 0);
SELECT * FROM broker.dead_letters('nope');
SELECT broker.redrive('nope');
SELECT * FROM broker.peek(NULL);
SELECT broker.send('errs', '{}', priority => 1000001);
SELECT broker.send('errs', '{}', priority => -1000001);

-- nothing was left behind by the failures
SELECT messages FROM broker.queues WHERE queue = 'errs';

-- the SQLSTATE of each misuse
SELECT stmt, sqlstate_of(stmt) AS sqlstate FROM (VALUES
	($$SELECT broker.send('nope', '{}')$$),
	($$SELECT broker.send('', '{}')$$),
	($$SELECT broker.create_queue('errs')$$),
	($$SELECT broker.send(NULL, '{}')$$),
	($$SELECT broker.ack('errs', NULL::bigint)$$),
	($$SELECT * FROM broker.claim('errs', 0)$$),
	($$SELECT * FROM broker.claim('errs', 1, lease => '-1 second')$$),
	($$SELECT * FROM broker.claim('errs', 1, wait => '-1 second')$$),
	($$SELECT broker.send('errs', '{}', delay => '-1 minute')$$),
	($$SELECT * FROM broker.claim('errs', 1, filter => '[1]')$$),
	($$SELECT broker.send('errs', '{}', headers => '[1]')$$),
	($$SELECT * FROM broker.send_batch('errs', ARRAY[['{}'], ['{}']]::jsonb[])$$),
	($$SELECT broker.send('errs', jsonb_build_object('big', repeat('x', 2000000)))$$),
	($$SELECT broker.send('errs', '{}', dedup_key => repeat('k', 600))$$),
	($$SELECT broker.create_queue('bad', max_attempts => 0)$$)
) v(stmt);

-- found by test/tools/fuzz.c: settings so long that now() plus them is
-- past the end of timestamptz count as 1000 years, instead of making every
-- send, ack or nack of the queue fail with 22008
RESET pgbroker.max_message_size;
SELECT broker.create_queue('forever', dedup_window => '178000000 years', ttl => '178000000 years',
						   retry_base => '178000000 years', retry_max => '178000000 years');
SELECT broker.send('forever', '{"n": 1}', dedup_key => 'k') > 0 AS sent;
SELECT broker.ack('forever', id) FROM broker.claim('forever');
SELECT broker.send('forever', '{"n": 2}') > 0 AS sent;
SELECT broker.nack('forever', id) FROM broker.claim('forever');
SELECT state, available_at > now() + interval '999 years' AS backoff_1000_years,
	   expires_at > now() + interval '999 years' AS ttl_1000_years
  FROM broker.peek('forever');
SELECT queue, expired FROM broker.maintain() WHERE queue = 'forever';
SELECT broker.drop_queue('forever');

-- found by test/tools/fuzz.c: claim_wait hands out a payload stored out of
-- line (TOAST) instead of failing with "cannot fetch toast data without an
-- active snapshot" (XX000) after its claim committed
SELECT broker.create_queue('big');
SELECT broker.send('big', jsonb_build_object('x', (SELECT string_agg(md5(i::text), '')
													  FROM generate_series(1, 1000) i))) > 0 AS sent;
CALL broker.claim_wait('big', 1, wait => '1 second') \gset
SELECT cardinality(:'messages'::broker.message[]) AS claimed,
	   length((:'messages'::broker.message[])[1].payload->>'x') AS payload_chars;
SELECT broker.drop_queue('big');
