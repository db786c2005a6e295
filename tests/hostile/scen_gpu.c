/*
 * Hostile commands on virtio-gpu's control queue (only when the machine has
 * a display: the runner skips them otherwise): unknown commands, backing
 * pages outside RAM, rectangles outside their resource, a scanout that does
 * not exist, a resource larger than the device lends, a response buffer too
 * small.  Each must be answered with its defined error (virtio 1.2, 5.7.6.7)
 * and leave the device working; nothing is written past a response buffer.
 */
#include "scen.h"

#define CMD_DISPLAY_INFO 0x0100
#define CMD_CREATE_2D 0x0101
#define CMD_SET_SCANOUT 0x0103
#define CMD_TRANSFER 0x0105
#define CMD_ATTACH 0x0106
#define RESP_DISPLAY_INFO 0x1101
#define RESP_OK 0x1100
#define ERR_UNSPEC 0x1200
#define ERR_OUT_OF_MEMORY 0x1201
#define ERR_SCANOUT_ID 0x1202
#define ERR_PARAMETER 0x1205
#define FORMAT_BGRX 2
#define HDR 24
#define REQ BUF_HDR   /* up to 2 KiB of request */
#define RESP BUF_DATA /* the response buffer, a canary after it */
#define CANARY 0x5c
#define BACKING (BUF_DATA + 0x2000)

