/*
 * virtio-blk.  The VM thread pops a request, parses and checks it (header,
 * status byte, lengths, sector ranges, segments) and either answers it at
 * once (errors, GET_ID) or hands it to the device's worker thread.  The
 * worker only touches the request and the host pointers the virtqueue
 * core already checked; it puts finished requests on a "done" list and
 * asks the event loop to run blk_complete() on the VM thread, which writes
 * the status byte, pushes the used element and raises the interrupt.
 *
 * Jobs (virtio_blk_queue_job: a live snapshot of the image) share the
 * worker with requests.  Every request and job gets a sequence number when
 * it is queued and the worker always takes the lowest, so a job sees the
 * image exactly as the requests queued before it left it, and requests
 * queued after it wait until it is done.
 */
#include "virtio/blk.h"

#include <endian.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/compiler.h"
#include "util/log.h"

#define BLK_HDR_SIZE 16     /* type, reserved, sector */
#define BLK_DWZ_SEG_SIZE 16 /* sector, num_sectors, flags */
#define BLK_DWZ_F_UNMAP 1
#define BLK_MAX_LOGGED_ERRORS 10

/* One discard / write-zeroes segment, copied out of the guest. */
typedef struct BlkSeg {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
} BlkSeg;

typedef struct BlkReq {
    struct BlkReq *next;
    uint64_t seq; /* order among queued requests and jobs */
    uint32_t type;
    uint64_t sector;
    uint64_t data_len; /* IN / OUT payload bytes */
    bool flush_after;  /* writethrough: make an OUT durable before completing */
    uint8_t status;
    unsigned nsegs;
    BlkSeg segs[VIRTIO_BLK_MAX_DWZ_SEGS];
    VirtqElem elem;
} BlkReq;

typedef struct BlkJob {
    struct BlkJob *next;
    uint64_t seq;
    VirtioBlkJobFn fn;
    void *opaque;
} BlkJob;

typedef struct VirtioBlk {
    VirtioMmio vdev; /* first: container_of */
    BlockDev *disk;
    EventLoop *loop;
    uint64_t capacity; /* 512-byte sectors */
    char id[VIRTIO_BLK_ID_BYTES];
    uint8_t config[VIRTIO_BLK_CFG_SIZE];
    BlkReq *free_reqs;    /* VM thread only */
    VirtioBlkStats stats; /* VM thread only (counted in blk_finish) */
    pthread_t worker;
    bool worker_started;
    unsigned errors_logged; /* worker only */
    pthread_mutex_t lock;   /* protects the fields below */
    pthread_cond_t work;    /* todo or jobs became non-empty, or stop */
    pthread_cond_t idle;    /* the worker finished a request or job */
    BlkReq *todo, **todo_tail;
    BlkJob *jobs, **jobs_tail;
    uint64_t seq; /* the next sequence number */
    BlkReq *done;
    bool busy;           /* the worker is executing a request or a job */
    bool call_scheduled; /* blk_complete is queued on the loop */
    bool stop;
} VirtioBlk;

static VirtioBlk *blk_of(VirtioMmio *v)
{
    return container_of(v, VirtioBlk, vdev);
}

/* ---- request allocation (VM thread) ---- */

static BlkReq *blk_req_get(VirtioBlk *b)
{
    BlkReq *r = b->free_reqs;
    if (r) {
        b->free_reqs = r->next;
        return r;
    }
    return malloc(sizeof(*r));
}

static void blk_req_put(VirtioBlk *b, BlkReq *r)
{
    r->next = b->free_reqs;
    b->free_reqs = r;
}

static void blk_req_free_list(BlkReq *r)
{
    while (r) {
        BlkReq *next = r->next;
        free(r);
        r = next;
    }
}

/* ---- the worker thread ---- */

