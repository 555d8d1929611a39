/*-------------------------------------------------------------------------
 *
 * xact.h
 *	  The transaction dispatcher (xact.c).
 *
 * src/xact.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_XACT_H
#define PGBROKER_XACT_H

extern void BrokerXactInit(void);
extern void BrokerEnterCall(void);

#endif							/* PGBROKER_XACT_H */