static void put32(uint64_t at, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        phys(at)[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint64_t at, uint64_t v)
{
    put32(at, (uint32_t)v);
    put32(at + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(uint64_t at)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++)
        v |= (uint32_t)phys(at)[i] << (8 * i);
    return v;
}

/* A request header of `type` at REQ, the body zeroed. */
static void req(uint32_t type, uint32_t body)
{
    phys_fill(REQ, 0, HDR + body);
    put32(REQ, type);
}

/*
 * Send the request at REQ (len bytes) with a response buffer of resp bytes
 * and wait for it; the response's type must be `want`, its used length at
 * most resp, and the byte after the buffer untouched.
 */
static int send(Dev *d, uint32_t len, uint32_t resp, uint32_t want)
{
    phys_fill(RESP, CANARY, resp + 16);
    desc_put(Q_DESC, 0, REQ, len, DESC_F_NEXT, 1);
    desc_put(Q_DESC, 1, RESP, resp, DESC_F_WRITE, 0);
    uint16_t before = dev_used_idx(d);
    dev_submit(d, 0);
    if (!dev_wait_used(d, (uint16_t)(before + 1)))
        return fail(FAIL_OUTCOME, "gpu command not completed; used idx", dev_used_idx(d));
    uint32_t id, used;
    dev_used_elem(d, before % queue_default.num, &id, &used);
    if (id != 0 || used > resp)
        return fail(FAIL_DATA, "gpu used element wrong; length", used);
    if (!phys_all(RESP + resp, CANARY, 16))
        return fail(FAIL_DATA, "gpu wrote past the response buffer at", RESP + resp);
    if (resp >= HDR && get32(RESP) != want)
        return fail(FAIL_OUTCOME, "gpu response type", get32(RESP));
    if (dev_read(d, VM_STATUS) & ST_NEEDS_RESET)
        return fail(FAIL_OUTCOME, "gpu broken by a command with a defined error",
                    dev_read(d, VM_STATUS));
    return 0;
}

static int create(Dev *d, uint32_t id, uint32_t w, uint32_t h, uint32_t want)
{
    req(CMD_CREATE_2D, 16);
    put32(REQ + HDR, id);
    put32(REQ + HDR + 4, FORMAT_BGRX);
    put32(REQ + HDR + 8, w);
    put32(REQ + HDR + 12, h);
    return send(d, HDR + 16, HDR, want);
}

static int attach(Dev *d, uint32_t id, uint64_t addr, uint32_t len, uint32_t want)
{
    req(CMD_ATTACH, 8 + 16);
    put32(REQ + HDR, id);
    put32(REQ + HDR + 4, 1);
    put64(REQ + HDR + 8, addr);
    put32(REQ + HDR + 16, len);
    return send(d, HDR + 8 + 16, HDR, want);
}

static int gpu_start(Ctx *c)
{
    START(&c->gpu, F_VERSION_1, &queue_default);
    return 0;
}

static int gpu_unknown_command(Ctx *c)
{
    int rc = gpu_start(c);
    req(0xdead, 0);
    return rc ? rc : send(&c->gpu, HDR, HDR, ERR_UNSPEC);
}

static int gpu_backing_past_ram_end(Ctx *c)
{
    int rc = gpu_start(c);
    if (rc == 0)
        rc = create(&c->gpu, 1, 16, 16, RESP_OK);
    return rc ? rc : attach(&c->gpu, 1, RAM_END - 512, 16 * 16 * 4, ERR_PARAMETER);
}

static int gpu_transfer_outside(Ctx *c)
{
    int rc = gpu_start(c);
    if (rc == 0)
        rc = create(&c->gpu, 1, 16, 16, RESP_OK);
    if (rc == 0)
        rc = attach(&c->gpu, 1, BACKING, 16 * 16 * 4, RESP_OK);
    if (rc)
        return rc;
    req(CMD_TRANSFER, 32); /* rect 8,8 16x16 of a 16x16 resource */
    put32(REQ + HDR, 8);
    put32(REQ + HDR + 4, 8);
    put32(REQ + HDR + 8, 16);
    put32(REQ + HDR + 12, 16);
    put32(REQ + HDR + 24, 1);
    return send(&c->gpu, HDR + 32, HDR, ERR_PARAMETER);
}

static int gpu_scanout_out_of_range(Ctx *c)
{
    int rc = gpu_start(c);
    if (rc == 0)
        rc = create(&c->gpu, 1, 16, 16, RESP_OK);
    if (rc)
        return rc;
    req(CMD_SET_SCANOUT, 24);
    put32(REQ + HDR + 8, 16);
    put32(REQ + HDR + 12, 16);
    put32(REQ + HDR + 16, 7); /* scanout 7 of 1 */
    put32(REQ + HDR + 20, 1);
    return send(&c->gpu, HDR + 24, HDR, ERR_SCANOUT_ID);
}

static int gpu_huge_resource(Ctx *c)
{
    int rc = gpu_start(c);
    return rc ? rc : create(&c->gpu, 1, 16384, 16384, ERR_OUT_OF_MEMORY) /* 1 GiB */;
}

static int gpu_small_response(Ctx *c)
{
    int rc = gpu_start(c);
    req(CMD_DISPLAY_INFO, 0);
    return rc ? rc : send(&c->gpu, HDR, 8, 0);
}

int recover_gpu(Ctx *c)
{
    int rc = gpu_start(c);
    req(CMD_DISPLAY_INFO, 0);
    if (rc == 0)
        rc = send(&c->gpu, HDR, HDR + 16 * 24, RESP_DISPLAY_INFO);
    if (rc == 0 && get32(RESP + HDR + 8) == 0) /* scanout 0's width */
        rc = fail(FAIL_RECOVER, "gpu display info without a width", 0);
    return rc == FAIL_OUTCOME || rc == FAIL_DATA ? FAIL_RECOVER : rc;
}

const Scenario scen_gpu[] = {
    {"gpu_unknown_command", gpu_unknown_command, .gpu = true},
    {"gpu_backing_past_ram_end", gpu_backing_past_ram_end, .gpu = true},
    {"gpu_transfer_outside", gpu_transfer_outside, .gpu = true},
    {"gpu_scanout_out_of_range", gpu_scanout_out_of_range, .gpu = true},
    {"gpu_huge_resource", gpu_huge_resource, .gpu = true},
    {"gpu_small_response", gpu_small_response, .gpu = true},
    {NULL, NULL, false, false, false},
};
