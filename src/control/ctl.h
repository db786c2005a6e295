/* The control-socket subcommands of `hostel`: ctl, pause, resume (argv[0] is the subcommand). */
#ifndef HOSTEL_CONTROL_CTL_H
#define HOSTEL_CONTROL_CTL_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* Each returns the process exit status: 0, 1 (the VM said no or is absent), 2 (usage). */
int ctl_main(int argc, char **argv);
int ctl_pause_main(int argc, char **argv);
int ctl_resume_main(int argc, char **argv);

int ctl_suspend_main(int argc, char **argv);
int ctl_snapshot_main(int argc, char **argv);
int ctl_state_main(int argc, char **argv);
int ctl_clone_main(int argc, char **argv);

void ctl_help(FILE *out);
void ctl_suspend_help(FILE *out);
void ctl_snapshot_help(FILE *out);
void ctl_state_help(FILE *out);
void ctl_clone_help(FILE *out);

/* Send cmd with args (may be NULL) to a VM; print the "return" as JSON if print. */
int ctl_call(const char *target, const char *cmd, json_t *args, int timeout_s, bool print);
void ctl_pause_help(FILE *out);
void ctl_resume_help(FILE *out);

#endif
