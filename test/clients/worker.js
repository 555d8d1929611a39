// A pgbroker worker in Node.js (node-postgres), as an application would
// write it.
//
// usage: node worker.js CONNINFO QUEUE NAME
//
// Waits for messages with CALL broker.claim_wait_json (the messages arrive
// as an array of objects: node-postgres decodes jsonb itself), handles each
// one (a row in table "handled") and acks it with its receipt in the same
// transaction, so that a message is handled exactly once.  Stops after 3
// seconds without work.  Unnamed queries only (no prepared statements), so
// it works behind PgBouncer in transaction mode; the CALL runs outside a
// transaction block, as a wait procedure must.
'use strict';
const { Client } = require('pg');

async function main() {
  const [conninfo, queue, name] = process.argv.slice(2);
  const client = new Client({ connectionString: conninfo });
  await client.connect();
  let idleSince = Date.now();
  let handled = 0;
  while (Date.now() - idleSince < 3000) {
    const res = await client.query(
      "CALL broker.claim_wait_json($1, 10, lease => '30 seconds', wait => '500 milliseconds')", [queue]);
    const messages = res.rows[0].messages || [];
    for (const m of messages) {
      await client.query('BEGIN');
      try {
        await client.query("INSERT INTO handled (kind, id, by, payload) VALUES ('q', $1, $2, $3)",
          [m.id, name, m.payload]);
        const ack = await client.query('SELECT broker.ack($1, $2, $3) AS acked', [queue, m.id, m.receipt]);
        if (!ack.rows[0].acked) throw new Error('lease lost');
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw e;
      }
    }
    if (messages.length) {
      handled += messages.length;
      idleSince = Date.now();
    }
  }
  console.log(`${name}: handled ${handled}`);
  await client.end();
}

main().catch((e) => { console.error(e); process.exit(1); });
