/*
 * The machine a VMM is spawned with (vmm_machine.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "mgmt/vmm_machine.h"

#define FD_HIGH 64 /* descriptors handed to a VMM wait above its 3 + card numbers */

void vmm_machine_close(int fds[VMCONFIG_MAX_NICS])
{
    for (int i = 0; i < VMCONFIG_MAX_NICS; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

static int read_machine(const char *name, const char *path, VmConfig *cfg, Error *err)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    int rc = j ? vmconfig_from_json(j, cfg, err)
               : error_set(err, "%s: cannot read %.200s: %s", name, path, je.text);
    json_decref(j);
    return rc;
}

static int write_machine(const char *name, const char *path, const VmConfig *cfg, Error *err)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    json_t *j = vmconfig_to_json(cfg);
    int rc = j ? json_dump_file(j, tmp, JSON_INDENT(2)) : -1;
    json_decref(j);
    if (rc < 0 || rename(tmp, path) < 0)
        return error_set(err, "%s: cannot write %.200s", name, path);
    return 0;
}

/* Move the descriptors above FD_HIGH (so dup2 to 3 + card never overwrites one of them). */
static int raise_fds(int *fds, Error *err)
{
    for (int i = 0; i < VMCONFIG_MAX_NICS; i++) {
        if (fds[i] < 0 || fds[i] >= FD_HIGH)
            continue;
        int high = fcntl(fds[i], F_DUPFD_CLOEXEC, FD_HIGH);
        if (high < 0)
            return error_set_errno(err, errno, "cannot move a card's descriptor");
        close(fds[i]);
        fds[i] = high;
    }
    return 0;
}

int vmm_machine_prepare(const MgmtNicHooks *hooks, void *ctx, const char *name, const char *config,
                        const char *vmm_config, VmConfig *vmm, int fds[VMCONFIG_MAX_NICS],
                        Error *err)
{
    for (int i = 0; i < VMCONFIG_MAX_NICS; i++)
        fds[i] = -1;
    vmconfig_default(vmm);
    if (read_machine(name, config, vmm, err) < 0)
        return -1;
    int rc = hooks ? hooks->plug(ctx, name, vmm, fds, err) : 0;
    if (rc == 0 && (raise_fds(fds, err) < 0 || write_machine(name, vmm_config, vmm, err) < 0)) {
        vmm_machine_close(fds);
        if (hooks)
            hooks->unplug(ctx, name, vmm);
        rc = -1;
    }
    if (rc < 0)
        vmconfig_free(vmm);
    return rc;
}

void vmm_machine_unplug(const MgmtNicHooks *hooks, void *ctx, const char *name,
                        const char *vmm_config)
{
    VmConfig vmm;
    Error err = {0};
    if (!hooks)
        return;
    vmconfig_default(&vmm);
    if (read_machine(name, vmm_config, &vmm, &err) == 0)
        hooks->unplug(ctx, name, &vmm);
    vmconfig_free(&vmm);
}

void vmm_machine_replug(const MgmtNicHooks *hooks, void *ctx, const char *name,
                        const char *vmm_config, const char *control, const char *network)
{
    VmConfig vmm;
    Error err = {0};
    if (!hooks || !hooks->replug)
        return;
    vmconfig_default(&vmm);
    if (read_machine(name, vmm_config, &vmm, &err) == 0)
        hooks->replug(ctx, name, &vmm, network, control);
    vmconfig_free(&vmm);
}
