/*
 * virtio-rng: each chain on the request queue gets its writable buffers
 * filled with getrandom() bytes (up to VIRTIO_RNG_MAX_REQUEST per chain)
 * and is returned at once.
 */
#include "virtio/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "util/compiler.h"

typedef struct VirtioRng {
    VirtioMmio vdev; /* first: container_of */
    VirtqElem elem;  /* the chain being served */
} VirtioRng;

/* Fill len bytes at p; returns how many were filled (less if the pool is not ready). */
static size_t rng_fill(uint8_t *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(p + done, len - done, GRND_NONBLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    return done;
}

/* Fill the writable part of e, in order; returns the bytes written. */
static uint32_t rng_serve(const VirtqElem *e)
{
    size_t budget = VIRTIO_RNG_MAX_REQUEST, written = 0;
    for (unsigned i = e->n_out; i < e->n_out + e->n_in && budget; i++) {
        size_t want = e->iov[i].iov_len < budget ? e->iov[i].iov_len : budget;
        size_t got = rng_fill(e->iov[i].iov_base, want);
        written += got;
        budget -= got;
        if (got < want)
            break;
    }
    return (uint32_t)written;
}

static void rng_queue_notify(VirtioMmio *v, unsigned q)
{
    VirtioRng *r = container_of(v, VirtioRng, vdev);
    bool pushed = false;
    while (virtq_pop(&v->vq[0], &r->elem) == 1) {
        virtq_push(&v->vq[0], &r->elem, rng_serve(&r->elem));
        pushed = true;
    }
    if (pushed)
        virtio_mmio_notify_used(v, 0);
}

static void rng_free(VirtioMmio *v)
{
    free(container_of(v, VirtioRng, vdev));
}

static const VirtioDeviceOps rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .queue_max = VIRTIO_RNG_QUEUE_MAX,
    .queue_notify = rng_queue_notify,
    .free = rng_free,
};

VirtioMmio *virtio_rng_new(const VirtioMmioConfig *mcfg, Error *err)
{
    VirtioRng *r = malloc(sizeof(*r));
    if (!r) {
        error_set(err, "out of memory creating virtio-rng");
        return NULL;
    }
    virtio_mmio_init(&r->vdev, &rng_ops, mcfg);
    return &r->vdev;
}
