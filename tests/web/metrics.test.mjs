// The page's metrics sampler (web/js/metrics.js) under node's test runner: the Prometheus
// parser and the rates it charts, with the daemon's answers faked.  Run by meson (suite unit)
// on the built tree: HOSTEL_WEB_DIR=BUILD/web node --test tests/web/metrics.test.mjs
import assert from 'node:assert/strict';
import {test} from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {pathToFileURL} from 'node:url';

// The page's modules are plain .js files for the browser; node reads them as ES modules beside
// a package.json that says so, in a copy (BUILD/web is served: nothing is added there).
const built = process.env.HOSTEL_WEB_DIR;
assert.ok(built && fs.existsSync(path.join(built, 'js', 'metrics.js')), 'HOSTEL_WEB_DIR: the built web directory');
const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'hostel-web-'));
fs.cpSync(path.join(built, 'js'), copy, {recursive: true});
fs.writeFileSync(path.join(copy, 'package.json'), '{"type": "module"}');
process.on('exit', () => fs.rmSync(copy, {recursive: true, force: true}));
const {parseProm, Sampler} = await import(pathToFileURL(path.join(copy, 'metrics.js')));

const host = {cpus: 2, memory: {total: 1000, available: 400}, load: [1, 1, 1],
              vms: {defined: 1, by_state: {}}, committed: {}, hosteld: {}};

function prom({cpu, rss, rd, wr, rx, tx, up = 1}) {
    return `# HELP hostel_vm_up 1 while the VMM runs
# TYPE hostel_vm_up gauge
hostel_vm_up{vm="a"} ${up}
hostel_vm_up{vm="we\\"ird"} 0
hostel_vm_cpu_seconds_total{vm="a"} ${cpu}
hostel_vm_memory_rss_bytes{vm="a"} ${rss}
hostel_vm_instructions_total{vm="a"} 5
hostel_vm_disk_read_bytes_total{vm="a",disk="vda"} ${rd}
hostel_vm_disk_read_bytes_total{vm="a",disk="vdb"} ${rd}
hostel_vm_disk_write_bytes_total{vm="a",disk="vda"} ${wr}
hostel_vm_net_rx_bytes_total{vm="a",nic="52:54:00:12:34:56"} ${rx}
hostel_vm_net_tx_bytes_total{vm="a",nic="52:54:00:12:34:56"} ${tx}
hostel_host_cpus 2
`;
}

// fetch answers /1.0/host and /metrics from the queue; Date.now follows the fake clock
function fake(samples) {
    let now = 1_000_000;
    globalThis.Date.now = () => now;
    globalThis.fetch = async url => {
        const body = url.startsWith('/metrics') ? prom(samples[0]) : JSON.stringify(host);
        return {ok: true, status: 200, text: async () => body};
    };
    return {advance(ms) { now += ms; samples.shift(); }};
}

test('parseProm reads names, labels (escaped quotes too) and values, skips comments', () => {
    const s = parseProm(prom({cpu: 1.5, rss: 10, rd: 1, wr: 2, rx: 3, tx: 4}));
    assert.equal(s.length, 11);
    assert.deepEqual(s[1], {name: 'hostel_vm_up', labels: {vm: 'we"ird'}, value: 0});
    assert.deepEqual(s[5].labels, {vm: 'a', disk: 'vda'});
    assert.equal(s.at(-1).name, 'hostel_host_cpus');
    assert.deepEqual(parseProm('garbage line\n{x} 1\nx 1 2 3\n'), []);
    assert.deepEqual(parseProm('y +Inf\nz 1e3 1700000000\n').map(x => x.value), [Infinity, 1000]);
});

test('the sampler turns counters into rates, summed over disks and cards', async () => {
    const clock = fake([{cpu: 10, rss: 100, rd: 0, wr: 0, rx: 0, tx: 0},
                        {cpu: 11, rss: 200, rd: 1000, wr: 4000, rx: 200, tx: 600}]);
    const s = new Sampler();
    await s.sample();
    const first = s.latest();
    assert.equal(first.vms.a.cpuPct, null);        // no rate from one sample
    assert.equal(first.hostMem.used, 600);
    clock.advance(2000);
    await s.sample();
    const p = s.latest();
    assert.equal(p.vms.a.cpuPct, 50);              // 1 s of CPU in 2 s
    assert.equal(p.vms.a.rss, 200);
    assert.equal(p.vms.a.diskRead, 1000);          // (1000 + 1000) bytes / 2 s
    assert.equal(p.vms.a.diskWrite, 2000);
    assert.equal(p.vms.a.netRx, 100);
    assert.equal(p.vms.a.netTx, 300);
    assert.equal(p.hostCpu.vms, 25);               // 50 % of one CPU of two
    assert.equal(p.hostCpu.load, 50);              // load 1 on 2 CPUs
    assert.equal(p.vms['we"ird'].cpuPct, 0);       // not running
});

test('a counter that went back (the VMM restarted) gives no rate, not a negative one', async () => {
    const clock = fake([{cpu: 50, rss: 1, rd: 9000, wr: 9000, rx: 9000, tx: 9000},
                        {cpu: 0.2, rss: 1, rd: 10, wr: 10, rx: 10, tx: 10}]);
    const s = new Sampler();
    await s.sample();
    clock.advance(2000);
    await s.sample();
    const m = s.latest().vms.a;
    assert.equal(m.cpuPct, null);
    assert.equal(m.diskRead, null);
    assert.equal(m.netTx, null);
});

test('the sampler keeps 5 minutes and tells its listeners, also of an error', async () => {
    const samples = Array.from({length: 200}, (_, i) => ({cpu: i, rss: 1, rd: 0, wr: 0, rx: 0, tx: 0}));
    const clock = fake(samples);
    const s = new Sampler();
    let told = 0;
    s.subscribe(() => told++);
    for (let i = 0; i < 160; i++) {
        await s.sample();
        clock.advance(2000);
    }
    assert.equal(s.points.length, 150);
    assert.equal(told, 160);
    globalThis.fetch = async () => ({ok: false, status: 401, statusText: 'Unauthorized',
                                     text: async () => '{"error": {"code": 401, "message": "log in"}}'});
    await s.sample();
    assert.equal(told, 161);
    assert.equal(s.error.status, 401);
    assert.equal(s.error.message, 'log in');
    assert.equal(s.points.length, 150);
});
