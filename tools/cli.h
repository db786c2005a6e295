/*
 * What hostel's front ends share: the Command table row every subcommand
 * family exports (tools/cmd_*.c, tools/img/img.c), the exit statuses, the
 * one-line usage and failure reports, and the global log options.
 * Handlers parse argv, call the libraries and print; they are the only
 * code that prints for a user or chooses an exit status.
 */
#ifndef HOSTEL_TOOLS_CLI_H
#define HOSTEL_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "util/error.h"

#ifndef HOSTEL_VERSION
#define HOSTEL_VERSION "0.1.0"
#endif

enum { CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* One subcommand: run gets argv[0] = its name and returns the exit status. */
typedef struct Command {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*help)(FILE *out);
    const char *summary; /* one line for `hostel help` */
} Command;

/* The subcommands, one family per file. */
extern const Command cmd_run;                         /* cmd_run.c */
extern const Command cmd_img;                         /* img/img.c */
extern const Command cmd_ctl, cmd_pause, cmd_resume;  /* cmd_ctl.c */
extern const Command cmd_suspend, cmd_snapshot;       /* cmd_ctl.c */
extern const Command cmd_state, cmd_clone;            /* cmd_state.c */
extern const Command cmd_create, cmd_list;            /* cmd_mgmt.c (hosteld's client) */
extern const Command cmd_info, cmd_delete;            /* cmd_mgmt.c */
extern const Command cmd_start, cmd_stop, cmd_reboot; /* cmd_mgmt.c */
extern const Command cmd_console;                     /* cmd_console.c */
extern const Command cmd_logs, cmd_edit;              /* cmd_vmtools.c */
extern const Command cmd_stats;                       /* cmd_stats.c */
extern const Command cmd_migrate;                     /* cmd_migrate.c */
extern const Command cmd_image;                       /* cmd_image.c */

/*
 * For cmd_ctl.c's verbs that act on a VM hosteld runs (pause, resume,
 * suspend NAME, snapshot): NAME is a VM the daemon knows (silent when no
 * daemon answers); the action as an operation, waited for; a snapshot
 * operation (create, list, revert, delete).  The last two return exit
 * statuses, having printed any error.
 */
bool mgmt_cli_knows(const char *name);

/*
 * Wait for the operation op (a 202's body) on the daemon at socket (NULL:
 * the default) to end: the ended operation (a new reference) when it
 * succeeded, else NULL after printing why.  A line on a terminal says what
 * is waited for.
 */
struct json_t *mgmt_cli_wait(const char *socket, const struct json_t *op);
int mgmt_cli_simple_action(const char *name, const char *action);
int mgmt_cli_snapshot(const char *op, const char *name, const char *snapshot);
int mgmt_cli_clone(const char *src, const char *name, bool linked);
extern const Command cmd_run;                        /* cmd_run.c */
extern const Command cmd_img;                        /* img/img.c */
extern const Command cmd_ctl, cmd_pause, cmd_resume; /* cmd_ctl.c */
extern const Command cmd_suspend, cmd_snapshot;      /* cmd_ctl.c */
extern const Command cmd_state, cmd_clone;           /* cmd_state.c */
extern const Command cmd_create, cmd_list;           /* cmd_mgmt.c (hosteld's client) */
extern const Command cmd_info, cmd_delete;           /* cmd_mgmt.c */
extern const Command cmd_volume, cmd_pool;           /* cmd_volume.c (hosteld's storage) */
extern const Command cmd_remote, cmd_trust;          /* cmd_remote.c */
extern const Command cmd_events;                     /* cmd_events.c */
extern const Command cmd_network;                    /* cmd_network.c (hosteld's networks) */
extern const Command cmd_switch;                     /* cmd_switch.c */
extern const Command cmd_web_login;                  /* cmd_web.c */

/*
 * "hostel CMD: MESSAGE (see 'hostel CMD --help')" on stderr, or with cmd
 * NULL "hostel: MESSAGE (see 'hostel help')"; returns CLI_EXIT_USAGE.
 */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "hostel: MESSAGE" on stderr (a library's Error); returns CLI_EXIT_FAIL. */
int cli_fail(const Error *err);

/* argv is exactly "CMD -h" or "CMD --help". */
bool cli_is_help(int argc, char **argv);

/* Help lines for the global options (--log-level, --log-format). */
void cli_log_options_help(FILE *out);

/*
 * Apply --log-level or --log-format given as name and value.  Returns 1 if
 * name is one of them and value is good, 0 if name is another option, or
 * CLI_EXIT_USAGE (after a usage line for cmd) if value is bad.
 */
int cli_log_option(const char *cmd, const char *name, const char *value);

#endif