static void blk_log_error(VirtioBlk *b, const BlkReq *r, const Error *err)
{
    if (b->errors_logged >= BLK_MAX_LOGGED_ERRORS)
        return;
    b->errors_logged++;
    log_warn("%s@0x%llx: request type %u at sector %llu: %s%s", b->vdev.ops->name,
             (unsigned long long)b->vdev.cfg.base, r->type, (unsigned long long)r->sector, err->msg,
             b->errors_logged == BLK_MAX_LOGGED_ERRORS ? " (further errors not logged)" : "");
}

static int blk_do_rw(VirtioBlk *b, BlkReq *r, Error *err)
{
    struct iovec iov[VIRTQ_MAX_SIZE];
    bool out = r->type == VIRTIO_BLK_T_OUT;
    int n =
        virtq_elem_slice(&r->elem, !out, out ? BLK_HDR_SIZE : 0, r->data_len, iov, VIRTQ_MAX_SIZE);
    if (n < 0)
        return error_set(err, "bad data buffers"); /* checked on the VM thread already */
    uint64_t offset = r->sector * VIRTIO_BLK_SECTOR;
    if (!out)
        return block_readv(b->disk, offset, iov, n, err);
    if (block_writev(b->disk, offset, iov, n, err) < 0)
        return -1;
    return r->flush_after ? block_flush(b->disk, err) : 0;
}

static int blk_do_segments(VirtioBlk *b, BlkReq *r, Error *err)
{
    for (unsigned i = 0; i < r->nsegs; i++) {
        const BlkSeg *s = &r->segs[i];
        uint64_t offset = s->sector * VIRTIO_BLK_SECTOR;
        uint64_t len = (uint64_t)s->num_sectors * VIRTIO_BLK_SECTOR;
        int rc = r->type == VIRTIO_BLK_T_DISCARD
                     ? block_discard(b->disk, offset, len, err)
                     : block_write_zeroes(b->disk, offset, len, s->flags & BLK_DWZ_F_UNMAP, err);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Run one request against the disk (worker thread). */
static void blk_execute(VirtioBlk *b, BlkReq *r)
{
    Error err;
    int rc;
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: rc = blk_do_rw(b, r, &err); break;
    case VIRTIO_BLK_T_FLUSH: rc = block_flush(b->disk, &err); break;
    default: rc = blk_do_segments(b, r, &err); break;
    }
    r->status = rc < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
    if (rc < 0)
        blk_log_error(b, r, &err);
}

static void blk_complete(void *opaque);

/* Called with the lock held: queue r as done and make sure blk_complete will run. */
static void blk_worker_finish(VirtioBlk *b, BlkReq *r)
{
    r->next = b->done;
    b->done = r;
    b->busy = false;
    pthread_cond_broadcast(&b->idle);
    if (b->call_scheduled)
        return;
    b->call_scheduled = true;
    pthread_mutex_unlock(&b->lock);
    int rc = evloop_call(b->loop, blk_complete, b);
    pthread_mutex_lock(&b->lock);
    if (rc < 0)
        b->call_scheduled = false; /* the next notify on the VM thread collects it */
}

/* Called with the lock held: true if the next thing to do is the first job. */
static bool blk_job_first(const VirtioBlk *b)
{
    return b->jobs && (!b->todo || b->stop || b->jobs->seq < b->todo->seq);
}

/* Called with the lock held: run the first job without the lock. */
static void blk_worker_job(VirtioBlk *b)
{
    BlkJob *j = b->jobs;
    b->jobs = j->next;
    if (!b->jobs)
        b->jobs_tail = &b->jobs;
    b->busy = true;
    pthread_mutex_unlock(&b->lock);
    j->fn(b->disk, j->opaque);
    free(j);
    pthread_mutex_lock(&b->lock);
    b->busy = false;
    pthread_cond_broadcast(&b->idle);
}

/*
 * Requests and jobs in sequence order.  On stop, queued requests are left
 * (their guest is gone) but jobs still run: their owners wait for them.
 */
static void *blk_worker(void *opaque)
{
    VirtioBlk *b = opaque;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->todo && !b->jobs && !b->stop)
            pthread_cond_wait(&b->work, &b->lock);
        if (blk_job_first(b)) {
            blk_worker_job(b);
            continue;
        }
        if (b->stop)
            break;
        BlkReq *r = b->todo;
        b->todo = r->next;
        if (!b->todo)
            b->todo_tail = &b->todo;
        b->busy = true;
        pthread_mutex_unlock(&b->lock);
        blk_execute(b, r);
        pthread_mutex_lock(&b->lock);
        blk_worker_finish(b, r);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* ---- completion (VM thread) ---- */

/* Count a request being answered (VM thread: no atomics needed). */
static void blk_count(VirtioBlkStats *st, const BlkReq *r)
{
    if (r->status != VIRTIO_BLK_S_OK) {
        st->errors++;
        return;
    }
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
        st->read_ops++;
        st->read_bytes += r->data_len;
        break;
    case VIRTIO_BLK_T_OUT:
        st->write_ops++;
        st->write_bytes += r->data_len;
        break;
    case VIRTIO_BLK_T_FLUSH: st->flush_ops++; break;
    default: break; /* GET_ID, discard, write-zeroes: not counted */
    }
}

