/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  Opt-in LISTEN/NOTIFY: a signal to listening clients when a
 *	  transaction that sent to a queue or published to a topic commits.
 *
 * Only destinations created or altered with notify => true are signalled.
 * NOTIFY is PostgreSQL's own: queued in the transaction, delivered at
 * commit, folded when identical, lost with a rollback.  Nothing here locks
 * anything (NOTIFY takes its own lock at commit) or survives a crash.
 *
 * src/notify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/async.h"

#include "wait.h"

/*
 * Signal LISTENing clients at commit: one notification per destination per
 * transaction, on channel "pgbroker.<kind>.<name>" with the name as
 * payload.  The channel's length was checked when notify was turned on.
 */
void
BrokerNotifyAtCommit(const char *kind, const char *name)
{
	char		channel[NAMEDATALEN];

	if (snprintf(channel, sizeof(channel), "pgbroker.%s.%s", kind, name) >= (int) sizeof(channel))
		return;
	Async_Notify(channel, name);
}
