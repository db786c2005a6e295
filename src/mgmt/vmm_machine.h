/*
 * The machine a VMM is spawned with (runtime.c's helper): the VM's
 * definition as last started (config.json) with its network cards plugged
 * in by the runtime's MgmtNicHooks, written as vmm-config.json, and the
 * descriptors the VMM inherits as 3 + card.  Private to src/mgmt.
 */
#ifndef HOSTEL_MGMT_VMM_MACHINE_H
#define HOSTEL_MGMT_VMM_MACHINE_H

#include "mgmt/runtime.h"

/*
 * Read config (a path), let hooks (may be NULL) plug the cards into *vmm
 * and fds (each >= VMM_MACHINE_FD_HIGH, or -1), write *vmm to vmm_config.
 * Returns 0 (free *vmm with vmconfig_free, close fds with
 * vmm_machine_close), or -1 with nothing plugged or open.
 */
int vmm_machine_prepare(const MgmtNicHooks *hooks, void *ctx, const char *name, const char *config,
                        const char *vmm_config, VmConfig *vmm, int fds[VMCONFIG_MAX_NICS],
                        Error *err);

/* Undo what hooks plugged for the VMM that ran vmm_config (a path). */
void vmm_machine_unplug(const MgmtNicHooks *hooks, void *ctx, const char *name,
                        const char *vmm_config);

/*
 * Let hooks' replug (when it has one) give the cards of the running VMM
 * that runs vmm_config (a path; control its control socket's path) on
 * network (NULL: any) new ports where theirs have gone.
 */
void vmm_machine_replug(const MgmtNicHooks *hooks, void *ctx, const char *name,
                        const char *vmm_config, const char *control, const char *network);

/* Close the descriptors of fds that are open, and mark them -1. */
void vmm_machine_close(int fds[VMCONFIG_MAX_NICS]);

#endif