/* Write the status byte (the last writable byte) and return the chain. */
static void blk_finish(VirtioBlk *b, BlkReq *r)
{
    VirtqElem *e = &r->elem;
    blk_count(&b->stats, r);
    virtq_elem_write(e, e->in_len - 1, &r->status, 1);
    virtq_push(&b->vdev.vq[0], e, (uint32_t)e->in_len);
    blk_req_put(b, r);
}

/* Take the done list (and the right to schedule the next blk_complete). */
static BlkReq *blk_take_done(VirtioBlk *b)
{
    pthread_mutex_lock(&b->lock);
    BlkReq *list = b->done;
    b->done = NULL;
    b->call_scheduled = false;
    pthread_mutex_unlock(&b->lock);
    return list;
}

static void blk_complete_list(VirtioBlk *b, BlkReq *r)
{
    if (!r)
        return;
    while (r) {
        BlkReq *next = r->next;
        blk_finish(b, r);
        r = next;
    }
    virtio_mmio_notify_used(&b->vdev, 0);
}

/* Event-loop callback: publish what the worker finished. */
static void blk_complete(void *opaque)
{
    VirtioBlk *b = opaque;
    blk_complete_list(b, blk_take_done(b));
}

/* ---- request parsing and checks (VM thread) ---- */

static bool blk_range_ok(const VirtioBlk *b, uint64_t sector, uint64_t sectors)
{
    return sector <= b->capacity && sectors <= b->capacity - sector;
}

static uint8_t blk_check_rw(VirtioBlk *b, BlkReq *r)
{
    const VirtqElem *e = &r->elem;
    bool out = r->type == VIRTIO_BLK_T_OUT;
    if (out && b->disk->read_only)
        return VIRTIO_BLK_S_IOERR; /* 5.2.6.2: writes to a RO device fail, nothing written */
    r->data_len = out ? e->out_len - BLK_HDR_SIZE : e->in_len - 1;
    if (r->data_len % VIRTIO_BLK_SECTOR ||
        !blk_range_ok(b, r->sector, r->data_len / VIRTIO_BLK_SECTOR))
        return VIRTIO_BLK_S_IOERR;
    r->flush_after = out && !virtio_mmio_has_feature(&b->vdev, VIRTIO_BLK_F_FLUSH);
    return VIRTIO_BLK_S_OK;
}

