/*
 * VmConfig and its JSON codec (src/machine/vmconfig*.c): a full definition
 * survives a round trip; every refusal names the member at fault with its
 * exact message; unknown members are refused; a format-1 state file
 * configuration (one "net") reads into a one-card list; the default slot
 * layout for 0..6 disks and 0..2 cards; copies are deep.  This binary links
 * the codec with util/error.c and net/net.c only: no emulator.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "machine/vmconfig.h"
#include "tap.h"

/* from_text must fail with exactly msg (or, when msg ends in "...", start with it). */
static void refused(const char *json, const char *msg)
{
    VmConfig cfg;
    Error err = {0};
    int rc = vmconfig_from_text(json, strlen(json), &cfg, &err);
    size_t n = strlen(msg);
    bool prefix = n > 3 && strcmp(msg + n - 3, "...") == 0;
    bool same = prefix ? strncmp(err.msg, msg, n - 3) == 0 : strcmp(err.msg, msg) == 0;
    ok(rc < 0 && same, "refused %s: %s", json, msg);
    if (!same)
        printf("#   got '%s'\n", err.msg);
}

static void test_errors(void)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"[1]", "the configuration: not an object"},
        {"{\"ram\": 1}", "ram: unknown member"},
        {"{\"net\": null}", "net: unknown member"},
        {"{\"ram-size\": -5}", "ram-size: not a non-negative integer"},
        {"{\"ram-size\": \"1G\"}", "ram-size: not a non-negative integer"},
        {"{\"ram-size\": 1048576}", "ram-size: memory below 16 MiB (1024 KiB requested)"},
        {"{\"ram-size\": 16777217}", "ram-size: memory size must be a multiple of 4 KiB"},
        {"{\"ram-size\": 2199023255552}",
         "ram-size: memory above 1 TiB is not supported (2048 GiB requested)"},
        {"{\"harts\": 9}", "harts: 9 requested, 1 to 8 are supported"},
        {"{\"harts\": 0}", "harts: 0 requested, 1 to 8 are supported"},
        {"{\"boot\": {\"kernel\": 1}}", "boot.kernel: not a string"},
        {"{\"boot\": {\"kernal\": \"x\"}}", "boot.kernal: unknown member"},
        {"{\"boot\": []}", "boot: not an object"},
        {"{\"disks\": {}}", "disks: not an array"},
        {"{\"disks\": [{\"path\": \"/a\"}, {\"path\": 5}]}", "disks[1].path: not a string"},
        {"{\"disks\": [{\"read-only\": true}]}", "disks[0].path: missing"},
        {"{\"disks\": [{\"path\": \"/a\", \"read-only\": \"yes\"}]}",
         "disks[0].read-only: not true or false"},
        {"{\"disks\": [{\"path\": \"/a\", \"format\": \"vmdk\"}]}",
         "disks[0].format: 'vmdk' is not raw or qcow2"},
        {"{\"disks\": [{\"path\": \"/a\", \"l2-cache-size\": 8589934592}]}",
         "disks[0].l2-cache-size: at most 4 GiB"},
        {"{\"disks\": [{\"path\": \"/a\", \"cache\": \"none\"}]}",
         "disks[0].cache: unknown member"},
        {"{\"disks\": [{\"path\":\"a\"},{\"path\":\"b\"},{\"path\":\"c\"},{\"path\":\"d\"},"
         "{\"path\":\"e\"},{\"path\":\"f\"},{\"path\":\"g\"}]}",
         "disks: 7 entries, at most 6"},
        {"{\"nics\": [{}]}", "nics[0].kind: missing"},
        {"{\"nics\": [{\"kind\": \"bridge\"}]}",
         "nics[0].kind: 'bridge' is not user, tap, socket or network"},
        {"{\"nics\": [{\"kind\": \"none\"}]}",
         "nics[0].kind: 'none' is not user, tap, socket or network"},
        {"{\"nics\": [{\"kind\": \"user\", \"speed\": 10}]}", "nics[0].speed: unknown member"},
        {"{\"nics\": [{\"kind\": \"user\", \"mac\": \"zz:zz:zz:zz:zz:zz\"}]}",
         "nics[0].mac: 'zz:zz:zz:zz:zz:zz' is not a MAC address (six hex bytes like "
         "52:54:00:12:34:56, unicast, not zero)"},
        {"{\"nics\": [{\"kind\": \"user\"}, {\"kind\": \"user\", \"mac\": \"01:00:5e:00:00:01\"}]}",
         "nics[1].mac: '01:00:5e:00:00:01' is not a MAC address..."},
        {"{\"nics\": [{\"kind\": \"user\"}, {\"kind\": \"user\", \"mac\": \"52:54:00:12:34:56\"}]}",
         "nics[1].mac: 52:54:00:12:34:56 is nics[0]'s address too"},
        {"{\"nics\": [{\"kind\": \"tap\"}]}",
         "nics[0].ifname: missing (a tap card needs ifname or fd)"},
        {"{\"nics\": [{\"kind\": \"tap\", \"ifname\": \"a/b\"}]}",
         "nics[0].ifname: 'a/b' is not an interface name (1 to 15 letters, digits, '.', '_' or "
         "'-')"},
        {"{\"nics\": [{\"kind\": \"user\", \"ifname\": \"t0\"}]}",
         "nics[0].ifname: only a tap card has an interface name"},
        {"{\"nics\": [{\"kind\": \"tap\", \"ifname\": \"t0\", \"hostfwd\": [\"tcp::1-:2\"]}]}",
         "nics[0].hostfwd: only a user card forwards ports"},
        {"{\"nics\": [{\"kind\": \"user\", \"hostfwd\": \"tcp::1-:2\"}]}",
         "nics[0].hostfwd: not an array"},
        {"{\"nics\": [{\"kind\": \"user\", \"hostfwd\": [\"tcp::1-:2\", 7]}]}",
         "nics[0].hostfwd[1]: not a string"},
        {"{\"nics\": [{\"kind\": \"user\", \"hostfwd\": [\"tcp::99999-:22\"]}]}",
         "nics[0].hostfwd[0]: hostfwd 'tcp::99999-:22': expected..."},
        {"{\"nics\": [{\"kind\": \"user\", \"hostfwd\": [\"tcp::22-:22\", \"tcp::22-:23\"]}]}",
         "nics[0].hostfwd[1]: hostfwd 'tcp::22-:23': host port 22 is already forwarded"},
        {"{\"devices\": [\"console\"]}", "devices: expected an array of 8 slots"},
        {"{\"devices\": [\"disk:0\", \"rng\", \"console\", \"empty\", \"empty\", \"empty\", "
         "\"empty\", \"empty\"]}",
         "devices[0]: not a device (\"blk:N\", \"net:N\", \"rng\", \"console\", "
         "\"keyboard\", \"tablet\" or \"empty\")"},
        {"{\"nics\": [{\"kind\": \"user\"}], \"devices\": [\"net:0\", \"rng\", \"console\", "
         "\"net:1\", \"empty\", \"empty\", \"empty\", \"empty\"]}",
         "devices[3]: slot holds net 1 but there is no nics[1]"},
        {"{\"devices\": [\"blk:0\", \"rng\", \"console\", \"empty\", \"empty\", \"empty\", "
         "\"empty\", \"empty\"]}",
         "devices[0]: slot holds blk 0 but there is no disks[0]"},
        {"{\"devices\": [\"console\", \"console\", \"empty\", \"empty\", \"empty\", \"empty\", "
         "\"empty\", \"empty\"]}",
         "devices[1]: console is already in slot 0"},
        {"{\"disks\": [{\"path\": \"/a\"}], \"devices\": [\"console\", \"rng\", \"empty\", "
         "\"empty\", \"empty\", \"empty\", \"empty\", \"empty\"]}",
         "devices: no slot holds disks[0] (blk:0)"},
        {"{\"nics\": [{\"kind\": \"user\"}], \"devices\": [\"console\", \"rng\", \"empty\", "
         "\"empty\", \"empty\", \"empty\", \"empty\", \"empty\"]}",
         "devices: no slot holds nics[0] (net:0)"},
        {"{\"devices\": [\"rng\", \"empty\", \"empty\", \"empty\", \"empty\", \"empty\", "
         "\"empty\", \"empty\"]}",
         "devices: no slot holds the console"},
        /* too many devices for the 8 slots (the default layout) */
        {"{\"disks\": [{\"path\":\"a\"},{\"path\":\"b\"},{\"path\":\"c\"},{\"path\":\"d\"},"
         "{\"path\":\"e\"}], \"nics\": [{\"kind\": \"user\"}, {\"kind\": \"user\"}]}",
         "devices: 5 disks and 2 network cards do not fit: the 8 virtio slots hold at most 6 "
         "beside rng and console"},
        {"{\"disks\": [{\"path\":\"a\"},{\"path\":\"b\"},{\"path\":\"c\"},{\"path\":\"d\"},"
         "{\"path\":\"e\"},{\"path\":\"f\"}], \"nics\": [{\"kind\": \"user\"}]}",
         "devices: at most 5 disks with a network card (--net none leaves room for 6)"},
        {"{\"ram-size\": ", "not JSON: ..."},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        refused(cases[i].json, cases[i].msg);
}

