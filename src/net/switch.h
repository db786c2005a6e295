/*
 * The virtual switch: an Ethernet learning bridge with 802.1Q VLANs, the
 * heart of a hosteld network (docs/net.md, "Networks").
 *
 * This module is the switching logic only: no sockets, no threads, no
 * clock of its own.  A port is whatever can take frames (a VM's socket, a
 * libslirp instance, a VXLAN tunnel, a tap); its owner hands each frame
 * the port received to switch_input() and gives the port an output
 * function that tries to send one frame.  The switch decides where the
 * frame goes (MAC learning with ageing, flooding, VLANs, isolation,
 * anti-spoofing, rate and flood limits) and keeps a bounded egress queue
 * per port for frames the output could not take at once, so a slow or
 * stuck receiver costs only its own queue's drops.
 *
 * Frames inside the switch belong to one VLAN (1..4094).  An access port
 * sends and receives untagged frames of its VLAN; a trunk port carries
 * the VLANs of its allowed set with an 802.1Q tag, and its native VLAN
 * (if any) untagged.  A frame never leaves on a port whose VLANs do not
 * include the frame's.
 *
 * Times are given by the caller in nanoseconds of a monotonic clock
 * (the tests drive it by hand).  Not thread-safe: one thread owns a switch.
 */
#ifndef HOSTEL_NET_SWITCH_H
#define HOSTEL_NET_SWITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"
#include "util/error.h"

#define SWITCH_NAME_MAX 64 /* a port's name with its NUL */
#define SWITCH_VLAN_MIN 1
#define SWITCH_VLAN_MAX 4094
#define SWITCH_DEFAULT_VLAN 1
#define SWITCH_DEFAULT_AGEING 300 /* seconds a learned address is kept without traffic */
#define SWITCH_DEFAULT_FDB_MAX 4096
#define SWITCH_DEFAULT_PORT_MACS 256 /* addresses one port may have in the table */
#define SWITCH_DEFAULT_QUEUE 256     /* frames waiting for one port */
#define SWITCH_MAX_PORTS 1024

typedef struct Switch Switch;
typedef struct SwitchPort SwitchPort;

typedef enum SwitchPortMode {
    SWITCH_ACCESS, /* untagged frames of one VLAN */
    SWITCH_TRUNK,  /* tagged frames of the allowed VLANs, and the native VLAN untagged */
} SwitchPortMode;

/* A port's options: plain data, copyable. */
typedef struct SwitchPortConfig {
    char name[SWITCH_NAME_MAX]; /* unique on the switch: 1..63 of [A-Za-z0-9._:-] */
    SwitchPortMode mode;
    uint16_t vlan;                              /* access: its VLAN; trunk: native VLAN, 0 = none */
    uint8_t allowed[(SWITCH_VLAN_MAX + 8) / 8]; /* trunk: bit v set = VLAN v carried tagged */
    bool uplink;              /* an uplink (NAT, tunnel, host): isolated ports may reach it */
    bool isolated;            /* reaches uplink ports only, and only they reach it */
    bool spoof_check;         /* drop frames whose source address is not mac */
    uint8_t mac[NET_MAC_LEN]; /* with spoof_check: the one address the port may send from */
    uint64_t rate_bps;        /* ingress limit in bits per second; 0 = none */
    uint32_t
        flood_pps; /* broadcast, multicast and unknown unicast from the port, frames/s; 0 = none */
    uint32_t queue_frames; /* egress queue limit; 0 = SWITCH_DEFAULT_QUEUE */
    uint32_t max_macs;     /* table entries the port may hold; 0 = SWITCH_DEFAULT_PORT_MACS */
} SwitchPortConfig;

typedef struct SwitchPortStats {
    uint64_t rx_frames, rx_bytes; /* taken from the port (before any drop) */
    uint64_t tx_frames, tx_bytes; /* handed to the port's output */
    uint64_t drop_malformed;      /* shorter than an Ethernet header, or a bad tag */
    uint64_t drop_vlan;           /* a VLAN the port does not carry */
    uint64_t drop_spoof;          /* a source address other than the port's own */
    uint64_t drop_rate;           /* over rate_bps */
    uint64_t drop_flood;          /* over flood_pps */
    uint64_t drop_queue;          /* for this port, with its egress queue full */
    uint64_t drop_gone;           /* for this port, its output reported the peer gone */
    uint32_t queued;              /* frames waiting in the egress queue now */
    uint32_t ipv4; /* the port's host's IPv4 address (network order), learned from DHCP
                      replies to it and its own ARP/IPv4 frames; 0 = none yet */
} SwitchPortStats;