/* Copy segment i out of the guest and check it. */
static uint8_t blk_check_segment(VirtioBlk *b, BlkReq *r, unsigned i)
{
    uint8_t raw[BLK_DWZ_SEG_SIZE];
    virtq_elem_read(&r->elem, BLK_HDR_SIZE + (uint64_t)i * BLK_DWZ_SEG_SIZE, raw, sizeof(raw));
    BlkSeg *s = &r->segs[i];
    memcpy(&s->sector, raw, 8);
    memcpy(&s->num_sectors, raw + 8, 4);
    memcpy(&s->flags, raw + 12, 4);
    s->sector = le64toh(s->sector);
    s->num_sectors = le32toh(s->num_sectors);
    s->flags = le32toh(s->flags);
    if (s->flags & ~BLK_DWZ_F_UNMAP)
        return VIRTIO_BLK_S_UNSUPP;
    if (r->type == VIRTIO_BLK_T_DISCARD && (s->flags & BLK_DWZ_F_UNMAP))
        return VIRTIO_BLK_S_UNSUPP;
    if (s->num_sectors > VIRTIO_BLK_MAX_DWZ_SECTORS || !blk_range_ok(b, s->sector, s->num_sectors))
        return VIRTIO_BLK_S_IOERR;
    return VIRTIO_BLK_S_OK;
}

static uint8_t blk_check_dwz(VirtioBlk *b, BlkReq *r)
{
    unsigned feature =
        r->type == VIRTIO_BLK_T_DISCARD ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;
    if (!virtio_mmio_has_feature(&b->vdev, feature))
        return VIRTIO_BLK_S_UNSUPP;
    uint64_t len = r->elem.out_len - BLK_HDR_SIZE;
    if (len == 0 || len % BLK_DWZ_SEG_SIZE || len / BLK_DWZ_SEG_SIZE > VIRTIO_BLK_MAX_DWZ_SEGS)
        return VIRTIO_BLK_S_IOERR;
    r->nsegs = (unsigned)(len / BLK_DWZ_SEG_SIZE);
    for (unsigned i = 0; i < r->nsegs; i++) {
        uint8_t st = blk_check_segment(b, r, i);
        if (st != VIRTIO_BLK_S_OK)
            return st;
    }
    return VIRTIO_BLK_S_OK;
}

/* GET_ID: answered on the VM thread. */
static uint8_t blk_get_id(VirtioBlk *b, BlkReq *r)
{
    uint64_t room = r->elem.in_len - 1;
    virtq_elem_write(&r->elem, 0, b->id, room < sizeof(b->id) ? (size_t)room : sizeof(b->id));
    return VIRTIO_BLK_S_OK;
}

/*
 * Check a request and answer it if it needs no I/O.  Returns true when it
 * must go to the worker; false when r->status is final (an error, GET_ID).
 */
static bool blk_needs_worker(VirtioBlk *b, BlkReq *r)
{
    uint8_t st;
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: st = blk_check_rw(b, r); break;
    case VIRTIO_BLK_T_FLUSH: st = VIRTIO_BLK_S_OK; break;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: st = blk_check_dwz(b, r); break;
    case VIRTIO_BLK_T_GET_ID: r->status = blk_get_id(b, r); return false;
    default: st = VIRTIO_BLK_S_UNSUPP; break;
    }
    r->status = st;
    return st == VIRTIO_BLK_S_OK;
}

/* Parse the header; false (device broken) if there is no header or no status byte. */
static bool blk_parse_header(VirtioBlk *b, BlkReq *r)
{
    uint8_t hdr[BLK_HDR_SIZE];
    if (r->elem.in_len < 1 || virtq_elem_read(&r->elem, 0, hdr, sizeof(hdr)) < sizeof(hdr)) {
        virtio_mmio_set_broken(&b->vdev, "request %u has no %s", r->elem.head,
                               r->elem.in_len < 1 ? "status byte" : "16-byte header");
        return false;
    }
    uint32_t type;
    memcpy(&type, hdr, 4);
    memcpy(&r->sector, hdr + 8, 8);
    r->type = le32toh(type);
    r->sector = le64toh(r->sector);
    r->nsegs = 0;
    return true;
}