/* A definition using every member, with a layout that is not the default. */
static void full_config(VmConfig *c)
{
    Error err = {0};
    NetConfig user, tap;
    vmconfig_default(c);
    c->ram_size = 512ull << 20;
    c->nharts = 4;
    vmconfig_set_string(&c->boot.kernel, "/k/Image", &err);
    vmconfig_set_string(&c->boot.initrd, "/k/initrd", &err);
    vmconfig_set_string(&c->boot.cmdline, "console=ttyS0 \"quoted\" \\ end", &err);
    vmconfig_set_string(&c->boot.bios, "/k/fw_dynamic.bin", &err);
    VmDisk a = {.path = "/d/a.qcow2", .format = "qcow2", .l2_cache_bytes = 4 << 20};
    VmDisk b = {.path = "/d/b.img", .read_only = true};
    vmconfig_add_disk(c, &a, &err);
    vmconfig_add_disk(c, &b, &err);
    net_config_parse_nic(&user, "user,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::5353-10.0.2.9:53",
                         0, &err);
    net_config_parse_nic(&tap, "tap,ifname=tap-7,mac=02:00:00:00:00:09", 1, &err);
    vmconfig_add_nic(c, &user, &err);
    vmconfig_add_nic(c, &tap, &err);
    static const VmSlot layout[VMCONFIG_SLOTS] = {
        {VM_DEV_CONSOLE, 0}, {VM_DEV_NET, 1}, {VM_DEV_BLK, 1}, {VM_DEV_EMPTY, 0},
        {VM_DEV_BLK, 0},     {VM_DEV_RNG, 0}, {VM_DEV_NET, 0}, {VM_DEV_EMPTY, 0},
    };
    memcpy(c->devices, layout, sizeof(layout));
    ok(err.msg[0] == 0 && vmconfig_check(c, &err) == 0, "the full definition is valid %s", err.msg);
}

