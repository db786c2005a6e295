/*
 * GET /1.0/vms/NAME/vnc: the VM's screen as a websocket for the web
 * console's noVNC.  hosteld runs a VM that has a display with a VNC server
 * on RUN/NAME/vnc.sock (runtime.c: `hostel run --vnc unix:...`); this route
 * connects to it and bridges the websocket to it: binary messages carry
 * the RFB protocol both ways (api_reply_bridge).  A client asking for the
 * subprotocol "binary" (noVNC does) gets it echoed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mgmt/api_int.h"

/* A connected socket to the VNC server of the VM vm, or -1 after a 409/500. */
static int vnc_connect(Api *api, const MgmtVm *vm, ApiResponse *r)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char path[sizeof(sa.sun_path)];
    if (mgmt_runtime_path(api->runtime, vm->name, "vnc.sock", path, sizeof(path)) < 0) {
        api_error(r, 500, "%s: the VNC socket's path is too long", vm->name);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return fd;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (e == ENOENT && !vm->config.display.enabled)
        api_error(r, 409, "%s has no display (its definition's config.display)", vm->name);
    else if (e == ENOENT)
        api_error(r, 409,
                  "%s has no screen yet: it was started before it had a display "
                  "(restart it)",
                  vm->name);
    else
        api_error(r, 409, "%s: its VNC server does not answer (%s)", vm->name, strerror(e));
    return -1;
}

void api_h_vm_vnc(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    const MgmtVm *vm = api_vm_or_404(api, args->arg[0], r);
    if (!vm)
        return;
    if (!req->websocket) {
        api_error(r, 400, "the screen is a websocket of RFB (VNC): send Upgrade: websocket");
        return;
    }
    if (!api->runtime || mgmt_runtime_power(api->runtime, vm->name) == MGMT_POWER_STOPPED) {
        api_error(r, 409, "%s is not running", vm->name);
        return;
    }
    if (!api_ws_accept(req, r))
        return;
    int fd = vnc_connect(api, vm, r);
    if (fd >= 0)
        api_reply_bridge(req, r, fd); /* echoes the subprotocol binary when asked */
}
