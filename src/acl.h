/*-------------------------------------------------------------------------
 *
 * acl.h
 *	  Privileges on queues and topics, and running as the extension's
 *	  owner on behalf of a checked caller (acl.c).
 *
 * src/acl.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_ACL_H
#define PGBROKER_ACL_H

#include "fmgr.h"

/* What a role may do with a queue or topic. */
typedef enum BrokerPrivilege
{
	BROKER_PRIV_SEND,			/* send, publish */
	BROKER_PRIV_CONSUME,		/* claim, ack, nack, extend, poll, commit */
	BROKER_PRIV_BROWSE,			/* peek, read, offsets, dead letters */
	BROKER_PRIV_MANAGE,			/* alter, purge, redrive, cancel, seek, drop, grant */
	BROKER_PRIV_MONITOR			/* names and counts: browse, or pg_monitor */
} BrokerPrivilege;

extern Datum BrokerRunAsOwner(FunctionCallInfo fcinfo, PGFunction body);
extern Oid	BrokerCaller(void);
extern Oid	BrokerAclHolder(char kind, int32 id);
extern bool BrokerHasPrivilege(Oid role, char kind, Oid holder, BrokerPrivilege priv);
extern void BrokerCheckPrivilege(char kind, const char *name, Oid holder, BrokerPrivilege priv);
extern bool BrokerOwnsGroup(Oid role, const char *owner);
extern Oid	BrokerCallerPush(Oid role);
extern void BrokerCallerPop(Oid prev);

/* Transaction events, called by the dispatcher (xact.c) only. */
extern void AclXactEnded(void);

#endif							/* PGBROKER_ACL_H */