static void test_round_trip(void)
{
    VmConfig c, back;
    Error err = {0};
    full_config(&c);
    char *text = vmconfig_to_text(&c);
    ok(text != NULL, "written as JSON");
    int rc = vmconfig_from_text(text, strlen(text), &back, &err);
    ok(rc == 0, "read back %s", err.msg);
    char *again = rc == 0 ? vmconfig_to_text(&back) : NULL;
    ok(again && strcmp(text, again) == 0, "written again, the same text");
    ok(rc == 0 && back.ram_size == c.ram_size && back.nharts == 4, "RAM and harts");
    ok(rc == 0 && !strcmp(back.boot.cmdline, c.boot.cmdline) &&
           !strcmp(back.boot.bios, "/k/fw_dynamic.bin") && !strcmp(back.boot.initrd, "/k/initrd"),
       "boot strings");
    ok(rc == 0 && back.ndisks == 2 && !strcmp(back.disks[0].path, "/d/a.qcow2") &&
           !strcmp(back.disks[0].format, "qcow2") && back.disks[0].l2_cache_bytes == 4 << 20 &&
           back.disks[1].read_only && back.disks[1].format == NULL,
       "disks");
    ok(rc == 0 && back.nnics == 2 && !memcmp(&back.nics[0], &c.nics[0], sizeof(NetConfig)) &&
           !memcmp(&back.nics[1], &c.nics[1], sizeof(NetConfig)),
       "cards, their forwards, MACs and interface");
    ok(rc == 0 && !memcmp(back.devices, c.devices, sizeof(c.devices)), "the slot layout");
    ok(rc == 0 && back.nics[1].mac[5] == 9 && back.nics[0].mac[5] == 0x56, "the MACs");
    free(text);
    free(again);
    vmconfig_free(&back);
    vmconfig_free(&c);
}

static void test_defaults(void)
{
    VmConfig c;
    Error err = {0};
    const char *json = "{\"nics\": [{\"kind\": \"user\"}, {\"kind\": \"user\"}]}";
    ok(vmconfig_from_text("{}", 2, &c, &err) == 0 && c.ram_size == VMCONFIG_DEFAULT_RAM &&
           c.nharts == 1 && c.ndisks == 0 && c.nnics == 0 && c.devices[0].kind == VM_DEV_RNG &&
           c.devices[1].kind == VM_DEV_CONSOLE && !c.boot.kernel,
       "an empty definition: 128 MiB, one hart, rng and console");
    vmconfig_free(&c);
    ok(vmconfig_from_text(json, strlen(json), &c, &err) == 0 && c.nics[0].mac[5] == 0x56 &&
           c.nics[1].mac[5] == 0x57 && c.devices[1].kind == VM_DEV_NET && c.devices[1].index == 1,
       "cards without mac get 52:54:00:12:34:56, :57, after the disks %s", err.msg);
    vmconfig_free(&c);
}

/* A format-1 configuration as hostel wrote it before VmConfig. */
static int read_v1(const char *text, VmConfig *c, Error *err)
{
    json_t *j = json_loads(text, 0, NULL);
    int rc = vmconfig_from_json_v1(j, c, err);
    json_decref(j);
    return rc;
}

