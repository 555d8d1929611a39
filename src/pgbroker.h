/*-------------------------------------------------------------------------
 *
 * pgbroker.h
 *	  What every pgbroker source file needs: limits, pgbroker's own
 *	  SQLSTATE, the settings (defined in pgbroker.c) and the one version
 *	  shim.  Each file's own API is in its own header.
 *
 * src/pgbroker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_H
#define PGBROKER_H

#include "fmgr.h"

/* Longest queue, topic or consumer group name, in bytes. */
#define PGBROKER_MAX_NAME_LEN		200

/* Longest dedup, ordering-group or record key, in bytes (btree keys). */
#define PGBROKER_MAX_KEY_LEN		512

/* Priorities run from -PGBROKER_MAX_PRIORITY to PGBROKER_MAX_PRIORITY. */
#define PGBROKER_MAX_PRIORITY		1000000

/* Upper bound on max_messages for one claim. */
#define PGBROKER_MAX_BATCH			10000

/* Most partitions a topic may have. */
#define PGBROKER_MAX_PARTITIONS		1024

/*
 * pgbroker's own SQLSTATE: a consumer commits or extends a partition whose
 * lease it no longer holds (class PB, outside PostgreSQL's classes).
 */
#define ERRCODE_PB_NOT_HOLDER		MAKE_SQLSTATE('P','B','0','0','1')

/* Settings (pgbroker.c) */
extern int	pgbroker_max_message_size;
extern double pgbroker_resume_threshold_ms;
extern bool pgbroker_synchronous_offsets;
extern char *pgbroker_databases;
extern char *pgbroker_maintenance_role;
extern int	pgbroker_maintenance_interval_ms;

/* BackendId became ProcNumber in PostgreSQL 17. */
#if PG_VERSION_NUM >= 170000
#define PgbrokerProcFromVxid(vxid)	ProcNumberGetProc((vxid).procNumber)
#else
#define PgbrokerProcFromVxid(vxid)	BackendIdGetProc((vxid).backendId)
#endif

#endif							/* PGBROKER_H */
