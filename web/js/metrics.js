// Samples the daemon's counters every few seconds while the page is open: GET /1.0/host for the
// host, GET /metrics (the Prometheus text, docs/mgmt.md "Metrics") for every VM at once.  Keeps
// the last minutes in memory, as rates, for the charts; nothing is stored by the daemon.

import {get} from './api.js';

export const PERIOD_MS = 2000;
const KEEP = 150; // 5 minutes at 2 s

// Prometheus text 0.0.4 -> [{name, labels: {k: v}, value}] (comments and bad lines skipped).
export function parseProm(text) {
    const out = [];
    // NAME{LABELS} VALUE [TIMESTAMP]; VALUE a float, NaN or +-Inf
    const num = '[-+]?(?:[0-9]+(?:\\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\\.[0-9]+|NaN|Inf)';
    const line = new RegExp(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)\\})?\\s+(${num})(?:\\s+-?[0-9]+)?\\s*$`);
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (const l of text.split('\n')) {
        if (!l || l.startsWith('#'))
            continue;
        const m = line.exec(l);
        if (!m)
            continue;
        const labels = {};
        for (const lm of (m[2] || '').matchAll(label))
            labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
        const v = m[3].replace('Inf', 'Infinity');
        out.push({name: m[1], labels, value: Number(v)});
    }
    return out;
}

// The counters of each VM, summed over its disks and cards.
function perVm(samples) {
    const vms = {};
    const vm = n => (vms[n] ||= {up: 0, cpu: null, rss: null, diskRead: 0, diskWrite: 0, netRx: 0,
                                 netTx: 0, hasIo: false});
    const io = {
        hostel_vm_disk_read_bytes_total: 'diskRead',
        hostel_vm_disk_write_bytes_total: 'diskWrite',
        hostel_vm_net_rx_bytes_total: 'netRx',
        hostel_vm_net_tx_bytes_total: 'netTx',
    };
    for (const s of samples) {
        const name = s.labels.vm;
        if (name === undefined)
            continue;
        if (s.name === 'hostel_vm_up')
            vm(name).up = s.value;
        else if (s.name === 'hostel_vm_cpu_seconds_total')
            vm(name).cpu = s.value;
        else if (s.name === 'hostel_vm_memory_rss_bytes')
            vm(name).rss = s.value;
        else if (s.name === 'hostel_vm_instructions_total')
            vm(name).hasIo = true;
        else if (io[s.name]) {
            vm(name)[io[s.name]] += s.value;
            vm(name).hasIo = true;
        }
    }
    return vms;
}

// (b - a) per second, or null across a counter reset or a missing value.
function rate(a, b, dt) {
    if (a === null || b === null || a === undefined || b === undefined || b < a || dt <= 0)
        return null;
    return (b - a) / dt;
}

export class Sampler {
    constructor() {
        this.points = [];     // [{t, host, vms: {name: {cpuPct, rss, disk, net...}}}]
        this.listeners = new Set();
        this.prev = null;     // the previous raw sample
        this.timer = null;
        this.error = null;
    }

    subscribe(fn) {
        this.listeners.add(fn);
        return () => this.listeners.delete(fn);
    }

    start() {
        if (this.timer)
            return;
        const tick = async () => {
            await this.sample();
            this.timer = setTimeout(tick, PERIOD_MS);
        };
        this.timer = setTimeout(tick, 0);
    }

    stop() {
        clearTimeout(this.timer);
        this.timer = null;
        this.points = [];
        this.prev = null;
    }

    latest() {
        return this.points.length ? this.points[this.points.length - 1] : null;
    }

    async sample() {
        const t = Date.now();
        let host = null, prom = null;
        try {
            [host, prom] = await Promise.all([get('/1.0/host'), get('/metrics', {text: true})]);
            this.error = null;
        } catch (err) {
            this.error = err;
            for (const fn of this.listeners)
                fn(this);
            return;
        }
        const raw = {t, host, vms: perVm(parseProm(prom))};
        const point = {t, host, vms: {}};
        const dt = this.prev ? (t - this.prev.t) / 1000 : 0;
        let vmCpu = 0, vmRss = 0;
        for (const [name, v] of Object.entries(raw.vms)) {
            const p = this.prev && this.prev.vms[name];
            const cpuRate = p ? rate(p.cpu, v.cpu, dt) : null;
            point.vms[name] = {
                up: v.up,
                cpuPct: v.up && cpuRate !== null ? cpuRate * 100 : (v.up ? null : 0),
                rss: v.up ? v.rss : 0,
                diskRead: p && v.hasIo ? rate(p.diskRead, v.diskRead, dt) : null,
                diskWrite: p && v.hasIo ? rate(p.diskWrite, v.diskWrite, dt) : null,
                netRx: p && v.hasIo ? rate(p.netRx, v.netRx, dt) : null,
                netTx: p && v.hasIo ? rate(p.netTx, v.netTx, dt) : null,
            };
            vmCpu += point.vms[name].cpuPct || 0;
            vmRss += point.vms[name].rss || 0;
        }
        const cpus = host.cpus || 1;
        point.hostCpu = {
            load: host.load ? Math.min(100, (host.load[0] / cpus) * 100) : null,
            vms: this.prev ? vmCpu / cpus : null,
        };
        point.hostMem = {
            used: host.memory ? host.memory.total - host.memory.available : null,
            vms: vmRss,
            total: host.memory ? host.memory.total : null,
        };
        this.prev = raw;
        this.points.push(point);
        if (this.points.length > KEEP)
            this.points.shift();
        for (const fn of this.listeners)
            fn(this);
    }
}

// The page's one sampler (started at login, stopped at logout).
export const sampler = new Sampler();