static void test_v1(void)
{
    VmConfig c;
    Error err = {0};
    char fwd[80];
    const char *user =
        "{\"ram-size\":67108864,\"harts\":2,\"disks\":[{\"path\":\"/d/a.img\",\"read-only\":false,"
        "\"format\":null,\"l2-cache-size\":0}],\"net\":{\"kind\":\"user\",\"mac\":"
        "\"52:54:00:ab:cd:ef\",\"hostfwd\":[{\"udp\":false,\"host-addr\":2130706433,"
        "\"host-port\":2222,\"guest-addr\":0,\"guest-port\":22}]},\"devices\":[\"virtio-blk\","
        "\"virtio-net\",\"virtio-rng\",\"virtio-console\",\"virtio-mmio\",\"virtio-mmio\","
        "\"virtio-mmio\",\"virtio-mmio\"],\"boot\":{\"kernel\":\"/k/Image\",\"initrd\":null,"
        "\"cmdline\":\"console=ttyS0\",\"bios\":null}}";
    int rc = read_v1(user, &c, &err);
    ok(rc == 0, "a format-1 configuration reads %s", err.msg);
    if (rc == 0)
        net_hostfwd_format(&c.nics[0].fwd[0], fwd, sizeof(fwd));
    ok(rc == 0 && c.nnics == 1 && c.nics[0].kind == NET_USER && c.nics[0].mac[5] == 0xef &&
           c.nics[0].nfwd == 1 && !strcmp(fwd, "tcp:127.0.0.1:2222-:22"),
       "its net is nics[0], with its MAC and forward");
    ok(rc == 0 && c.devices[0].kind == VM_DEV_BLK && c.devices[1].kind == VM_DEV_NET &&
           c.devices[1].index == 0 && c.devices[2].kind == VM_DEV_RNG &&
           c.devices[3].kind == VM_DEV_CONSOLE && c.devices[4].kind == VM_DEV_EMPTY,
       "its device names become slots");
    ok(rc == 0 && c.nharts == 2 && c.ram_size == 64 << 20 && !strcmp(c.boot.kernel, "/k/Image") &&
           !strcmp(c.disks[0].path, "/d/a.img"),
       "RAM, harts, boot and disks");
    vmconfig_free(&c);
    const char *tap =
        "{\"ram-size\":67108864,\"harts\":1,\"disks\":[],\"net\":{\"kind\":\"tap\",\"mac\":"
        "\"52:54:00:12:34:56\",\"hostfwd\":[],\"ifname\":\"t0\"},\"devices\":[\"virtio-net\","
        "\"virtio-rng\",\"virtio-console\",\"\",\"\",\"\",\"\",\"\"],\"boot\":{\"kernel\":\"k\"}}";
    ok(read_v1(tap, &c, &err) == 0 && c.nnics == 1 && c.nics[0].kind == NET_TAP &&
           !strcmp(c.nics[0].ifname, "t0"),
       "a format-1 tap card %s", err.msg);
    vmconfig_free(&c);
    const char *none = "{\"ram-size\":67108864,\"harts\":1,\"disks\":[],\"net\":null,\"devices\":"
                       "[\"virtio-rng\",\"virtio-console\",\"\",\"\",\"\",\"\",\"\",\"\"],"
                       "\"boot\":{\"kernel\":\"k\"}}";
    ok(read_v1(none, &c, &err) == 0 && c.nnics == 0, "format 1 without a card %s", err.msg);
    vmconfig_free(&c);
    const char *nonet = "{\"ram-size\":67108864,\"harts\":1,\"disks\":[],\"devices\":"
                        "[\"virtio-rng\",\"virtio-console\",\"\",\"\",\"\",\"\",\"\",\"\"],"
                        "\"boot\":{\"kernel\":\"k\"}}";
    err.msg[0] = 0;
    ok(read_v1(nonet, &c, &err) < 0 && !strcmp(err.msg, "net: missing"), "format 1 needs net: %s",
       err.msg);
    const char *badmac = "{\"ram-size\":67108864,\"harts\":1,\"disks\":[],\"net\":{\"kind\":"
                         "\"user\",\"mac\":\"xx\",\"hostfwd\":[]},\"devices\":[\"virtio-net\","
                         "\"virtio-rng\",\"virtio-console\",\"\",\"\",\"\",\"\",\"\"],"
                         "\"boot\":{\"kernel\":\"k\"}}";
    ok(read_v1(badmac, &c, &err) < 0 && !strcmp(err.msg, "net.mac: 'xx' is not a MAC address"),
       "a bad format-1 MAC: %s", err.msg);
}

/* The layout the board always had, computed here independently. */
static VmSlot expected_slot(unsigned s, unsigned disks, unsigned nics)
{
    if (s < disks)
        return (VmSlot){VM_DEV_BLK, s};
    if (s < disks + nics)
        return (VmSlot){VM_DEV_NET, s - disks};
    if (s == disks + nics)
        return (VmSlot){VM_DEV_RNG, 0};
    if (s == disks + nics + 1)
        return (VmSlot){VM_DEV_CONSOLE, 0};
    return (VmSlot){VM_DEV_EMPTY, 0};
}

static void test_default_layout(void)
{
    for (unsigned d = 0; d <= 6; d++) {
        for (unsigned n = 0; n <= 2; n++) {
            VmConfig c;
            Error err = {0};
            NetConfig nic;
            VmDisk disk = {.path = "/d/x.img"};
            vmconfig_default(&c);
            for (unsigned i = 0; i < d; i++)
                vmconfig_add_disk(&c, &disk, NULL);
            for (unsigned i = 0; i < n; i++) {
                net_config_parse_nic(&nic, "user", i, NULL);
                vmconfig_add_nic(&c, &nic, NULL);
            }
            int rc = vmconfig_default_layout(&c, &err);
            bool fits = d + n + 2 <= VMCONFIG_SLOTS, same = true;
            for (unsigned s = 0; rc == 0 && s < VMCONFIG_SLOTS; s++) {
                VmSlot e = expected_slot(s, d, n);
                same &= c.devices[s].kind == e.kind && c.devices[s].index == e.index;
            }
            if (fits)
                ok(rc == 0 && same && vmconfig_check(&c, &err) == 0,
                   "%u disks, %u cards: disks, cards, rng, console, empty", d, n);
            else
                ok(rc < 0 && err.msg[0], "%u disks, %u cards: refused (%s)", d, n, err.msg);
            vmconfig_free(&c);
        }
    }
}

