/*
 * fuzz_table.c - the table of the calls the fuzz driver makes.
 *
 * One row per public function (or view, or setting): its name in the
 * summary, its weight in the random draw, its signature (to find public
 * functions the driver does not call, and called ones that are not
 * installed), the statement, and for each parameter the classes of value
 * it takes:
 *
 * - normal: what a careful caller passes, as weighted alternatives (for
 *   example "NULL 80 times in 100, else one of these intervals");
 * - bad: for a row with hostility, the boundaries, NULLs and wrong types
 *   passed when the call's hostility picks this parameter;
 * - alone: for a row whose values come from a record this worker polled
 *   (subject SUBJ_POLLED), what is passed when there is no such record.
 *
 * A class is a list of literal values (L), or a generator of fuzz_args.c
 * in its careful (GEN) or hostile (BAD) form.  fuzz_calls.c makes a call
 * from a row; the row's hooks there remember what the call returned and
 * check what it must never do.  A row's hostility is the number of
 * arguments a hand-written call would draw the bad one from: most calls
 * are careful, a third have one bad argument, the rest many.
 *
 * A row's stranger rule says what its call may do when it succeeds for a
 * role granted nothing (--stranger, fuzz_stranger.c): only on a queue
 * (S_QUEUE) or topic (S_TOPIC) that does not exist, named by its first
 * parameter (or by stranger_arg), or else returning no rows
 * (S_QUEUE_OR_EMPTY); only showing nothing (S_NOTHING); only saying that
 * the stranger holds no privilege (S_ASK); only for itself or a role it
 * is a member of (S_SELF); anything (S_FREE); never (S_NEVER, the
 * default: creating, granting, maintenance).
 */
#include <stddef.h>

#include "fuzz.h"

/* classes: literals, and generators in their careful and hostile forms */
#define L(...)	{K_LIST, false, (const char *const[]) {__VA_ARGS__}, \
				 sizeof((const char *const[]) {__VA_ARGS__}) / sizeof(const char *)}
#define GEN(k)	{K_##k, false, NULL, 0}
#define BAD(k)	{K_##k, true, NULL, 0}

/* alternatives (no macro here passes a class on: a class holds commas) */
#define W(w, c)			{w, c}
#define ALTS(...)		{__VA_ARGS__}
#define ONE(c)			{{1, c}}
#define PCT(p, a, b)	{{p, a}, {100 - (p), b}}

/* parameters met in many rows */
#define NAME			{ONE(GEN(NAME))}
#define GROUP			{ONE(GEN(GROUP))}
#define COUNT			{ONE(GEN(COUNT)), ONE(BAD(COUNT))}
#define WAIT			{ONE(GEN(WAIT)), ONE(BAD(WAIT))}
#define FILTER			{ONE(GEN(FILTER)), ONE(BAD(FILTER))}
#define HEADERS			{ONE(GEN(HEADERS)), ONE(BAD(HEADERS))}
#define PRIORITY		{ONE(GEN(PRIORITY)), ONE(BAD(PRIORITY))}
#define PARTITION		{ONE(GEN(PARTITION)), ONE(BAD(PARTITION))}
#define KEYS			{ONE(GEN(KEYS)), ONE(BAD(KEYS))}
#define SOME_KEY		{PCT(80, L(NULL), GEN(KEY)), PCT(50, GEN(LONG_KEY), BAD(KEY))}
#define MAYBE_BAD_BOOL(p)	{PCT(p, BAD(BOOL), GEN(BOOL))}
#define NULL_OR(p, ...)	PCT(p, L(NULL), L(__VA_ARGS__))
#define POLLED(k, alone_alts)	{ONE(GEN(k)), .alone = alone_alts}

/*
 * A queue's or topic's own message size limit: mostly left as it is, else
 * one at or below the server's default; hostile: below 1, above the
 * server's limit, not a number.
 */
#define MAX_MESSAGE_SIZE	{NULL_OR(85, "100", "1024", "65536", "1048576", "1048576"), \
							 ONE(L(NULL, "0", "-1", "1", "1048577", "1073741824", "2147483647", "x", ""))}

/*
 * The privilege calls name a queue, a topic, or (create) neither: the
 * queue parameter comes first, the topic and the privilege paired with
 * it, so that each takes the same alternative: a queue and a privilege
 * on it, a topic and one, or neither and create.  A bad one of them
 * makes the rest bad too: both named, a name pgbroker refuses, a
 * privilege it does not know.
 */
#define PRIV_QUEUE		{ALTS(W(45, GEN(NAME)), W(40, L(NULL)), W(15, L(NULL))), ONE(GEN(BAD_NAME))}
#define PRIV_TOPIC		{ALTS(W(45, L(NULL)), W(40, GEN(NAME)), W(15, L(NULL))), \
						 PCT(50, GEN(NAME), GEN(BAD_NAME)), .flags = P_PAIRED}
