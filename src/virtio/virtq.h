/*
 * Split virtqueues (virtio 1.2, 2.7) as seen from the device: the driver
 * places descriptor chains in the available ring, the device pops them as
 * scatter-gather lists of host pointers into guest RAM, and returns them
 * through the used ring.
 *
 * Every value the guest controls is checked before use: ring addresses,
 * alignment and sizes, descriptor indexes, chain lengths (which catches
 * loops), indirect tables, buffer addresses and lengths.  A violation calls
 * the queue's fail hook once (the transport marks the device as needing a
 * reset) and the queue then refuses all work until it is reset; nothing
 * outside guest RAM is ever read or written.
 *
 * Ring fields are read with acquire loads and published with release
 * stores, with full fences where the event-index protocol needs them, so a
 * driver running on another host thread sees a consistent queue.  Only one
 * thread (the VM thread) may call the functions of one queue.
 */
#ifndef HOSTEL_VIRTIO_VIRTQ_H
#define HOSTEL_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hw/bus.h"

/* Largest queue size any device offers; also bounds the segments of one chain. */
#define VIRTQ_MAX_SIZE 256
/* Largest byte count of one direction of a chain (the used length is 32 bits). */
#define VIRTQ_MAX_CHAIN_BYTES 0xffffffffull

/* Descriptor flags. */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_DESC_SIZE 16
#define VIRTQ_USED_ELEM_SIZE 8

/*
 * One popped chain.  iov[0, n_out) are the device-readable buffers in
 * chain order, iov[n_out, n_out + n_in) the device-writable ones; gpa[]
 * holds the guest-physical address of each.  Zero-length buffers are left
 * out.  Every iov lies wholly inside guest RAM.
 */
typedef struct VirtqElem {
    uint16_t head;    /* head descriptor index, returned in the used element */
    uint32_t gen;     /* queue generation at the pop (a reset makes the chain stale) */
    unsigned n_out;   /* device-readable segments */
    unsigned n_in;    /* device-writable segments */
    uint64_t out_len; /* bytes in the readable segments */
    uint64_t in_len;  /* bytes in the writable segments */
    struct iovec iov[VIRTQ_MAX_SIZE];
    uint64_t gpa[VIRTQ_MAX_SIZE];
} VirtqElem;

/* Called once when the driver breaks the queue's rules; msg is one line. */
typedef void (*VirtqFailFn)(void *opaque, unsigned index, const char *msg);

typedef struct Virtq {
    Bus *bus;
    unsigned index; /* queue number, for messages */
    uint16_t max;   /* largest size the device accepts (power of two) */
    VirtqFailFn fail;
    void *fail_opaque;
    /* Registers, written by the driver through the transport. */
    uint16_t num;         /* queue size */
    uint32_t num_written; /* the QueueNum the driver wrote, for messages (may exceed 16 bits) */
    uint64_t desc_addr, avail_addr, used_addr;
    /* State while enabled. */
    bool ready;
    bool broken;    /* the driver broke a rule: no more work until reset */
    bool indirect;  /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
    bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
    uint8_t *desc;  /* host pointers to the three areas */
    uint8_t *avail;
    uint8_t *used;
    uint16_t last_avail;     /* next available-ring slot to pop */
    uint16_t used_idx;       /* next used-ring slot to fill (our copy of used->idx) */
    uint16_t inuse;          /* chains popped and not yet pushed */
    uint16_t signalled_used; /* used_idx when the driver was last interrupted */
    bool signalled_valid;
    uint32_t gen; /* bumped by reset, enable and disable */
} Virtq;

/* Prepare q (not ready) for queue number index of a device; max is a power of two. */
void virtq_init(Virtq *q, Bus *bus, unsigned index, uint16_t max, VirtqFailFn fail, void *opaque);

/*
 * After a state load: re-derive the host pointers of a ready queue from its
 * addresses, keeping its indices (in-flight chains are not saved: devices
 * complete them first).  False after failing the queue (areas not in RAM).
 */
bool virtq_remap(Virtq *q);

/* Save/restore table of one queue (registers, indices, notification state). */
extern const struct StateDesc virtq_state_desc;

/* Back to the reset state: not ready, size = max, addresses 0, not broken. */
void virtq_reset(Virtq *q);

/*
 * Start using the queue with the registers the driver wrote and the
 * negotiated ring features.  Checks the size (power of two, 1..max) and
 * that the three areas are aligned and inside RAM.  Returns true, or false
 * after calling the fail hook (the queue stays not ready).
 */
bool virtq_enable(Virtq *q, bool indirect, bool event_idx);

/* Stop using the queue (the driver wrote QueueReady = 0); registers are kept. */
void virtq_disable(Virtq *q);

/*
 * Take the next available chain into e.  Returns 1 when e was filled, 0
 * when the queue is empty (or not ready), -1 when the driver broke a rule
 * (the fail hook has been called; the queue is broken from then on).
 * With EVENT_IDX, an empty queue asks the driver to notify at the next
 * buffer.
 */
int virtq_pop(Virtq *q, VirtqElem *e);

/*
 * Chains the driver has made available that virtq_pop() has not taken yet
 * (0 if the queue is not ready, -1 if it is broken).  With EVENT_IDX an
 * empty queue asks the driver to notify when it adds the next one, as
 * virtq_pop() does.
 */
int virtq_avail(Virtq *q);

/*
 * Return a chain popped from q with the number of bytes the device wrote
 * into its writable buffers (clamped to in_len).  Tells the bus about
 * those writes first (bus_notify_dma_write), then publishes the used
 * element.  Call on the VM thread.  Ignored if the queue was reset or
 * disabled since the pop.
 */
void virtq_push(Virtq *q, const VirtqElem *e, uint32_t written);

/*
 * True if the driver wants an interrupt for the chains pushed since the
 * last call (EVENT_IDX's used_event, or the NO_INTERRUPT flag).
 */
bool virtq_need_irq(Virtq *q);

/* Copy up to len bytes of the readable part of e, from offset; returns the count. */
size_t virtq_elem_read(const VirtqElem *e, uint64_t offset, void *buf, size_t len);

/* Copy up to len bytes into the writable part of e, from offset; returns the count. */
size_t virtq_elem_write(const VirtqElem *e, uint64_t offset, const void *buf, size_t len);

/*
 * Describe bytes [offset, offset+len) of the readable (writable = false)
 * or writable part of e as at most max iovecs in out.  Returns the number
 * of iovecs, or -1 if the range is not wholly inside that part.
 */
int virtq_elem_slice(const VirtqElem *e, bool writable, uint64_t offset, uint64_t len,
                     struct iovec *out, unsigned max);

#endif
