// The host overview: capacity and use (GET /1.0/host), and CPU and memory over the last minutes.

import {bytes, h, $} from './dom.js';
import {LineChart} from './chart.js';
import {sampler} from './metrics.js';

let unsubscribe = null;
let cpuChart = null, memChart = null;

function card(label, value, sub, fraction) {
    return h('div', {class: 'card'},
             h('div', {class: 'label'}, label),
             h('div', {class: 'value'}, value),
             sub ? h('div', {class: 'sub'}, sub) : null,
             fraction === undefined ? null : bar(fraction));
}

function bar(fraction) {
    const fill = h('span');
    fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
    return h('div', {class: 'bar'}, fill);
}

function render(s) {
    const p = s.latest();
    const box = $('#host-cards');
    if (!p) {
        if (s.error)
            box.replaceChildren(h('p', {class: 'message bad'}, `Cannot read the host: ${s.error.message}`));
        return;
    }
    const host = p.host;
    const states = host.vms.by_state;
    const memUsed = host.memory.total - host.memory.available;
    box.replaceChildren(
        card('CPUs', String(host.cpus),
             `load ${host.load.map(x => x.toFixed(2)).join(' ')}`, host.load[0] / host.cpus),
        card('Memory in use', bytes(memUsed), `of ${bytes(host.memory.total)}`,
             memUsed / host.memory.total),
        card('VMs', String(host.vms.defined),
             `${states.running} running, ${states.paused} paused, ${states.stopped} stopped` +
             (states.suspended ? `, ${states.suspended} suspended` : '')),
        card('Committed to running VMs', `${host.committed.running.cpus} CPUs`,
             `${bytes(host.committed.running.memory)} of RAM`,
             host.committed.running.memory / host.memory.total),
        card('Committed to all VMs', `${host.committed.defined.cpus} CPUs`,
             `${bytes(host.committed.defined.memory)} of RAM`,
             host.committed.defined.memory / host.memory.total),
        card('hosteld', `pid ${host.hosteld.pid}`, `${bytes(host.hosteld.memory_rss)} resident`));
    cpuChart.draw(s.points.map(q => ({t: q.t, values: [q.hostCpu.load, q.hostCpu.vms]})));
    memChart.fixedMax = host.memory.total;
    memChart.draw(s.points.map(q => ({t: q.t, values: [q.hostMem.used, q.hostMem.vms]})));
}

export function show() {
    cpuChart ||= new LineChart($('#chart-host-cpu'), [{label: 'load'}, {label: 'VMs'}],
                               {format: v => `${v.toFixed(0)}%`, fixedMax: 100});
    memChart ||= new LineChart($('#chart-host-mem'), [{label: 'used'}, {label: 'VMs'}],
                               {format: bytes});
    unsubscribe = sampler.subscribe(render);
    render(sampler);
}

export function hide() {
    if (unsubscribe)
        unsubscribe();
    unsubscribe = null;
}
