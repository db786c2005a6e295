/* Decoded-block cache: pa hash + per-page chains over a bump arena. */
#include "cpu/bcache.h"

#include <stdlib.h>
#include <string.h>

#define HASH_BITS 15
#define PAGE_HASH_BITS 12

struct BlockCache {
    uint8_t *arena;
    size_t arena_size;
    size_t used;
    Block *hash[1u << HASH_BITS];
    Block *pages[1u << PAGE_HASH_BITS]; /* chains of blocks by page */
    BlockCacheStats stats;
};

static unsigned hash_pa(uint64_t pa)
{
    return (unsigned)(((pa >> 1) ^ (pa >> (HASH_BITS + 1))) & ((1u << HASH_BITS) - 1));
}

static unsigned hash_page(uint64_t pa)
{
    uint64_t pn = pa >> 12;
    return (unsigned)((pn ^ (pn >> PAGE_HASH_BITS)) & ((1u << PAGE_HASH_BITS) - 1));
}

BlockCache *bcache_new(size_t arena_bytes)
{
    BlockCache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->arena = malloc(arena_bytes);
    if (!c->arena) {
        free(c);
        return NULL;
    }
    c->arena_size = arena_bytes;
    return c;
}

void bcache_free(BlockCache *c)
{
    if (!c)
        return;
    free(c->arena);
    free(c);
}

Block *bcache_lookup(BlockCache *c, uint64_t pa)
{
    for (Block *b = c->hash[hash_pa(pa)]; b; b = b->hash_next)
        if (b->pa == pa)
            return b;
    return NULL;
}

void bcache_flush(BlockCache *c)
{
    memset(c->hash, 0, sizeof(c->hash));
    memset(c->pages, 0, sizeof(c->pages));
    c->used = 0;
    c->stats.flushes++;
}

static size_t block_size(unsigned ninsns)
{
    size_t sz = sizeof(Block) + (ninsns + 1) * sizeof(DecodedInsn);
    return (sz + 15) & ~(size_t)15;
}

Block *bcache_alloc(BlockCache *c, uint64_t pa, unsigned ninsns)
{
    size_t sz = block_size(ninsns);
    if (c->used + sz > c->arena_size)
        bcache_flush(c);
    Block *b = (Block *)(c->arena + c->used);
    memset(b, 0, sizeof(*b));
    b->pa = pa;
    return b;
}

void bcache_insert(BlockCache *c, Block *b)
{
    unsigned h = hash_pa(b->pa), p = hash_page(b->pa);
    c->used += block_size(b->ninsns);
    b->valid = true;
    b->hash_next = c->hash[h];
    c->hash[h] = b;
    b->page_next = c->pages[p];
    c->pages[p] = b;
    c->stats.blocks++;
}

static void unlink_hash(BlockCache *c, Block *b)
{
    for (Block **pp = &c->hash[hash_pa(b->pa)]; *pp; pp = &(*pp)->hash_next) {
        if (*pp == b) {
            *pp = b->hash_next;
            return;
        }
    }
}

unsigned bcache_invalidate_page(BlockCache *c, uint64_t page_pa)
{
    uint64_t pn = page_pa >> 12;
    unsigned n = 0;
    Block **pp = &c->pages[hash_page(page_pa)];
    while (*pp) {
        Block *b = *pp;
        if ((b->pa >> 12) == pn) {
            *pp = b->page_next;
            unlink_hash(c, b);
            b->valid = false;
            n++;
        } else {
            pp = &b->page_next;
        }
    }
    c->stats.invalidations++;
    return n;
}

static struct JcEntry *jc_slot(JumpCache *j, uint64_t va)
{
    return &j->e[(va >> 1) & ((1u << JCACHE_BITS) - 1)];
}

Block *jcache_lookup(JumpCache *j, const BlockCache *c, uint64_t va, unsigned mmu_idx)
{
    struct JcEntry *e = jc_slot(j, va);
    if (e->va == va && e->key == (j->gen << 2 | mmu_idx) && e->bc_gen == c->stats.flushes &&
        e->b->valid)
        return e->b;
    return NULL;
}

void jcache_store(JumpCache *j, const BlockCache *c, uint64_t va, unsigned mmu_idx, Block *b)
{
    struct JcEntry *e = jc_slot(j, va);
    e->va = va;
    e->key = j->gen << 2 | mmu_idx;
    e->bc_gen = c->stats.flushes;
    e->b = b;
}

void jcache_flush(JumpCache *j)
{
    j->gen++;
}

uint64_t bcache_generation(const BlockCache *c)
{
    return c->stats.flushes;
}

BlockCacheStats bcache_stats(const BlockCache *c)
{
    return c->stats;
}
