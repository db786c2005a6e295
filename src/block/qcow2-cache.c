/*
 * Cache of cluster-sized metadata tables (L2 tables, refcount blocks):
 * a hash from host offset to slot, an LRU list for eviction, slot memory
 * allocated on first use so a large cache costs only what the image uses.
 * Writing back a dirty L2 table first puts the refcount blocks on disk
 * (unless lazy refcounts), so no L2 entry ever points at a cluster whose
 * refcount is still only in memory.
 */
#include "block/qcow2.h"

#include <stdlib.h>
#include <string.h>

static uint32_t slot_hash(const Qcow2Cache *c, uint64_t off)
{
    return (uint32_t)(((off >> 9) * 0x9e3779b97f4a7c15ull) >> 32) & (c->nhash - 1);
}

static void lru_push_tail(Qcow2Cache *c, int32_t i)
{
    c->e[i].prev = c->tail;
    c->e[i].next = -1;
    if (c->tail >= 0)
        c->e[c->tail].next = i;
    c->tail = i;
    if (c->head < 0)
        c->head = i;
}

int qcow2_cache_init(Qcow2 *q, Qcow2Cache *c, uint64_t bytes, bool is_l2, Error *err)
{
    uint64_t n = bytes >> q->cluster_bits;
    if (n < 4)
        n = 4;
    if (n > (1u << 20))
        n = 1u << 20;
    uint32_t nhash = 1;
    while (nhash < n)
        nhash <<= 1;
    memset(c, 0, sizeof(*c));
    c->e = calloc(n, sizeof(*c->e));
    c->hash = malloc(sizeof(*c->hash) * nhash);
    if (!c->e || !c->hash)
        return error_set(err, "out of memory for the qcow2 cache");
    c->n = (int32_t)n;
    c->nhash = nhash;
    c->is_l2 = is_l2;
    c->head = c->tail = -1;
    for (uint32_t i = 0; i < nhash; i++)
        c->hash[i] = -1;
    for (int32_t i = 0; i < c->n; i++) {
        c->e[i].hnext = c->e[i].prev = c->e[i].next = -1;
        lru_push_tail(c, i);
    }
    return 0;
}

void qcow2_cache_destroy(Qcow2Cache *c)
{
    for (int32_t i = 0; c->e && i < c->n; i++)
        free(c->e[i].data);
    free(c->e);
    free(c->hash);
    memset(c, 0, sizeof(*c));
}

static void lru_unlink(Qcow2Cache *c, int32_t i)
{
    Qcow2CacheEntry *e = &c->e[i];
    if (e->prev >= 0)
        c->e[e->prev].next = e->next;
    else if (c->head == i)
        c->head = e->next;
    if (e->next >= 0)
        c->e[e->next].prev = e->prev;
    else if (c->tail == i)
        c->tail = e->prev;
    e->prev = e->next = -1;
}

static void lru_push_head(Qcow2Cache *c, int32_t i)
{
    c->e[i].next = c->head;
    c->e[i].prev = -1;
    if (c->head >= 0)
        c->e[c->head].prev = i;
    c->head = i;
    if (c->tail < 0)
        c->tail = i;
}

static int32_t lookup(const Qcow2Cache *c, uint64_t off)
{
    for (int32_t i = c->hash[slot_hash(c, off)]; i >= 0; i = c->e[i].hnext) {
        if (c->e[i].offset == off)
            return i;
    }
    return -1;
}

static void hash_remove(Qcow2Cache *c, int32_t i)
{
    int32_t *p = &c->hash[slot_hash(c, c->e[i].offset)];
    while (*p >= 0 && *p != i)
        p = &c->e[*p].hnext;
    if (*p == i)
        *p = c->e[i].hnext;
    c->e[i].hnext = -1;
    c->e[i].offset = 0;
}

static int write_entry(Qcow2 *q, Qcow2Cache *c, int32_t i, Error *err)
{
    Qcow2CacheEntry *e = &c->e[i];
    if (!e->dirty)
        return 0;
    if (block_file_pwrite(q->file, e->offset, e->data, q->cluster_size, err) < 0)
        return -1;
    e->dirty = false;
    c->ndirty--;
    return 0;
}

