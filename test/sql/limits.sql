-- limits: the message size limit only an admin can raise, and the lower
-- limit a queue or topic may have of its own
--
-- First, before anything of pgbroker is loaded in this session: an
-- unprivileged role sets the limit while pgbroker.max_message_size is a
-- placeholder; loading the library must not keep that value.
SET client_min_messages = warning;
CREATE ROLE lim_producer IN ROLE pgbroker_producer;
CREATE ROLE lim_granted IN ROLE pgbroker_producer;
SET ROLE lim_producer;
SET pgbroker.max_message_size = '100MB';
RESET ROLE;
-- the first call of pgbroker loads the library
SELECT broker.create_queue('lim');
SELECT broker.grant('send', 'lim_producer', queue => 'lim'), broker.grant('send', 'lim_granted', queue => 'lim');
SHOW pgbroker.max_message_size;
SET ROLE lim_producer;
SELECT sqlstate_of($$SELECT broker.send('lim', jsonb_build_object('big', repeat('x', 2000000)))$$)
    AS placeholder_value_dropped;
-- once loaded, only superusers and roles granted SET may change it
SELECT sqlstate_of($$SET pgbroker.max_message_size = '100MB'$$) AS unprivileged_set;
RESET ROLE;
SELECT name, context FROM pg_settings WHERE name LIKE 'pgbroker.%' ORDER BY name;
GRANT SET ON PARAMETER pgbroker.max_message_size TO lim_granted;
SET ROLE lim_granted;
SET pgbroker.max_message_size = '4MB';
SELECT broker.send('lim', jsonb_build_object('big', repeat('x', 2000000))) > 0 AS granted_role_sends_2mb;
RESET pgbroker.max_message_size;
RESET ROLE;

-- a queue's own limit: lower than the server's, set and cleared by alter_queue
SELECT broker.alter_queue('lim', max_message_size => 1000);
SELECT sqlstate_of($$SELECT broker.send('lim', jsonb_build_object('s', repeat('x', 2000)))$$) AS over_queue_limit;
SELECT sqlstate_of($$SELECT broker.send_batch('lim', ARRAY['{"s": 1}', jsonb_build_object('s', repeat('x', 2000))])$$)
    AS batch_over_queue_limit;
SELECT broker.send('lim', '{"small": true}') > 0 AS under_queue_limit;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT broker.send('lim', jsonb_build_object('s', repeat('x', 2000)));
\set VERBOSITY terse
SELECT sqlstate_of($$SELECT broker.alter_queue('lim', max_message_size => 0)$$) AS zero_limit;
SELECT broker.alter_queue('lim', clear_max_message_size => true);
SELECT broker.send('lim', jsonb_build_object('s', repeat('x', 2000))) > 0 AS limit_cleared;
-- only an admin alters a queue
SET ROLE lim_producer;
SELECT sqlstate_of($$SELECT broker.alter_queue('lim', max_message_size => 100000000)$$) AS producer_alters;
RESET ROLE;

-- the same for a topic
SELECT broker.create_topic('lim_t');
SELECT broker.alter_topic('lim_t', max_message_size => 1000);
SELECT sqlstate_of($$SELECT broker.publish('lim_t', jsonb_build_object('s', repeat('x', 2000)))$$) AS over_topic_limit;
SELECT sqlstate_of($$SELECT broker.publish_batch('lim_t', ARRAY['{"s": 1}', jsonb_build_object('s', repeat('x', 2000))])$$)
    AS batch_over_topic_limit;
SELECT broker.publish('lim_t', '{"small": true}');
SELECT broker.alter_topic('lim_t', clear_max_message_size => true);
SELECT broker.publish('lim_t', jsonb_build_object('s', repeat('x', 2000)));
SELECT count(*) AS records FROM broker.read('lim_t', 0, 0);

SELECT broker.drop_topic('lim_t');
SELECT broker.drop_queue('lim');
DROP OWNED BY lim_producer, lim_granted;
DROP ROLE lim_producer, lim_granted;