static void test_copy_and_slots(void)
{
    VmConfig c, copy;
    full_config(&c);
    ok(vmconfig_copy(&copy, &c, NULL) == 0, "copied");
    char *a = vmconfig_to_text(&c), *b = vmconfig_to_text(&copy);
    ok(a && b && !strcmp(a, b), "the copy writes the same JSON");
    ok(copy.disks[0].path != c.disks[0].path && copy.boot.kernel != c.boot.kernel,
       "the copy owns its strings");
    vmconfig_free(&c);
    ok(!strcmp(copy.disks[0].path, "/d/a.qcow2"), "the copy outlives the original");
    ok(vmconfig_slot_of(&copy, VM_DEV_NET, 0) == 6 && vmconfig_slot_of(&copy, VM_DEV_BLK, 1) == 2 &&
           vmconfig_slot_of(&copy, VM_DEV_NET, 2) == -1,
       "vmconfig_slot_of");
    vmconfig_free(&copy);
    free(a);
    free(b);
    static const char *const bad[] = {"blk", "blk:", "blk:01", "net:x", "rng:0", "blk:1x", "cd"};
    VmSlot s;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ok(!vmconfig_slot_parse(bad[i], &s), "slot '%s' refused", bad[i]);
    ok(vmconfig_slot_parse("net:12", &s) && s.kind == VM_DEV_NET && s.index == 12 &&
           vmconfig_slot_parse("empty", &s) && s.kind == VM_DEV_EMPTY,
       "slots parse");
}

/* --input: keyboard and tablet in free slots, kept by a new layout, refused when full. */
static void test_input_devices(void)
{
    VmConfig c;
    Error err = {0};
    VmDisk disk = {.path = "/d/x.img"};
    vmconfig_default(&c);
    vmconfig_add_disk(&c, &disk, NULL);
    vmconfig_default_layout(&c, NULL);
    ok(vmconfig_add_input(&c, &err) == 0 && c.devices[3].kind == VM_DEV_KEYBOARD &&
           c.devices[4].kind == VM_DEV_TABLET && vmconfig_check(&c, &err) == 0,
       "keyboard and tablet after rng and console");
    ok(vmconfig_add_input(&c, &err) == 0 && c.devices[5].kind == VM_DEV_EMPTY,
       "adding them again changes nothing");
    vmconfig_add_disk(&c, &disk, NULL);
    ok(vmconfig_default_layout(&c, &err) == 0 && c.devices[1].kind == VM_DEV_BLK &&
           c.devices[4].kind == VM_DEV_KEYBOARD && c.devices[5].kind == VM_DEV_TABLET,
       "a new layout (another disk) keeps them, after the console");
    char *text = vmconfig_to_text(&c);
    VmConfig back;
    ok(text && strstr(text, "\"keyboard\",\"tablet\"") &&
           vmconfig_from_text(text, strlen(text), &back, &err) == 0 &&
           back.devices[4].kind == VM_DEV_KEYBOARD && back.devices[5].kind == VM_DEV_TABLET,
       "round trip: \"keyboard\", \"tablet\"");
    vmconfig_free(&back);
    free(text);
    for (int i = 0; i < 3; i++)
        vmconfig_add_disk(&c, &disk, NULL);
    ok(vmconfig_default_layout(&c, &err) < 0 && strstr(err.msg, "2 input devices do not fit"),
       "5 disks, a card and both input devices do not fit: %s", err.msg);
    vmconfig_free(&c);
    vmconfig_default(&c);
    for (int i = 0; i < 5; i++)
        vmconfig_add_disk(&c, &disk, NULL);
    vmconfig_default_layout(&c, NULL);
    ok(vmconfig_add_input(&c, &err) < 0 && strstr(err.msg, "1 of the 8 virtio slots are free") &&
           vmconfig_slot_of(&c, VM_DEV_KEYBOARD, 0) < 0,
       "no room: refused, unchanged (%s)", err.msg);
    vmconfig_free(&c);
    refused("{\"devices\": [\"keyboard\", \"keyboard\", \"console\", \"empty\", \"empty\", "
            "\"empty\", \"empty\", \"empty\"]}",
            "devices[1]: keyboard is already in slot 0");
}

/* ---- socket, network and tap-by-fd cards ---- */

#define NIC(body) "{\"nics\": [" body "]}"

