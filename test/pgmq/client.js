// PGMQ's JavaScript client (pgmq-js, from the npm registry) against
// pgbroker's pgmq, unchanged: every call it makes, with its results checked.
// Connects with PGHOST (a socket directory), PGPORT, PGUSER, PGDATABASE.
'use strict';
const assert = require('node:assert/strict');
const { Pgmq } = require('pgmq-js');

let checks = 0;
function check(what, fn) {
	fn();
	checks++;
	console.log(`ok - ${what}`);
}

async function main() {
	const pgmq = await Pgmq.new({
		host: process.env.PGHOST, port: Number(process.env.PGPORT),
		user: process.env.PGUSER, database: process.env.PGDATABASE,
		password: '', ssl: false, idleTimeoutMillis: 1000, max: 4,
	});	// runs CREATE EXTENSION IF NOT EXISTS pgmq CASCADE
	const q = 'js_queue';
	try {
		await pgmq.queue.create(q);
		await pgmq.queue.create(q);	// idempotent, as in PGMQ
		await pgmq.queue.createUnlogged('js_unlogged');
		const queues = await pgmq.queue.list();
		check('list', () => {
			const mine = queues.find((x) => x.name === q);
			assert.ok(mine && mine.isPartitioned === false && mine.isUnlogged === false);
			assert.ok(mine.createdAt instanceof Date && !isNaN(mine.createdAt));
			assert.ok(queues.find((x) => x.name === 'js_unlogged').isUnlogged);
		});

		const id1 = await pgmq.msg.send(q, { n: 1 });
		const id2 = await pgmq.msg.send(q, { n: 2 }, 0);
		const delayed = await pgmq.msg.send(q, { n: 'later' }, 3600);
		const batch = await pgmq.msg.sendBatch(q, [{ n: 3 }, { n: 4 }, { n: 5 }, { n: 6 }]);
		check('send and sendBatch return increasing ids', () => {
			assert.equal(typeof id1, 'number');
			assert.deepEqual([id2, delayed, ...batch], [id1 + 1, id1 + 2, id1 + 3, id1 + 4, id1 + 5, id1 + 6]);
		});

		const m1 = await pgmq.msg.read(q, 30);
		check('read: the first message, counted, invisible for vt seconds', () => {
			assert.equal(m1.msgId, id1);
			assert.deepEqual(m1.message, { n: 1 });
			assert.equal(m1.readCount, 1);
			assert.ok(m1.vt.getTime() > Date.now() + 25000);
			assert.ok(m1.enqueuedAt instanceof Date);
		});
		const several = await pgmq.msg.readBatch(q, 30, 2);
		check('readBatch: the next two, in order', () => {
			assert.deepEqual(several.map((m) => m.msgId), [id2, batch[0]]);
		});
		const popped = await pgmq.msg.pop(q);
		check('pop: the next one, removed', () => {
			assert.equal(popped.msgId, batch[1]);
			assert.deepEqual(popped.message, { n: 4 });
		});
		assert.equal(await pgmq.msg.archive(q, id1), true);
		assert.equal(await pgmq.msg.archive(q, id1), false);
		const archived = await pgmq.msg.archiveBatch(q, [id2, 999999]);
		check('archive and archiveBatch: those that were there', () => assert.deepEqual(archived, [id2]));
		assert.equal(await pgmq.msg.delete(q, batch[0]), true);
		assert.equal(await pgmq.msg.delete(q, batch[0]), false);
		const deleted = await pgmq.msg.deleteBatch(q, [batch[2], 999999]);
		check('delete and deleteBatch: those that were there', () => assert.deepEqual(deleted, [batch[2]]));

		const moved = await pgmq.msg.setVt(q, delayed, 0);
		check('setVt: a delayed message made visible now', () => {
			assert.equal(moved.msgId, delayed);
			assert.equal(moved.readCount, 0);
			assert.ok(moved.vt.getTime() <= Date.now() + 1000);
		});
		// (pgbroker reads in the order messages became visible, PGMQ by msg_id)
		const later = await pgmq.msg.readBatch(q, 30, 5);
		check('read after setVt', () => assert.deepEqual(later.map((m) => m.msgId).sort(), [delayed, batch[3]]));
		const none = await pgmq.msg.setVt(q, 999999, 10);
		check('setVt on a missing message: nothing', () => assert.equal(none, undefined));

		const metrics = await pgmq.queue.getMetrics(q);
		check('getMetrics', () => {
			assert.equal(metrics.queueName, q);
			assert.equal(metrics.queueLength, 2);	// batch[3] and the delayed one, both read
			assert.equal(metrics.totalMessages, batch[3]);
			assert.ok(metrics.scrapeTime instanceof Date);
			assert.ok(metrics.oldestMsgAgeSec >= 0 && metrics.newestMsgAgeSec >= 0);
		});
		const all = await pgmq.queue.getAllMetrics();
		check('getAllMetrics', () => {
			assert.deepEqual(all.map((m) => m.queueName).sort(), ['js_queue', 'js_unlogged']);
		});
		await pgmq.queue.purge(q);
		const empty = await pgmq.msg.read(q, 0);
		check('purge', () => assert.equal(empty, undefined));
		await pgmq.queue.detachArchive(q);
		await pgmq.queue.drop(q);
		await pgmq.queue.drop('js_unlogged');
		const left = await pgmq.queue.list();
		check('drop', () => assert.equal(left.length, 0));
	} finally {
		await pgmq.close();
	}
	console.log(`${checks} checks passed`);
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