/* ---- the queue handler (VM thread) ---- */

/* Pop every available request; returns the ones for the worker, in order. */
static BlkReq *blk_pop_all(VirtioBlk *b, bool *completed)
{
    BlkReq *head = NULL, **tail = &head;
    for (;;) {
        BlkReq *r = blk_req_get(b);
        if (!r || virtq_pop(&b->vdev.vq[0], &r->elem) <= 0) {
            if (r)
                blk_req_put(b, r);
            break;
        }
        if (!blk_parse_header(b, r)) {
            blk_req_put(b, r);
            break;
        }
        if (!blk_needs_worker(b, r)) {
            blk_finish(b, r);
            *completed = true;
            continue;
        }
        *tail = r;
        tail = &r->next;
    }
    *tail = NULL;
    return head;
}

static void blk_submit(VirtioBlk *b, BlkReq *list)
{
    if (!list)
        return;
    pthread_mutex_lock(&b->lock);
    *b->todo_tail = list;
    for (;;) {
        list->seq = b->seq++;
        if (!list->next)
            break;
        list = list->next;
    }
    b->todo_tail = &list->next;
    pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&b->lock);
}

static void blk_queue_notify(VirtioMmio *v, unsigned q)
{
    VirtioBlk *b = blk_of(v);
    bool completed = false;
    blk_complete_list(b, blk_take_done(b)); /* in case evloop_call failed earlier */
    blk_submit(b, blk_pop_all(b, &completed));
    if (completed)
        virtio_mmio_notify_used(v, 0);
}

/* ---- configuration, reset, teardown ---- */

static uint64_t blk_config_read(VirtioMmio *v, uint64_t offset, unsigned size)
{
    VirtioBlk *b = blk_of(v);
    return virtio_config_bytes(b->config, sizeof(b->config), offset, size);
}

static void blk_recycle(VirtioBlk *b, BlkReq *r)
{
    while (r) {
        BlkReq *next = r->next;
        blk_req_put(b, r);
        r = next;
    }
}

/* Drop queued requests (not jobs), wait for the one in progress, forget finished ones. */
static void blk_reset(VirtioMmio *v)
{
    VirtioBlk *b = blk_of(v);
    pthread_mutex_lock(&b->lock);
    BlkReq *dropped = b->todo;
    b->todo = NULL;
    b->todo_tail = &b->todo;
    while (b->busy)
        pthread_cond_wait(&b->idle, &b->lock);
    pthread_mutex_unlock(&b->lock);
    blk_recycle(b, dropped);
    blk_recycle(b, blk_take_done(b));
}

void virtio_blk_drain(VirtioMmio *v)
{
    VirtioBlk *b = blk_of(v);
    pthread_mutex_lock(&b->lock);
    while (b->todo || b->jobs || b->busy)
        pthread_cond_wait(&b->idle, &b->lock);
    pthread_mutex_unlock(&b->lock);
    blk_complete_list(b, blk_take_done(b));
}

/* Before a save: drain, and make the image durable. */
static void blk_quiesce(VirtioMmio *v)
{
    VirtioBlk *b = blk_of(v);
    virtio_blk_drain(v);
    Error err = {0};
    if (block_flush(b->disk, &err) < 0)
        log_warn("virtio-blk: %s", err.msg);
}

static void blk_free(VirtioMmio *v)
{
    VirtioBlk *b = blk_of(v);
    if (b->worker_started) {
        pthread_mutex_lock(&b->lock);
        b->stop = true;
        pthread_cond_signal(&b->work);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->worker, NULL);
    }
    blk_req_free_list(b->todo); /* the worker ran every job before it ended */
    blk_req_free_list(b->done);
    blk_req_free_list(b->free_reqs);
    block_close(b->disk);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->idle);
    free(b);
}

