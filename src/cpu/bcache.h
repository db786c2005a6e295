/*
 * The decoded-block cache of one hart.
 *
 * A block is a run of decoded instructions starting at a guest-physical
 * address, ending at the first control transfer or system instruction, at
 * the end of its 4 KiB page, or at BLOCK_MAX_INSNS.  Blocks never cross a
 * page, so invalidating a page invalidates exactly the blocks inside it.
 * Blocks live in a bump arena that is emptied whole when full.
 */
#ifndef HOSTEL_CPU_BCACHE_H
#define HOSTEL_CPU_BCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/decode.h"

#define BLOCK_MAX_INSNS 64

typedef struct Block {
    uint64_t pa;             /* guest-physical address of the first instruction */
    struct Block *hash_next; /* chain in the pa hash */
    struct Block *page_next; /* chain of blocks in the same page */
    struct Block *next[2];   /* successors in the same page: [0] fall-through,
                                 [1] taken; NULL until first used */
    uint32_t ninsns;         /* number of instructions (without the end marker) */
    uint32_t bytes;          /* guest bytes covered */
    bool valid;              /* false once invalidated (memory stays until a flush) */
    DecodedInsn insns[];     /* ninsns instructions, then one OP_BLOCK_END */
} Block;

typedef struct BlockCache BlockCache;

/* Create an empty cache with an arena of arena_bytes; NULL on allocation failure. */
BlockCache *bcache_new(size_t arena_bytes);
void bcache_free(BlockCache *c);

/* The valid block starting at pa, or NULL. */
Block *bcache_lookup(BlockCache *c, uint64_t pa);

/* Number of full flushes so far: a block pointer taken before a change of
 * this number may point at reused memory. */
uint64_t bcache_generation(const BlockCache *c);

/*
 * Allocate room for a block of up to ninsns instructions (plus the end marker) starting at pa
 * (emptying the whole cache first if the arena is full).  The caller fills
 * it and then calls bcache_insert.  Never fails.
 */
Block *bcache_alloc(BlockCache *c, uint64_t pa, unsigned ninsns);
/* Publish a filled block; shrinks its arena use to the final ninsns. */
void bcache_insert(BlockCache *c, Block *b);

/* Drop every block inside the page that holds page_pa; returns how many. */
unsigned bcache_invalidate_page(BlockCache *c, uint64_t page_pa);
/* Drop every block. */
void bcache_flush(BlockCache *c);

/*
 * The jump cache of one hart: guest virtual pc (under one fetch MMU index)
 * -> block, to skip the fetch-TLB and hash lookups for indirect jumps and
 * cross-page transfers.  It belongs to a hart (virtual addresses mean
 * different things on different harts) while blocks may be shared.
 * jcache_flush() must be called whenever virtual-to-physical mappings may
 * have changed (it is O(1): entries carry a generation); an emptied block
 * cache (bcache_generation) also invalidates every entry.
 */
#define JCACHE_BITS 12
typedef struct JumpCache {
    uint64_t gen; /* current generation (entries of older ones are stale) */
    struct JcEntry {
        uint64_t va;
        uint64_t key;    /* gen << 2 | MMU index */
        uint64_t bc_gen; /* bcache_generation() when stored */
        Block *b;
    } e[1u << JCACHE_BITS];
} JumpCache;

Block *jcache_lookup(JumpCache *j, const BlockCache *c, uint64_t va, unsigned mmu_idx);
void jcache_store(JumpCache *j, const BlockCache *c, uint64_t va, unsigned mmu_idx, Block *b);
void jcache_flush(JumpCache *j);

/* Statistics: blocks decoded, pages invalidated, full flushes. */
typedef struct BlockCacheStats {
    uint64_t blocks, invalidations, flushes;
} BlockCacheStats;
BlockCacheStats bcache_stats(const BlockCache *c);

#endif
