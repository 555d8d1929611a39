#!/usr/bin/python3
"""A pgbroker worker in Python (psycopg 3), as an application would write it.

usage: worker.py CONNINFO queue QUEUE NAME
       worker.py CONNINFO topic TOPIC GROUP NAME
       worker.py CONNINFO leased TOPIC GROUP NAME

queue: waits for messages with CALL broker.claim_wait_json (no snapshot held
while it waits; the messages arrive as a list of dicts, no type to
register), handles each one (a row in table "handled") and acks it with its
receipt in the same transaction, so that a message is handled exactly once.
topic: polls the group transactionally (records and offsets commit with the
handling).  leased: a leased consumer of the group that works from any
connection: it gets a token from broker.join, waits with CALL
broker.poll_wait_json(..., token), and commits what it was handed with
broker.commit(topic, group, NAME, token) in the transaction that handles
the records.  Stops after 3 seconds without work.

Behind PgBouncer in transaction mode: prepare_threshold=None (psycopg's
automatic prepared statements need a session; PgBouncer 1.21+ can keep them
with max_prepared_statements).  The CALL runs in autocommit mode: a wait
procedure commits between its looks, so it must not run inside a
transaction block.
"""
import sys
import time

import psycopg


def main():
    conninfo, kind = sys.argv[1], sys.argv[2]
    name = sys.argv[-1]
    conn = psycopg.connect(conninfo, autocommit=True, prepare_threshold=None)
    idle_since = time.monotonic()
    handled = 0
    token = None
    while time.monotonic() - idle_since < 3:
        if kind == "queue":
            queue = sys.argv[3]
            row = conn.execute(
                "CALL broker.claim_wait_json(%s, 10, lease => '30 seconds', wait => '500 milliseconds')",
                (queue,)).fetchone()
            messages = row[0] or []
            for m in messages:
                with conn.transaction():
                    conn.execute("INSERT INTO handled (kind, id, by, payload) VALUES ('q', %s, %s, %s)",
                                 (m["id"], name, psycopg.types.json.Jsonb(m["payload"])))
                    acked = conn.execute("SELECT broker.ack(%s, %s, %s)",
                                         (queue, m["id"], m["receipt"])).fetchone()[0]
                    if not acked:
                        raise psycopg.errors.RaiseException("lease lost")  # undo the handling
            got = len(messages)
        elif kind == "leased":
            topic, group = sys.argv[3], sys.argv[4]
            if token is None:
                token = conn.execute("SELECT broker.join(%s, %s, %s)", (topic, group, name)).fetchone()[0]
            row = conn.execute(
                "CALL broker.poll_wait_json(%s, %s, 50, '500 milliseconds', %s, '30 seconds', %s, NULL)",
                (topic, group, name, token)).fetchone()
            records = row[0] or []
            with conn.transaction():
                for r in records:
                    conn.execute("INSERT INTO handled (kind, id, by, payload) VALUES ('l', %s, %s, %s)",
                                 (r["partition"] * 1000000 + r["offset_id"], name,
                                  psycopg.types.json.Jsonb(r["payload"])))
                if records:
                    conn.execute("SELECT broker.commit(%s, %s, %s, %s)", (topic, group, name, token))
            got = len(records)
        else:
            topic, group = sys.argv[3], sys.argv[4]
            with conn.transaction():
                records = conn.execute(
                    "SELECT partition, offset_id, payload FROM broker.poll(%s, %s, 50)",
                    (topic, group)).fetchall()
                for partition, offset_id, payload in records:
                    conn.execute("INSERT INTO handled (kind, id, by, payload) VALUES ('t', %s, %s, %s)",
                                 (partition * 1000000 + offset_id, name, psycopg.types.json.Jsonb(payload)))
            got = len(records)
            if got == 0:
                time.sleep(0.1)
        if got:
            handled += got
            idle_since = time.monotonic()
    print(f"{name}: handled {handled}")


if __name__ == "__main__":
    main()
