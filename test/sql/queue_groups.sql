-- queue_groups: one message of a group at a time, in send order; groups in parallel
SET client_min_messages = warning;
SELECT broker.create_queue('groups', max_attempts => 2, retry_base => '1 hour');
SELECT broker.send('groups', '{"g": "a", "n": 1}', group_key => 'a');
SELECT broker.send('groups', '{"g": "a", "n": 2}', group_key => 'a');
SELECT broker.send('groups', '{"g": "b", "n": 1}', group_key => 'b');
SELECT broker.send('groups', '{"g": "a", "n": 3}', group_key => 'a');
SELECT broker.send('groups', '{"free": 1}');
SELECT * FROM broker.send_batch('groups', ARRAY['{"g": "b", "n": 2}', '{"g": "c", "n": 1}']::jsonb[],
                                 group_keys => ARRAY['b', 'c']);
SELECT id, group_key, state FROM broker.peek('groups', 20) ORDER BY id;

-- a claim of many gets one head per group, plus ungrouped messages
CREATE TEMP TABLE c1 AS SELECT * FROM broker.claim('groups', 10);
SELECT id, group_key, payload FROM c1 ORDER BY id;
-- the heads are leased: their groups are blocked
SELECT count(*) AS nothing_more FROM broker.claim('groups', 10);

-- ack the head of a: the next of a becomes claimable, in order
SELECT broker.ack('groups', id, receipt) FROM c1 WHERE group_key = 'a';
SELECT id, payload FROM broker.claim('groups', 10);

-- a nacked head keeps blocking its group while it backs off
SELECT broker.nack('groups', id, receipt, error => 'later') FROM c1 WHERE group_key = 'b';
SELECT count(*) AS b_blocked FROM broker.claim('groups', 10);
SELECT id, group_key, state FROM broker.peek('groups', 20) WHERE group_key = 'b' ORDER BY id;

-- a dead-lettered head lets the group go on
SELECT broker.nack('groups', id, retry_in => '0') FROM broker.peek('groups', 20) WHERE group_key = 'b' AND state = 'delayed';
CREATE TEMP TABLE c2 AS SELECT * FROM broker.claim('groups', 10);
SELECT id, group_key, attempt FROM c2 ORDER BY id;
SELECT broker.nack('groups', id, receipt, error => 'give up') AS dead FROM c2 WHERE group_key = 'b';
SELECT id, group_key, payload FROM broker.claim('groups', 10);
SELECT id, group_key, reason FROM broker.dead_letters('groups');

-- cancelling a head promotes the next message too
SELECT broker.send('groups', '{"g": "d", "n": 1}', group_key => 'd') AS d1 \gset
SELECT broker.send('groups', '{"g": "d", "n": 2}', group_key => 'd') AS d2 \gset
SELECT broker.cancel('groups', :d1);
SELECT id = :d2 AS second_is_head, state FROM broker.peek('groups', 20) WHERE group_key = 'd';

-- a redriven dead letter rejoins its group behind the current head
SELECT broker.redrive('groups');
SELECT id, group_key, state FROM broker.peek('groups', 20) WHERE group_key = 'b' ORDER BY id;