/*
 * Before an L2 table reaches the disk, the refcounts of what it points to
 * must be there (lazy refcounts: only the data written into new clusters).
 */
static int before_l2_write(Qcow2 *q, Error *err)
{
    if (!q->lazy && qcow2_cache_write(q, &q->rb_cache, err) < 0)
        return -1;
    if (!q->l2_needs_sync)
        return 0;
    if (block_file_sync(q->file, err) < 0)
        return -1;
    q->l2_needs_sync = false;
    return 0;
}

/* The least recently used slot (empty ones sit at the tail), written back if dirty. */
static int32_t take_slot(Qcow2 *q, Qcow2Cache *c, Error *err)
{
    int32_t i = c->tail;
    if (c->e[i].offset) {
        if (c->e[i].dirty && c->is_l2 && before_l2_write(q, err) < 0)
            return -1;
        if (write_entry(q, c, i, err) < 0)
            return -1;
        hash_remove(c, i);
    }
    if (!c->e[i].data && !(c->e[i].data = malloc(q->cluster_size))) {
        error_set(err, "out of memory for the qcow2 cache");
        return -1;
    }
    return i;
}

uint8_t *qcow2_cache_get(Qcow2 *q, Qcow2Cache *c, uint64_t off, bool fresh, Error *err)
{
    if (off == 0 || (off & (q->cluster_size - 1)) || off >= QCOW2_MAX_OFFSET) {
        qcow2_corrupt(q, err, "metadata table at bad offset 0x%llx", (unsigned long long)off);
        return NULL;
    }
    int32_t i = lookup(c, off);
    if (i < 0) {
        /* The slot stays the empty tail until it is filled (a failed read leaves it so). */
        if ((i = take_slot(q, c, err)) < 0)
            return NULL;
        if (fresh)
            memset(c->e[i].data, 0, q->cluster_size);
        else if (block_file_pread(q->file, off, c->e[i].data, q->cluster_size, err) < 0)
            return NULL;
        c->e[i].offset = off;
        uint32_t h = slot_hash(c, off);
        c->e[i].hnext = c->hash[h];
        c->hash[h] = i;
    } else if (fresh) {
        memset(c->e[i].data, 0, q->cluster_size);
    }
    lru_unlink(c, i);
    lru_push_head(c, i);
    return c->e[i].data;
}

void qcow2_cache_mark_dirty(Qcow2Cache *c, const uint8_t *table)
{
    int32_t i = c->head; /* almost always the table just fetched */
    while (i >= 0 && c->e[i].data != table)
        i = c->e[i].next;
    if (i >= 0 && !c->e[i].dirty) {
        c->e[i].dirty = true;
        c->ndirty++;
    }
}

int qcow2_cache_write(Qcow2 *q, Qcow2Cache *c, Error *err)
{
    if (c->ndirty == 0)
        return 0;
    if (c->is_l2 && before_l2_write(q, err) < 0)
        return -1;
    for (int32_t i = c->head; i >= 0 && c->ndirty; i = c->e[i].next) {
        if (write_entry(q, c, i, err) < 0)
            return -1;
    }
    return 0;
}

void qcow2_cache_forget(Qcow2Cache *c, uint64_t off)
{
    int32_t i = lookup(c, off);
    if (i < 0)
        return;
    if (c->e[i].dirty) {
        c->e[i].dirty = false;
        c->ndirty--;
    }
    hash_remove(c, i);
    lru_unlink(c, i);
    lru_push_tail(c, i);
}

int qcow2_cache_flush(Qcow2 *q, Error *err)
{
    if (qcow2_cache_write(q, &q->rb_cache, err) < 0)
        return -1;
    return qcow2_cache_write(q, &q->l2_cache, err); /* syncs first when it must */
}

void qcow2_cache_drop(Qcow2 *q)
{
    Qcow2Cache *c = &q->l2_cache;
    for (int32_t i = 0; i < c->n; i++) {
        if (c->e[i].offset)
            qcow2_cache_forget(c, c->e[i].offset);
    }
}