static void test_card_errors(void)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {NIC("{\"kind\": \"user\", \"path\": \"/a\"}"),
         "nics[0].path: only a socket card has a path"},
        {NIC("{\"kind\": \"network\", \"network\": \"lan\", \"path\": \"/a\"}"),
         "nics[0].path: only a socket card has a path"},
        {NIC("{\"kind\": \"socket\", \"path\": 5}"), "nics[0].path: not a string"},
        {NIC("{\"kind\": \"socket\", \"path\": \"\"}"),
         "nics[0].path: empty (expected a unix socket's path)"},
        {NIC("{\"kind\": \"socket\", \"path\": "
             "\"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaa\"}"),
         "nics[0].path: too long for a unix socket (at most 107 bytes)"},
        {NIC("{\"kind\": \"socket\"}"), "nics[0].path: missing (a socket card needs path or fd)"},
        {NIC("{\"kind\": \"socket\", \"path\": \"/a\", \"fd\": 3}"),
         "nics[0]: a socket card has path or fd, not both"},
        {NIC("{\"kind\": \"user\", \"fd\": 3}"),
         "nics[0].fd: only a tap, socket or network card has a descriptor"},
        {NIC("{\"kind\": \"socket\", \"fd\": 2}"),
         "nics[0].fd: not a descriptor number of 3 or more"},
        {NIC("{\"kind\": \"socket\", \"fd\": -1}"),
         "nics[0].fd: not a descriptor number of 3 or more"},
        {NIC("{\"kind\": \"socket\", \"fd\": \"3\"}"),
         "nics[0].fd: not a descriptor number of 3 or more"},
        {NIC("{\"kind\": \"socket\", \"fd\": 2147483648}"),
         "nics[0].fd: not a descriptor number of 3 or more"},
        {NIC("{\"kind\": \"socket\", \"fd\": 3}, {\"kind\": \"network\", \"network\": \"n\", "
             "\"fd\": 3}"),
         "nics[1].fd: 3 is nics[0]'s descriptor too"},
        {NIC("{\"kind\": \"tap\", \"ifname\": \"t0\", \"fd\": 4}"),
         "nics[0]: a tap card has ifname or fd, not both"},
        {NIC("{\"kind\": \"tap\", \"ifname\": 4}"), "nics[0].ifname: not a string"},
        {NIC("{\"kind\": \"socket\", \"fd\": 3, \"network\": \"lan\"}"),
         "nics[0].network: only a network card names a network"},
        {NIC("{\"kind\": \"network\"}"), "nics[0].network: missing"},
        {NIC("{\"kind\": \"network\", \"network\": 1}"), "nics[0].network: not a string"},
        {NIC("{\"kind\": \"network\", \"network\": \"-lan\"}"),
         "nics[0].network: '-lan' is not a network name (1 to 63 letters, digits, '.', '_' or "
         "'-', starting with a letter or digit)"},
        {NIC("{\"kind\": \"socket\", \"fd\": 3, \"vlan\": 10}"),
         "nics[0].vlan: only a network card has switch port options"},
        {NIC("{\"kind\": \"user\", \"isolated\": false}"),
         "nics[0].isolated: only a network card has switch port options"},
        {NIC("{\"kind\": \"tap\", \"fd\": 3, \"rate-mbit\": 1}"),
         "nics[0].rate-mbit: only a network card has switch port options"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"vlan\": 0}"),
         "nics[0].vlan: not a VLAN number (1 to 4094)"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"vlan\": 4095}"),
         "nics[0].vlan: not a VLAN number (1 to 4094)"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"vlan\": \"10\"}"),
         "nics[0].vlan: not a VLAN number (1 to 4094)"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"trunk\": [1], \"native\": true}"),
         "nics[0].native: not a VLAN number (1 to 4094)"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"trunk\": 10}"),
         "nics[0].trunk: not an array"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"trunk\": [10, 5000]}"),
         "nics[0].trunk[1]: not a VLAN number (1 to 4094)"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"trunk\": [10, 10]}"),
         "nics[0].trunk: VLAN 10 is listed twice"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"trunk\": [20, 10]}"),
         "nics[0].trunk: list the VLANs in ascending order (10 after 20)"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"native\": 1}"),
         "nics[0].native: only a trunk port (trunk) has a native VLAN"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"vlan\": 2, \"trunk\": [3]}"),
         "nics[0].vlan: a trunk port has no access VLAN (native gives its untagged frames a "
         "VLAN)"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"isolated\": 1}"),
         "nics[0].isolated: not true or false"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"spoof-check\": \"off\"}"),
         "nics[0].spoof-check: not true or false"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"rate-mbit\": -1}"),
         "nics[0].rate-mbit: not a non-negative integer"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"flood-pps\": 4294967296}"),
         "nics[0].flood-pps: at most 4294967295"},
        {NIC("{\"kind\": \"network\", \"network\": \"n\", \"vlans\": [1]}"),
         "nics[0].vlans: unknown member"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        refused(cases[i].json, cases[i].msg);
    char json[1024] = "{\"nics\": [{\"kind\": \"network\", \"network\": \"n\", \"trunk\": [1";
    char *p = json;
    for (int v = 2; v <= NET_MAX_TRUNK + 1; v++)
        p += strlen(p), sprintf(p, ", %d", v);
    strcat(json, "]}]}");
    refused(json, "nics[0].trunk: 65 entries, at most 64");
}