#define PRIVILEGE		{ALTS(W(1, L("send", "consume", "browse", "manage")), \
							  W(1, L("send", "consume", "browse", "manage")), W(1, L("create"))), \
						 ONE(L(NULL, "", "SEND", "select", "monitor", "all", "create", "send ", "usage", \
							   "send,consume")), .flags = P_PAIRED}

#define DEFAULT_PRIVILEGE	{ONE(L("send", "consume", "browse", "manage")), \
							 ONE(L(NULL, "", "create", "SEND", "monitor", "all", "send,consume"))}

/*
 * Roles: the fuzz roles, the roles they are members of, built-in ones;
 * hostile: names of no role (42704 when the argument is parsed), quoting,
 * and OIDs, which regrole takes unchecked ("-" is the invalid OID).  No
 * other spelling names fuzz_stranger or its roles (fuzz_stranger.c
 * compares the names as written).
 */
#define ROLES			L("fuzz_admin", "fuzz_producer", "fuzz_consumer", "fuzz_nobody", "fuzz_stranger", \
						  "pgbroker_producer", "pgbroker_consumer", "pgbroker_admin", "pg_monitor", \
						  "pg_database_owner")
#define BAD_ROLES		L(NULL, "", "fuzz_no_such_role", "public", "\"fuzz_admin\"", "FUZZ_ADMIN", \
						  "fuzz_admin; DROP ROLE fuzz_admin", "fuzz_admin ", "-", "0", "10", "4294967295")