static const VirtioDeviceOps blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .features = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
                VIRTIO_BIT(VIRTIO_BLK_F_FLUSH),
    .num_queues = 1,
    .queue_max = VIRTIO_BLK_QUEUE_MAX,
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
    .reset = blk_reset,
    .free = blk_free,
    .quiesce = blk_quiesce,
};

static void put_le32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

static void blk_build_config(VirtioBlk *b)
{
    uint8_t *c = b->config;
    uint64_t cap = htole64(b->capacity);
    memcpy(c + VIRTIO_BLK_CFG_CAPACITY, &cap, 8);
    put_le32(c + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_QUEUE_MAX - 2); /* header + status */
    put_le32(c + VIRTIO_BLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR);
    put_le32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_DWZ_SECTORS);
    put_le32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VIRTIO_BLK_MAX_DWZ_SEGS);
    put_le32(c + VIRTIO_BLK_CFG_DISCARD_ALIGN, 8); /* 4 KiB: hole-punching granularity */
    put_le32(c + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, VIRTIO_BLK_MAX_DWZ_SECTORS);
    put_le32(c + VIRTIO_BLK_CFG_MAX_WZ_SEG, VIRTIO_BLK_MAX_DWZ_SEGS);
    c[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = 1;
}

static void blk_init_fields(VirtioBlk *b, const VirtioMmioConfig *mcfg, const VirtioBlkConfig *bcfg)
{
    virtio_mmio_init(&b->vdev, &blk_ops, mcfg);
    b->disk = bcfg->disk;
    b->loop = bcfg->loop;
    b->capacity = block_length(b->disk) / VIRTIO_BLK_SECTOR;
    b->todo_tail = &b->todo;
    b->jobs_tail = &b->jobs;
    char id[VIRTIO_BLK_ID_BYTES + 1]; /* b->id is NUL-padded, unterminated at 20 bytes */
    if (bcfg->serial)
        snprintf(id, sizeof(id), "%s", bcfg->serial);
    else
        snprintf(id, sizeof(id), "hostel-%llx", (unsigned long long)mcfg->base);
    memcpy(b->id, id, strlen(id));
    if (b->disk->read_only)
        b->vdev.device_features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
    else
        b->vdev.device_features |=
            VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
    blk_build_config(b);
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->idle, NULL);
}

VirtioMmio *virtio_blk_new(const VirtioMmioConfig *mcfg, const VirtioBlkConfig *bcfg, Error *err)
{
    VirtioBlk *b = calloc(1, sizeof(*b));
    if (!b) {
        block_close(bcfg->disk);
        error_set(err, "out of memory creating virtio-blk");
        return NULL;
    }
    blk_init_fields(b, mcfg, bcfg);
    int rc = pthread_create(&b->worker, NULL, blk_worker, b);
    if (rc != 0) {
        blk_free(&b->vdev);
        error_set_errno(err, rc, "cannot start the virtio-blk worker thread");
        return NULL;
    }
    b->worker_started = true;
    return &b->vdev;
}

void virtio_blk_stats(VirtioMmio *v, VirtioBlkStats *st)
{
    static const VirtioBlkStats none;
    *st = v && v->ops == &blk_ops ? blk_of(v)->stats : none;
}

BlockDev *virtio_blk_disk(VirtioMmio *v)
{
    return v && v->ops == &blk_ops ? blk_of(v)->disk : NULL;
}

int virtio_blk_queue_job(VirtioMmio *v, VirtioBlkJobFn fn, void *opaque, Error *err)
{
    VirtioBlk *b = blk_of(v);
    BlkJob *j = malloc(sizeof(*j));
    if (!j)
        return error_set(err, "out of memory queueing a disk job");
    *j = (BlkJob){.fn = fn, .opaque = opaque};
    pthread_mutex_lock(&b->lock);
    j->seq = b->seq++;
    *b->jobs_tail = j;
    b->jobs_tail = &j->next;
    pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&b->lock);
    return 0;
}