/* Cards vmconfig_check refuses that the codec cannot even express. */
static void test_card_checks(void)
{
    static const struct {
        const char *spec, *msg;
        void (*spoil)(NetConfig *n);
    } cases[] = {
        {"socket,path=/a", "nics[0].fd: 0 is not a descriptor number of 3 or more", NULL},
        {"user", "nics[0].fd: only a tap, socket or network card has a descriptor", NULL},
        {"tap,ifname=t0", "nics[0].path: only a socket card has a path", NULL},
        {"socket,fd=3", "nics[0].network: only a network card names a network", NULL},
        {"socket,fd=4", "nics[0]: only a network card has switch port options", NULL},
        {"network,name=lan", "nics[0].network: not a network name", NULL},
        {"network,name=lan", "nics[0].trunk: 0 is not a VLAN (1 to 4094)", NULL},
        {"socket,path=/a", "nics[0].path: too long for a unix socket", NULL},
        {"tap,fd=5", "nics[0].kind: a card's backend is user, tap, socket or network", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        VmConfig c;
        Error err = {0};
        NetConfig n;
        vmconfig_default(&c);
        net_config_parse(&n, cases[i].spec, NULL);
        switch (i) {
        case 0: n.fd = 0; break; /* a NetConfig zeroed by hand: fd 0 is not "none" */
        case 1: n.fd = 3; break;
        case 2: strcpy(n.path, "/a"); break;
        case 3: strcpy(n.network, "lan"); break;
        case 4: n.port.isolated = true; break;
        case 5: strcpy(n.network, "a b"); break;
        case 6: n.port.ntrunk = 1; break;
        case 7: memset(n.path, 'a', sizeof(n.path)); break;
        case 8: n.kind = NET_NONE; break;
        }
        c.nics[c.nnics++] = n;
        vmconfig_default_layout(&c, NULL);
        int rc = vmconfig_check(&c, &err);
        ok(rc < 0 && !strcmp(err.msg, cases[i].msg), "checked: %s", cases[i].msg);
        if (rc == 0 || strcmp(err.msg, cases[i].msg))
            printf("#   got '%s'\n", err.msg);
        vmconfig_free(&c);
    }
}

static void test_card_round_trip(void)
{
    static const char *const specs[] = {
        "socket,path=/run/sw.sock",
        "socket,fd=3",
        "network,name=lan",
        "network,name=lan2,fd=4,vlan=10",
        "network,name=lan3,fd=6,trunk=10:20,native=1,isolated,spoof-check=off,rate=100,"
        "flood=1000",
        "tap,fd=5",
    };
    static const char *const want =
        "\"nics\":[{\"kind\":\"socket\",\"mac\":\"52:54:00:12:34:56\",\"path\":\"/run/sw.sock\"},"
        "{\"kind\":\"socket\",\"mac\":\"52:54:00:12:34:57\",\"fd\":3},"
        "{\"kind\":\"network\",\"mac\":\"52:54:00:12:34:58\",\"network\":\"lan\"},"
        "{\"kind\":\"network\",\"mac\":\"52:54:00:12:34:59\",\"network\":\"lan2\",\"fd\":4,"
        "\"vlan\":10},"
        "{\"kind\":\"network\",\"mac\":\"52:54:00:12:34:5a\",\"network\":\"lan3\",\"fd\":6,"
        "\"trunk\":[10,20],\"native\":1,\"isolated\":true,\"spoof-check\":false,"
        "\"rate-mbit\":100,\"flood-pps\":1000},"
        "{\"kind\":\"tap\",\"mac\":\"52:54:00:12:34:5b\",\"fd\":5}]";
    VmConfig c, back;
    Error err = {0};
    vmconfig_default(&c);
    for (unsigned i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        NetConfig n;
        if (net_config_parse_nic(&n, specs[i], i, &err) < 0 || vmconfig_add_nic(&c, &n, &err) < 0)
            printf("#   %s: %s\n", specs[i], err.msg);
    }
    ok(vmconfig_default_layout(&c, &err) == 0 && vmconfig_check(&c, &err) == 0,
       "six cards of the new kinds are a valid definition %s", err.msg);
    char *text = vmconfig_to_text(&c);
    ok(text && strstr(text, want), "written with defaults and absent fds left out");
    if (text && !strstr(text, want))
        printf("#   %s\n", text);
    int rc = text ? vmconfig_from_text(text, strlen(text), &back, &err) : -1;
    ok(rc == 0, "read back %s", err.msg);
    bool same = rc == 0 && back.nnics == c.nnics;
    for (unsigned i = 0; same && i < c.nnics; i++)
        same = !memcmp(&back.nics[i], &c.nics[i], sizeof(NetConfig));
    ok(same, "every card reads back the same (fd -1 where none was written)");
    char *again = rc == 0 ? vmconfig_to_text(&back) : NULL;
    ok(again && text && !strcmp(text, again), "written again, the same text");
    free(text);
    free(again);
    if (rc == 0)
        vmconfig_free(&back);
    vmconfig_free(&c);
}

/* --display values, the "display" member and the gpu slot. */
static void test_display(void)
{
    VmDisplay d;
    Error err = {0};
    ok(vmconfig_display_parse(&d, "headless", &err) == 0 && d.enabled && d.width == 1024 &&
           d.height == 768,
       "--display headless: 1024x768");
    ok(vmconfig_display_parse(&d, "headless,height=600,width=800", &err) == 0 && d.width == 800 &&
           d.height == 600,
       "--display headless,height=600,width=800");
    ok(vmconfig_display_parse(&d, "none", &err) == 0 && !d.enabled, "--display none");
    static const char *const bad[] = {"",
                                      "vnc",
                                      "headlessx",
                                      "headless,",
                                      "headless,width=",
                                      "headless,width=15",
                                      "headless,height=4096",
                                      "headless,width=99999999999999999999",
                                      "headless,depth=8",
                                      "headless,width=-1"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.msg[0] = 0;
        ok(vmconfig_display_parse(&d, bad[i], &err) < 0 && !strncmp(err.msg, "--display", 9),
           "--display '%s' refused: %s", bad[i], err.msg);
    }
    VmVnc vnc;
    ok(vmconfig_display_parse_vnc(&d, &vnc, "vnc=127.0.0.1:5901", &err) == 0 && d.enabled &&
           d.width == 1024 && !strcmp(vnc.listen, "127.0.0.1:5901") && !vnc.password_file[0],
       "--display vnc=127.0.0.1:5901: a display with a VNC server");
    ok(vmconfig_display_parse_vnc(&d, &vnc,
                                  "vnc=unix:/run/x.sock,width=800,height=600,"
                                  "password-file=/etc/pw",
                                  &err) == 0 &&
           d.width == 800 && d.height == 600 && !strcmp(vnc.listen, "unix:/run/x.sock") &&
           !strcmp(vnc.password_file, "/etc/pw"),
       "--display vnc=unix:PATH,width=,height=,password-file=");
    ok(vmconfig_display_parse_vnc(&d, &vnc, "headless", &err) == 0 && !vnc.listen[0],
       "--display headless: no VNC server");
    static const char *const bad_vnc[] = {"vnc=",
                                          "vnc=,width=800",
                                          "vnc=:1,password-file=",
                                          "vnc=:1,width=1",
                                          "headless,password-file=/x",
                                          "vnc=:1,depth=8"};
    for (unsigned i = 0; i < sizeof(bad_vnc) / sizeof(bad_vnc[0]); i++) {
        err.msg[0] = 0;
        ok(vmconfig_display_parse_vnc(&d, &vnc, bad_vnc[i], &err) < 0 &&
               !strncmp(err.msg, "--display", 9),
           "--display '%s' refused: %s", bad_vnc[i], err.msg);
    }
    ok(vmconfig_display_parse(&d, "vnc=127.0.0.1:5901", &err) < 0,
       "vmconfig_display_parse (no front end) refuses vnc=");
    VmConfig c, back;
    vmconfig_default(&c);
    c.display = (VmDisplay){true, 800, 600};
    ok(vmconfig_default_layout(&c, &err) == 0 && c.devices[2].kind == VM_DEV_GPU,
       "the default layout puts the gpu after the console");
    char *text = vmconfig_to_text(&c);
    ok(text && strstr(text, "\"display\":{\"width\":800,\"height\":600}") &&
           vmconfig_from_text(text, strlen(text), &back, &err) == 0 && back.display.enabled &&
           back.display.width == 800 && back.display.height == 600 &&
           back.devices[2].kind == VM_DEV_GPU,
       "display survives a round trip: %s", text ? text : "");
    free(text);
    vmconfig_free(&back);
    vmconfig_default(&c);
    text = vmconfig_to_text(&c);
    ok(text && !strstr(text, "display"), "no display member without a display");
    free(text);
    refused("{\"display\": {\"width\": 8}}", "display: 8x768: width and height must be 16 to 4095");
    refused("{\"display\": {\"depth\": 8}}", "display.depth: unknown member");
    refused("{\"display\": 3}", "display: expected an object or null");
    refused("{\"devices\": [\"rng\", \"console\", \"gpu\", \"empty\", \"empty\", \"empty\", "
            "\"empty\", \"empty\"]}",
            "devices: a gpu slot needs a display");
    refused("{\"display\": {}, \"devices\": [\"rng\", \"console\", \"empty\", \"empty\", "
            "\"empty\", \"empty\", \"empty\", \"empty\"]}",
            "devices: no slot holds the display (gpu)");
}

/* --console values and the "console" member. */
static void test_console(void)
{
    Error err = {0};
    VmConsole k = VM_CONSOLE_VIRTIO;
    ok(vmconfig_console_parse(&k, "serial", &err) == 0 && k == VM_CONSOLE_SERIAL &&
           vmconfig_console_parse(&k, "hvc0", &err) == 0 && k == VM_CONSOLE_VIRTIO &&
           vmconfig_console_parse(&k, "ttyS0", &err) == 0 && k == VM_CONSOLE_SERIAL &&
           vmconfig_console_parse(&k, "virtio", &err) == 0 && k == VM_CONSOLE_VIRTIO,
       "--console serial, ttyS0, virtio, hvc0");
    ok(vmconfig_console_parse(&k, "vga", &err) < 0 &&
           strcmp(err.msg, "--console 'vga': expected serial (ttyS0) or virtio (hvc0)") == 0,
       "--console vga refused: %s", err.msg);
    VmConfig c, back;
    vmconfig_default(&c);
    ok(c.console == VM_CONSOLE_SERIAL, "the default console is the serial port");
    char *text = vmconfig_to_text(&c);
    ok(text && !strstr(text, "console\":"), "no console member for the default: %s", text);
    free(text);
    c.console = VM_CONSOLE_VIRTIO;
    text = vmconfig_to_text(&c);
    ok(text && strstr(text, "\"console\":\"virtio\"") &&
           vmconfig_from_text(text, strlen(text), &back, &err) == 0 &&
           back.console == VM_CONSOLE_VIRTIO,
       "console virtio survives a round trip");
    free(text);
    vmconfig_free(&back);
    refused("{\"console\": \"hvc0\"}", "console: expected \"serial\" or \"virtio\"");
    refused("{\"console\": 1}", "console: expected \"serial\" or \"virtio\"");
}

int main(void)
{
    test_console();
    test_display();
    test_errors();
    test_round_trip();
    test_defaults();
    test_v1();
    test_default_layout();
    test_copy_and_slots();
    test_input_devices();
    test_card_errors();
    test_card_checks();
    test_card_round_trip();
    return tap_done();
}