const CallSpec calls[] = {
	/* ---- queues ---- */
	{F_CREATE_QUEUE, "create_queue", 5,
		"broker.create_queue(text,integer,interval,interval,interval,interval,interval,text,bigint,text,boolean)",
		"SELECT broker.create_queue($1, $2::int, $3::interval, $4::interval, $5::interval,"
		" $6::interval, $7::interval, $8, $9::bigint, $10, $11::boolean)",
		.hostile = 11, .after = after_name,
		.params = {
			{ONE(GEN(NAME)), ONE(GEN(BAD_NAME))},
			{ONE(L("1", "2", "5", "5")), ONE(L(NULL, "0", "1001", "-1", "1000"))},
			{ONE(L("1 s", "2 s", "30 s", "7 days")), ONE(GEN(BAD_INTERVAL))},
			{ONE(L("0", "0", "1 min")), ONE(GEN(BAD_INTERVAL))},
			{ONE(L("1 s", "10 ms")), ONE(GEN(BAD_INTERVAL))},
			{ONE(L("1 hour", "1 s")), ONE(GEN(BAD_INTERVAL))},
			{ONE(L(NULL, NULL, NULL, "2 s", "1 min")), ONE(GEN(BAD_INTERVAL))},
			{ONE(L("dead_letter", "drop")), ONE(L(NULL, "explode", "", "DROP"))},
			{ONE(L(NULL, NULL, NULL, "50", "1")), ONE(GEN(BAD_BIGINT))},
			{ONE(L("reject", "drop_oldest")), ONE(L(NULL, "spill", "REJECT", ""))},
			{ONE(GEN(BOOL)), ONE(BAD(BOOL))}}},
	{F_ALTER_QUEUE, "alter_queue", 2,
		"broker.alter_queue(text,integer,interval,interval,interval,interval,interval,text,bigint,text,boolean,boolean,integer,boolean)",
		"SELECT broker.alter_queue($1, $2::int, $3::interval, $4::interval, $5::interval,"
		" $6::interval, $7::interval, $8, $9::bigint, $10, $11::boolean, $12::boolean,"
		" $13::int, $14::boolean)",
		.stranger = S_QUEUE, .hostile = 14,
		.params = {
			NAME,
			{NULL_OR(70, "3"), ONE(GEN(BAD_INT))},
			{NULL_OR(80, "1 s", "5 s", "1 min"), ONE(GEN(BAD_INTERVAL))},
			{NULL_OR(80, "1 s", "5 s", "1 min"), ONE(GEN(BAD_INTERVAL))},
			{NULL_OR(80, "1 s", "5 s", "1 min"), ONE(GEN(BAD_INTERVAL))},
			{NULL_OR(80, "1 s", "5 s", "1 min"), ONE(GEN(BAD_INTERVAL))},
			{NULL_OR(80, "1 s", "5 s", "1 min"), ONE(GEN(BAD_INTERVAL))},
			{NULL_OR(80, "drop"), ONE(L("x", ""))},
			{NULL_OR(80, "100"), ONE(GEN(BAD_BIGINT))},
			{NULL_OR(80, "drop_oldest"), ONE(L("x", ""))},
			{PCT(85, L("f"), L("t")), ONE(BAD(BOOL))},
			{PCT(85, L("f"), L("t")), ONE(BAD(BOOL))},
			MAX_MESSAGE_SIZE,
			{PCT(85, L("f"), L("t")), ONE(BAD(BOOL))}}},
	{F_ALTER_QUEUE_NOTIFY, "alter_queue(notify)", 1, "broker.alter_queue(text,boolean)",
		"SELECT broker.alter_queue($1, notify => $2::boolean)",
		.stranger = S_QUEUE, .params = {NAME, MAYBE_BAD_BOOL(20)}},
	{F_DROP_QUEUE, "drop_queue", 2, "broker.drop_queue(text,boolean)",
		"SELECT broker.drop_queue($1, $2::boolean)",
		.stranger = S_QUEUE, .params = {NAME, MAYBE_BAD_BOOL(15)}},
	{F_PURGE, "purge", 1, "broker.purge(text)",
		"SELECT broker.purge($1)",
		.stranger = S_QUEUE, .params = {NAME}},
	{F_SEND, "send", 8, "broker.send(text,jsonb,jsonb,interval,integer,text,text)",
		"SELECT broker.send($1, $2::jsonb, $3::jsonb, $4::interval, $5::int, $6, $7)",
		.stranger = S_QUEUE, .hostile = 7, .after = after_send,
		.params = {
			NAME,
			{ONE(GEN(PAYLOAD)), ONE(BAD(PAYLOAD))},
			HEADERS,
			{ONE(L("0", "0", "0", "0", "10 ms", "1 s", "1 hour")), ONE(GEN(BAD_INTERVAL))},
			PRIORITY,
			SOME_KEY,
			SOME_KEY}},
	{F_SEND_BYTES, "send_bytes", 3, "broker.send_bytes(text,bytea,jsonb,interval,integer,text,text)",
		"SELECT broker.send_bytes($1, $2::bytea, $3::jsonb, $4::interval, $5::int, $6, $7)",
		.stranger = S_QUEUE, .hostile = 7, .after = after_send,
		.params = {
			NAME,
			{ONE(GEN(BYTES)), PCT(20, L(NULL), BAD(BYTES))},
			HEADERS,
			{ONE(L("0", "0", "0", "0", "10 ms", "1 s", "1 hour")), ONE(GEN(BAD_INTERVAL))},
			PRIORITY,
			SOME_KEY,
			SOME_KEY}},
	{F_SEND_BATCH, "send_batch", 4, "broker.send_batch(text,jsonb[],jsonb,interval,integer,text[],text[])",
		"SELECT * FROM broker.send_batch($1, $2::jsonb[], $3::jsonb, $4::interval, $5::int, $6::text[], $7::text[])",
		.stranger = S_QUEUE_OR_EMPTY, .hostile = 7, .after = after_send_batch,
		.params = {
			NAME,
			{ONE(GEN(PAYLOADS)), ONE(BAD(PAYLOADS))},
			HEADERS,
			{ONE(L("0", "0", "0", "100 ms")), ONE(GEN(BAD_INTERVAL))},
			PRIORITY,
			KEYS,
			KEYS}},
	{F_SEND_BATCH_BYTES, "send_batch_bytes", 2, "broker.send_batch_bytes(text,bytea[],jsonb,interval,integer,text[],text[])",
		"SELECT * FROM broker.send_batch_bytes($1, $2::bytea[], $3::jsonb, $4::interval, $5::int, $6::text[], $7::text[])",
		.stranger = S_QUEUE_OR_EMPTY, .hostile = 7, .after = after_send_batch,
		.params = {
			NAME,
			{ONE(GEN(BYTEAS)), ONE(BAD(BYTEAS))},
			HEADERS,
			{ONE(L("0", "0", "0", "100 ms")), ONE(GEN(BAD_INTERVAL))},
			PRIORITY,
			KEYS,
			KEYS}},
	{F_CLAIM, "claim", 8, "broker.claim(text,integer,interval,interval,jsonb)",
		"SELECT id, receipt FROM broker.claim($1, $2::int, $3::interval, $4::interval, $5::jsonb)",
		.stranger = S_QUEUE, .hostile = 5, .after = after_claim,
		.params = {
			NAME,
			COUNT,
			{ONE(L(NULL, NULL, "100 ms", "1 s", "30 s")), ONE(GEN(BAD_INTERVAL))},
			WAIT,
			FILTER}},
	{F_ACK, "ack(id)", 5, "broker.ack(text,bigint,uuid)",
		"SELECT broker.ack($1, $2::bigint, $3::uuid)",
		.stranger = S_QUEUE, .subject = SUBJ_MESSAGE,
		.params = {
			{PCT(5, GEN(NAME), GEN(MSG_QUEUE))},
			{PCT(5, GEN(BAD_BIGINT), GEN(MSG_ID))},
			{PCT(10, L(NULL), GEN(MSG_RECEIPT))}}},
	{F_ACK_IDS, "ack(ids)", 3, "broker.ack(text,bigint[])",
		"SELECT broker.ack($1, $2::bigint[])",
		.stranger = S_QUEUE, .subject = SUBJ_MESSAGES,
		.params = {
			{PCT(5, GEN(NAME), GEN(MSG_QUEUE))},
			{PCT(15, L(NULL, "{}", "{NULL}", "{{1},{2}}", "[5:6]={1,2}", "{1,1,1}", "{x}"), GEN(MSG_IDS))}}},
	{F_NACK, "nack", 4, "broker.nack(text,bigint,uuid,interval,text)",
		"SELECT broker.nack($1, $2::bigint, $3::uuid, $4::interval, $5)",
		.stranger = S_QUEUE, .hostile = 3, .subject = SUBJ_MESSAGE,
		.params = {
			{ONE(GEN(MSG_QUEUE))},
			{ONE(GEN(MSG_ID)), ONE(GEN(BAD_BIGINT))},
			{ONE(GEN(MSG_RECEIPT))},
			{ONE(L(NULL, NULL, "0", "10 ms", "1 min")), ONE(GEN(BAD_INTERVAL))},
			{ONE(L(NULL, "boom", "quote ' and \" and ; and \xe2\x82\xac")),
			PCT(50, GEN(BIG_REASON), L(""))}}},
	{F_EXTEND, "extend", 3, "broker.extend(text,bigint,uuid,interval)",
		"SELECT broker.extend($1, $2::bigint, $3::uuid, $4::interval)",
		.stranger = S_QUEUE, .subject = SUBJ_MESSAGE,
		.params = {
			{ONE(GEN(MSG_QUEUE))},
			{ONE(GEN(MSG_ID))},
			{ONE(GEN(MSG_RECEIPT))},
			{PCT(40, GEN(BAD_INTERVAL), L("1 s", "30 s", "7 days"))}}},
	{F_PEEK, "peek", 3, "broker.peek(text,integer,jsonb)",
		"SELECT id, state FROM broker.peek($1, $2::int, $3::jsonb)",
		.stranger = S_QUEUE, .hostile = 3, .after = after_peek,
		.params = {NAME, COUNT, FILTER}},
	{F_CANCEL, "cancel", 2, "broker.cancel(text,bigint)",
		"SELECT broker.cancel($1, $2::bigint)",
		.stranger = S_QUEUE, .subject = SUBJ_MESSAGE_ID,
		.params = {{ONE(GEN(MSG_QUEUE))}, {ONE(GEN(MSG_ID))}}},
	{F_DEAD_LETTERS, "dead_letters", 2, "broker.dead_letters(text,integer)",
		"SELECT id, reason FROM broker.dead_letters($1, $2::int)",
		.stranger = S_QUEUE, .params = {NAME, {PCT(30, BAD(COUNT), GEN(COUNT))}}},
	{F_REDRIVE, "redrive", 2, "broker.redrive(text,bigint[])",
		"SELECT broker.redrive($1, $2::bigint[])",
		.stranger = S_QUEUE, .subject = SUBJ_MESSAGE_ID,
		.params = {
			{ONE(GEN(MSG_QUEUE))},
			{ALTS(W(400, L(NULL)), W(420, GEN(MSG_ID_SET)),
				  W(180, L("{}", "{NULL}", "{{1}}", "{-1,0}", "{9223372036854775807}")))}}},
	{F_MAINTAIN, "maintain", 1, "broker.maintain()",
		"SELECT * FROM broker.maintain()"},
	{F_QUEUE_STATS, "queue_stats", 1, "broker.queue_stats(integer)",
		"SELECT * FROM broker.queue_stats($1::int)",
		.stranger = S_NOTHING, .params = {{PCT(70, GEN(STATS_ID), GEN(BAD_INT))}}},
	{F_CLAIM_WAIT, "claim_wait", 1, "broker.claim_wait(text,integer,interval,interval,jsonb,broker.message[])",
		"CALL broker.claim_wait($1, $2::int, $3::interval, $4::interval, $5::jsonb, NULL)",
		.stranger = S_QUEUE, .hostile = 5,
		.params = {
			NAME,
			COUNT,
			{ONE(L(NULL, "1 s", "30 s")), ONE(GEN(BAD_INTERVAL))},
			WAIT,
			FILTER}},
	{F_V_QUEUES, "view queues", 1, "broker.queues",
		"SELECT * FROM broker.queues",
		.stranger = S_NOTHING},
	/* ---- topics ---- */
	{F_CREATE_TOPIC, "create_topic", 5,
		"broker.create_topic(text,integer,interval,bigint,boolean,interval,bigint,interval,interval,boolean,text[])",
		"SELECT broker.create_topic($1, $2::int, $3::interval, $4::bigint, $5::boolean,"
		" $6::interval, $7::bigint, $8::interval, $9::interval, $10::boolean, $11::text[])",
		.hostile = 11, .before = before_create_topic, .after = after_name,
		.params = {
			{ONE(GEN(NAME)), ONE(GEN(BAD_NAME))},
			{ONE(L("1", "2", "3", "8")), ONE(GEN(BAD_INT))},
			{ONE(L(NULL, NULL, NULL, "1 s", "1 hour")), ONE(GEN(BAD_INTERVAL))},
			{ONE(L(NULL, NULL, NULL, "1048576", "100000000")), ONE(GEN(BAD_BIGINT))},
			{PCT(85, L("f"), L("t")), ONE(BAD(BOOL))},
			{ONE(L("1 hour", "1 hour", "1 s")), ONE(GEN(BAD_INTERVAL))},
			{ONE(L("268435456", "1048576")), ONE(GEN(BAD_BIGINT))},
			{ONE(L("5 min", "0", "1 s")), ONE(GEN(BAD_INTERVAL))},
			{ONE(L("1 day", "0")), ONE(GEN(BAD_INTERVAL))},
			{ONE(GEN(BOOL)), ONE(BAD(BOOL))},
			{NULL_OR(85, "{g1}"), ONE(L("{}", "{NULL}", "{\"\"}", "{{g1},{g2}}"))}}},
	{F_ALTER_TOPIC, "alter_topic", 2,
		"broker.alter_topic(text,integer,interval,bigint,boolean,interval,bigint,interval,interval,boolean,boolean,text[],integer,boolean)",
		"SELECT broker.alter_topic($1, $2::int, $3::interval, $4::bigint, $5::boolean,"
		" $6::interval, $7::bigint, $8::interval, $9::interval, $10::boolean, $11::boolean, $12::text[],"
		" $13::int, $14::boolean)",
		.stranger = S_TOPIC, .hostile = 14, .before = before_alter_topic,
		.params = {
			NAME,
			{NULL_OR(70, "2", "4", "9"), ONE(GEN(BAD_INT))},
			{NULL_OR(80, "1 s"), ONE(GEN(BAD_INTERVAL))},
			{NULL_OR(80, "1048576"), ONE(GEN(BAD_BIGINT))},
			{NULL_OR(90, "t"), ONE(BAD(BOOL))},
			{NULL_OR(80, "1 s"), ONE(GEN(BAD_INTERVAL))},
			{NULL_OR(80, "1048576"), ONE(GEN(BAD_BIGINT))},
			{NULL_OR(80, "0"), ONE(GEN(BAD_INTERVAL))},
			{NULL_OR(80, "0"), ONE(GEN(BAD_INTERVAL))},
			{PCT(85, L("f"), L("t")), ONE(BAD(BOOL))},
			{PCT(85, L("f"), L("t")), ONE(BAD(BOOL))},
			{NULL_OR(90, "{g2}"), ONE(L("{}", "{NULL}", "{{g1}}"))},
			MAX_MESSAGE_SIZE,
			{PCT(85, L("f"), L("t")), ONE(BAD(BOOL))}}},
	{F_ALTER_TOPIC_NOTIFY, "alter_topic(notify)", 1, "broker.alter_topic(text,boolean)",
		"SELECT broker.alter_topic($1, notify => $2::boolean)",
		.stranger = S_TOPIC, .params = {NAME, MAYBE_BAD_BOOL(20)}},
	{F_DROP_TOPIC, "drop_topic", 2, "broker.drop_topic(text,boolean)",
		"SELECT broker.drop_topic($1, $2::boolean)",
		.stranger = S_TOPIC, .params = {NAME, MAYBE_BAD_BOOL(15)}},
	{F_PUBLISH, "publish", 7, "broker.publish(text,jsonb,text,jsonb,integer,text)",
		"SELECT broker.publish($1, $2::jsonb, $3, $4::jsonb, $5::int, $6)",
		.stranger = S_TOPIC, .hostile = 6, .after = after_publish,
		.params = {
			NAME,
			{ONE(GEN(PAYLOAD)), ONE(BAD(PAYLOAD))},
			{ONE(GEN(KEY)), PCT(30, GEN(LONG_KEY), BAD(KEY))},
			HEADERS,
			PARTITION,
			{PCT(85, L(NULL), GEN(KEY)), PCT(50, GEN(LONG_KEY), BAD(KEY))}}},
	{F_PUBLISH_BYTES, "publish_bytes", 3, "broker.publish_bytes(text,bytea,text,jsonb,integer,text)",
		"SELECT broker.publish_bytes($1, $2::bytea, $3, $4::jsonb, $5::int, $6)",
		.stranger = S_TOPIC, .hostile = 6, .after = after_publish,
		.params = {
			NAME,
			{ONE(GEN(BYTES)), PCT(25, L(NULL), BAD(BYTES))},
			{ONE(GEN(KEY)), PCT(30, GEN(LONG_KEY), BAD(KEY))},
			HEADERS,
			PARTITION,
			{PCT(85, L(NULL), GEN(KEY)), PCT(50, GEN(LONG_KEY), BAD(KEY))}}},
	{F_PUBLISH_BATCH, "publish_batch", 4, "broker.publish_batch(text,jsonb[],text[],jsonb,integer)",
		"SELECT broker.publish_batch($1, $2::jsonb[], $3::text[], $4::jsonb, $5::int)",
		.stranger = S_TOPIC, .hostile = 5, .after = after_publish,
		.params = {NAME, {ONE(GEN(PAYLOADS)), ONE(BAD(PAYLOADS))}, KEYS, HEADERS, PARTITION}},
	{F_PUBLISH_BATCH_BYTES, "publish_batch_bytes", 2, "broker.publish_batch_bytes(text,bytea[],text[],jsonb,integer)",
		"SELECT broker.publish_batch_bytes($1, $2::bytea[], $3::text[], $4::jsonb, $5::int)",
		.stranger = S_TOPIC, .hostile = 5, .after = after_publish,
		.params = {NAME, {ONE(GEN(BYTEAS)), ONE(BAD(BYTEAS))}, KEYS, HEADERS, PARTITION}},
	{F_PARTITION_FOR, "partition_for", 2, "broker.partition_for(text,text)",
		"SELECT broker.partition_for($1, $2)",
		.stranger = S_TOPIC, .params = {NAME, {ALTS(W(70, GEN(KEY)), W(15, GEN(LONG_KEY)), W(15, BAD(KEY)))}}},
	{F_READ, "read", 5, "broker.read(text,integer,bigint,integer)",
		"SELECT partition, offset_id FROM broker.read($1, $2::int, $3::bigint, $4::int)",
		.stranger = S_TOPIC, .hostile = 4, .after = after_read,
		.params = {
			NAME,
			{ONE(L("0", "0", "1", "2")), ONE(BAD(PARTITION))},
			{ONE(GEN(OFFSET)), ONE(BAD(OFFSET))},
			COUNT}},
	{F_LATEST, "latest_offset", 2, "broker.latest_offset(text,integer)",
		"SELECT broker.latest_offset($1, $2::int)",
		.stranger = S_TOPIC, .params = {NAME, {PCT(75, L("0", "1"), BAD(PARTITION))}}},
	{F_EARLIEST, "earliest_offset", 2, "broker.earliest_offset(text,integer)",
		"SELECT broker.earliest_offset($1, $2::int)",
		.stranger = S_TOPIC, .params = {NAME, {PCT(75, L("0", "1"), BAD(PARTITION))}}},
	{F_OFFSET_FOR_TIME, "offset_for_time", 2, "broker.offset_for_time(text,integer,timestamp with time zone)",
		"SELECT broker.offset_for_time($1, $2::int, $3::timestamptz)",
		.stranger = S_TOPIC, .params = {
			NAME,
			{PCT(75, L("0", "1"), BAD(PARTITION))},
			{PCT(30, L("now"), GEN(BAD_TIMESTAMP))}}},
	{F_TOPIC_PARTITIONS, "topic_partitions", 2, "broker.topic_partitions(text)",
		"SELECT * FROM broker.topic_partitions($1)",
		.stranger = S_TOPIC, .params = {NAME}},
	{F_TOPIC_STATS, "topic_stats", 1, "broker.topic_stats(integer)",
		"SELECT * FROM broker.topic_stats($1::int)",
		.stranger = S_NOTHING, .params = {{PCT(70, GEN(STATS_ID), GEN(BAD_INT))}}},
	{F_MAINTAIN_TOPICS, "maintain_topics", 1, "broker.maintain_topics()",
		"SELECT * FROM broker.maintain_topics()"},
	{F_V_TOPICS, "view topics", 1, "broker.topics",
		"SELECT * FROM broker.topics",
		.stranger = S_NOTHING},
	/* ---- consumer groups ---- */
	{F_CREATE_GROUP, "create_group", 3, "broker.create_group(text,text,text)",
		"SELECT broker.create_group($1, $2, $3)",
		.stranger = S_TOPIC, .after = after_group_name,
		.params = {
			NAME,
			GROUP,
			{PCT(80, L("latest", "earliest"), L(NULL, "", "middle", "LATEST", "0", "2000-01-01"))}}},
	{F_DELETE_GROUP, "delete_group", 1, "broker.delete_group(text,text,boolean)",
		"SELECT broker.delete_group($1, $2, $3::boolean)",
		.stranger = S_TOPIC, .params = {NAME, GROUP, MAYBE_BAD_BOOL(20)}},
	{F_COMMIT_OFFSET, "commit(offset)", 4, "broker.commit(text,text,integer,bigint,text)",
		"SELECT broker.commit($1, $2, $3::int, $4::bigint, $5)",
		.stranger = S_TOPIC, .subject = SUBJ_POLLED, .subject_pct = 85,
		.params = {
			POLLED(POLLED_TOPIC, ONE(GEN(NAME))),
			POLLED(POLLED_GROUP, ONE(GEN(GROUP))),
			POLLED(POLLED_PARTITION, PCT(50, BAD(PARTITION), GEN(PARTITION))),
			{PCT(85, GEN(POLLED_NEXT), BAD(OFFSET)), .alone = PCT(50, BAD(OFFSET), GEN(OFFSET))},
			{PCT(90, GEN(POLLED_CONSUMER), GEN(CONSUMER)), .alone = PCT(30, L(NULL), GEN(CONSUMER))}}},
	{F_COMMIT_RECORDS, "commit(records)", 3, "broker.commit(text,text,broker.record[],text)",
		"SELECT broker.commit($1, $2, $3::broker.record[], $4)",
		.stranger = S_TOPIC, .subject = SUBJ_POLLED, .subject_pct = 100,
		.params = {
			POLLED(POLLED_TOPIC, ONE(GEN(NAME))),
			POLLED(POLLED_GROUP, ONE(GEN(GROUP))),
			{PCT(10, L(NULL, "{}", "{NULL}", "{\"(,,,,,,)\"}", "{{\"(0,1,,,,,)\"}}", "{\"(0,1)\"}"),
				 GEN(RECORDS))},
			{ALTS(W(850, GEN(POLLED_CONSUMER)), W(45, L(NULL)), W(105, GEN(CONSUMER))),
			.alone = PCT(30, L(NULL), GEN(CONSUMER))}}},
	{F_COMMIT_ALL, "commit(all)", 2, "broker.commit(text,text,text)",
		"SELECT broker.commit($1, $2, $3::text)",
		.stranger = S_TOPIC, .subject = SUBJ_POLLED, .subject_pct = 100,
		.params = {
			POLLED(POLLED_TOPIC, ONE(GEN(NAME))),
			POLLED(POLLED_GROUP, ONE(GEN(GROUP))),
			{ALTS(W(850, GEN(POLLED_CONSUMER)), W(30, L(NULL)), W(120, GEN(CONSUMER))),
			.alone = PCT(20, L(NULL), GEN(CONSUMER))}}},
	{F_EXTEND_LEASE, "extend_lease", 2, "broker.extend_lease(text,text,text,interval)",
		"SELECT broker.extend_lease($1, $2, $3, $4::interval)",
		.stranger = S_TOPIC, .subject = SUBJ_POLLED, .subject_pct = 100,
		.params = {
			POLLED(POLLED_TOPIC, ONE(GEN(NAME))),
			POLLED(POLLED_GROUP, ONE(GEN(GROUP))),
			{PCT(80, GEN(POLLED_CONSUMER_OR_ANY), GEN(CONSUMER)), .alone = ONE(GEN(CONSUMER))},
			{PCT(60, L("1 s", "30 s", "1 day"), GEN(BAD_INTERVAL))}}},
	{F_LEAVE, "leave", 1, "broker.leave(text,text,text)",
		"SELECT broker.leave($1, $2, $3)",
		.stranger = S_TOPIC, .subject = SUBJ_POLLED, .subject_pct = 100,
		.params = {
			POLLED(POLLED_TOPIC, ONE(GEN(NAME))),
			POLLED(POLLED_GROUP, ONE(GEN(GROUP))),
			{PCT(80, GEN(POLLED_CONSUMER_OR_ANY), GEN(CONSUMER)), .alone = ONE(GEN(CONSUMER))}}},
	{F_SEEK_TEXT, "seek(text)", 2, "broker.seek(text,text,text,integer)",
		"SELECT broker.seek($1, $2, $3::text, $4::int)",
		.stranger = S_TOPIC, .params = {
			NAME,
			GROUP,
			{PCT(50, L("earliest", "latest", "0", "3"),
				 L(NULL, "", "EARLIEST", " 5 ", "-1", "9223372036854775807",
				   "99999999999999999999", "infinity", "-infinity", "now", "2000-01-01",
				   "294277-01-01", "garbage", "1e3", "earliest; DROP TABLE x"))},
			{PCT(20, BAD(PARTITION), GEN(PARTITION))}}},
	{F_SEEK_OFFSET, "seek(bigint)", 2, "broker.seek(text,text,bigint,integer)",
		"SELECT broker.seek($1, $2, $3::bigint, $4::int)",
		.stranger = S_TOPIC, .params = {
			NAME,
			GROUP,
			{PCT(50, L("0", "1", "10"), GEN(BAD_BIGINT))},
			{PCT(20, BAD(PARTITION), GEN(PARTITION))}}},
	{F_SEEK_TIME, "seek(timestamptz)", 2, "broker.seek(text,text,timestamp with time zone,integer)",
		"SELECT broker.seek($1, $2, $3::timestamptz, $4::int)",
		.stranger = S_TOPIC, .params = {
			NAME,
			GROUP,
			{PCT(30, L("now"), GEN(BAD_TIMESTAMP))},
			{PCT(20, BAD(PARTITION), GEN(PARTITION))}}},
	{F_POLL, "poll", 7, "broker.poll(text,text,integer,interval,text,interval)",
		"SELECT partition, offset_id FROM broker.poll($1, $2, $3::int, $4::interval, $5, $6::interval)",
		.stranger = S_TOPIC, .hostile = 6, .after = after_poll,
		.params = {
			NAME,
			{ONE(GEN(GROUP)), ONE(GEN(BAD_NAME)), .flags = P_DRAW_NORMAL},
			COUNT,
			WAIT,
			/* consumer and lease: both or neither, unless bad */
			{NULL_OR(50, "c1", "c2", "c3"), ONE(GEN(CONSUMER))},
			{NULL_OR(50, "1 s", "2 s", "30 s"), ONE(GEN(BAD_INTERVAL)), .flags = P_PAIRED}}},
	{F_POLL_WAIT, "poll_wait", 1, "broker.poll_wait(text,text,integer,interval,text,interval,broker.record[])",
		"CALL broker.poll_wait($1, $2, $3::int, $4::interval, $5, $6::interval, NULL)",
		.stranger = S_TOPIC, .hostile = 6,
		.params = {
			NAME,
			GROUP,
			COUNT,
			WAIT,
			{ONE(L("c1")), ONE(GEN(CONSUMER))},
			{ONE(L("1 s")), ONE(GEN(BAD_INTERVAL))}}},
	{F_V_LAG, "view consumer_lag", 1, "broker.consumer_lag",
		"SELECT * FROM broker.consumer_lag",
		.stranger = S_NOTHING},
	/* ---- privileges: parameters queue, topic, privilege, role ---- */
	{F_GRANT, "grant", 2, "broker.\"grant\"(text,regrole,text,text)",
		"SELECT broker.grant($3, $4::regrole, queue => $1, topic => $2)",
		.hostile = 4,
		.params = {PRIV_QUEUE, PRIV_TOPIC, PRIVILEGE, {ONE(ROLES), ONE(BAD_ROLES)}}},
	{F_REVOKE, "revoke", 2, "broker.revoke(text,regrole,text,text)",
		"SELECT broker.revoke($3, $4::regrole, queue => $1, topic => $2)",
		.hostile = 4,
		.params = {PRIV_QUEUE, PRIV_TOPIC, PRIVILEGE, {ONE(ROLES), ONE(BAD_ROLES)}}},
	{F_HAS_PRIVILEGE, "has_privilege", 2, "broker.has_privilege(regrole,text,text,text)",
		"SELECT broker.has_privilege($4::regrole, $3, queue => $1, topic => $2)",
		.hostile = 4, .stranger = S_ASK, .stranger_arg = 3,
		.params = {PRIV_QUEUE, PRIV_TOPIC, PRIVILEGE, {PCT(15, L(NULL), ROLES), ONE(BAD_ROLES)}}},
	{F_V_PRIVILEGES, "view privileges", 1, "broker.privileges",
		"SELECT * FROM broker.privileges",
		.stranger = S_NOTHING},
	/* default privileges: privilege, grantee, creator (NULL: the caller) */
	{F_GRANT_DEFAULT, "grant_default", 1, "broker.grant_default(text,regrole,regrole)",
		"SELECT broker.grant_default($1, $2::regrole, $3::regrole)",
		.hostile = 3, .stranger = S_SELF, .stranger_arg = 2,
		.params = {DEFAULT_PRIVILEGE, {ONE(ROLES), ONE(BAD_ROLES)}, {PCT(60, L(NULL), ROLES), ONE(BAD_ROLES)}}},
	{F_REVOKE_DEFAULT, "revoke_default", 1, "broker.revoke_default(text,regrole,regrole)",
		"SELECT broker.revoke_default($1, $2::regrole, $3::regrole)",
		.hostile = 3, .stranger = S_SELF, .stranger_arg = 2,
		.params = {DEFAULT_PRIVILEGE, {ONE(ROLES), ONE(BAD_ROLES)}, {PCT(60, L(NULL), ROLES), ONE(BAD_ROLES)}}},
	{F_V_DEFAULT_PRIVILEGES, "view default_privileges", 1, "broker.default_privileges",
		"SELECT * FROM broker.default_privileges",
		.stranger = S_FREE},

	/* ---- settings: one draw in three the second form ---- */
	{F_SET, "SET (session)", 1, NULL,
		"SELECT set_config('pgbroker.max_message_size', $1, false)",
		.next_pct = 30, .no_cancel = true, .stranger = S_FREE, .after = after_set_size,
		.params = {{ONE(L("1kB", "4kB", "64kB", "1MB", "1MB", "512MB", "1000", "1GB", "0", "x"))}}},
	{F_SET, "SET (session)", 0, NULL,
		"SELECT set_config('pgbroker.resume_threshold', $1, false)",
		.no_cancel = true, .stranger = S_FREE,
		.params = {{ONE(L("0", "1", "10000", "10001", "-1"))}}},
};

const int	ncallspecs = lengthof(calls);