typedef struct SwitchConfig {
    uint32_t ageing_s; /* 0 = SWITCH_DEFAULT_AGEING */
    uint32_t fdb_max;  /* 0 = SWITCH_DEFAULT_FDB_MAX */
} SwitchConfig;

/*
 * A port's output: try to send one frame (as it goes on the wire: tagged
 * or not, as the port's mode says) now.  flooded: a broadcast, multicast
 * or unknown unicast frame (an output with a deep buffer of its own may
 * refuse those sooner than unicast, so a flood cannot fill it: the
 * switch's queue, where unicast goes first, holds them instead).  Returns
 * 1 if it was sent, 0 if the port cannot take it now (the switch queues it
 * and sends it from switch_port_flush() when the owner says the port is
 * writable), -1 if the peer is gone (the frame is dropped and counted).
 */
typedef int (*SwitchOutputFn)(void *opaque, const uint8_t *frame, size_t len, bool flooded);

/* A new switch with no port.  Returns NULL with err filled. */
Switch *switch_new(const SwitchConfig *cfg, Error *err);

/* Free the switch and every port still on it (their owners are not called). */
void switch_free(Switch *sw);

/* Fill cfg with an access port on VLAN 1: no limits, no checks, not an uplink. */
void switch_port_config_default(SwitchPortConfig *cfg, const char *name);

/* Check a port's options (name, VLAN numbers, a trunk with something to carry). */
int switch_port_config_check(const SwitchPortConfig *cfg, Error *err);

/*
 * Add a port.  Returns NULL with err filled (bad options, a name in use,
 * SWITCH_MAX_PORTS ports).
 */
SwitchPort *switch_port_add(Switch *sw, const SwitchPortConfig *cfg, SwitchOutputFn output,
                            void *opaque, Error *err);

/* Remove a port: its table entries and queued frames go with it. */
void switch_port_remove(Switch *sw, SwitchPort *port);

/* Change a port's options (the name stays); its learned addresses are forgotten. */
int switch_port_set_config(Switch *sw, SwitchPort *port, const SwitchPortConfig *cfg, Error *err);

SwitchPort *switch_port_find(Switch *sw, const char *name);
const SwitchPortConfig *switch_port_config(const SwitchPort *port);
void switch_port_stats(const SwitchPort *port, SwitchPortStats *st);

/* Call fn for every port, in the order they were added. */
void switch_port_foreach(Switch *sw, void (*fn)(void *opaque, SwitchPort *port), void *opaque);

/*
 * A frame the port received (as on its wire).  The switch learns its
 * source, then sends it on to the ports it is for: each output is tried at
 * once; what cannot go now waits in that port's queue.
 */
void switch_input(Switch *sw, SwitchPort *in, const uint8_t *frame, size_t len, uint64_t now_ns);

/* True if frames wait in the port's queue (the owner should watch for writability). */
bool switch_port_pending(const SwitchPort *port);

/*
 * The port can take frames again: send from its queue until empty or the
 * output blocks, known unicast before flooded frames (switch.c: egress priority).
 */
void switch_port_flush(Switch *sw, SwitchPort *port);

/* Forget table entries not refreshed for the ageing time. */
void switch_age(Switch *sw, uint64_t now_ns);

/* One learned address. */
typedef struct SwitchFdbEntry {
    uint8_t mac[NET_MAC_LEN];
    uint16_t vlan;
    const SwitchPort *port;
    uint64_t last_seen_ns;
} SwitchFdbEntry;

/* Call fn for every entry of the address table. */
void switch_fdb_foreach(Switch *sw, void (*fn)(void *opaque, const SwitchFdbEntry *e),
                        void *opaque);

#endif
