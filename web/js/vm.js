// One VM: its summary, actions, serial and graphical consoles, snapshots and charts.

import {act, api, get, vmPath} from './api.js';
import {$, $$, ask, bytes, duration, guarded, h, notify, percent} from './dom.js';
import {LineChart} from './chart.js';
import {sampler} from './metrics.js';
import {onVmsChanged, refreshVms, vmByName} from './store.js';

const TABS = ['summary', 'serial', 'screen', 'snapshots', 'charts'];
const LIVE = ['running', 'paused'];
// The states in which each action makes sense (the daemon decides: a refusal is shown).
const ALLOWED = {
    start: ['stopped', 'suspended'],
    stop: ['running', 'paused'],
    'force-stop': ['running', 'paused', 'starting', 'stopping'],
    reboot: ['running'],
    pause: ['running'],
    resume: ['paused'],
    clone: null,
    delete: ['stopped', 'suspended'],
};

let name = null;
let tab = 'summary';
let unsubs = [];
let wired = false;
let serial = null, screen = null;
let charts = null;
let busy = false;
let lastState = null;

const vm = () => vmByName(name);
const hasDisplay = v => v && v.config && v.config.display !== null && v.config.display !== undefined;

// ---- summary ----

async function renderSummary() {
    const v = vm();
    const box = $('#vm-summary');
    if (!v) {
        box.replaceChildren(h('p', {class: 'message bad'}, `There is no VM named ${name}.`));
        return;
    }
    let st = null;
    try {
        st = await get(`${vmPath(name)}/state`);
    } catch (err) {
        st = null;
    }
    const c = v.config;
    const rows = [
        ['State', v.state + (st && st.pid ? ` (pid ${st.pid}, up ${duration(st.uptime_s)})` : '')],
        ['CPUs', c.harts],
        ['Memory', bytes(c['ram-size'])],
        ['Disks', (c.disks || []).length
            ? (c.disks || []).map(d => `${d.path} (${d.format || 'raw'}${d['read-only'] ? ', read-only' : ''})`).join('\n')
            : 'none'],
        ['Network cards', (c.nics || []).length
            ? c.nics.map(n => `${n.kind}${n.network ? ' ' + n.network : ''} ${n.mac || ''}`).join('\n')
            : 'none'],
        ['Display', hasDisplay(v) ? `${c.display.width || 1024}x${c.display.height || 768}` : 'none'],
        ['Boot', c.boot && (c.boot.kernel || c.boot.bios) ? (c.boot.kernel || c.boot.bios) : 'the default guest'],
        ['UUID', v.uuid],
        ['Description', v.description || '—'],
        ['Autostart', v.autostart ? 'yes' : 'no'],
        ['Restart policy', v.restart || 'no'],
    ];
    if (st && st.memory_rss !== undefined)
        rows.push(['Host memory (RSS)', bytes(st.memory_rss)], ['Host CPU time', `${st.cpu_s.toFixed(1)} s`]);
    if (st && st.stats)
        rows.push(['Guest speed', `${Math.round(st.stats.mips)} MIPS`]);
    if (st && st.last_exit)
        rows.push(['Last exit', `${st.last_exit.time}: ${st.last_exit.reason}` +
                                (st.last_exit.message ? ` (${st.last_exit.message})` : '')]);
    box.replaceChildren(h('dl', {class: 'summary'}, rows.flatMap(([k, val]) => [h('dt', {}, k), h('dd', {}, String(val))])));
}

// ---- actions ----

function renderHeader() {
    const v = vm();
    $('#vm-title').textContent = name;
    const badge = $('#vm-state');
    const state = v ? v.state : 'unknown';
    badge.textContent = state;
    badge.className = `state ${state}`;
    badge.dataset.state = state;
    for (const b of $$('#vm-actions button')) {
        const allowed = ALLOWED[b.dataset.action];
        b.disabled = busy || !v || (allowed !== null && !allowed.includes(state));
    }
    for (const a of $$('#vm-tabs a'))
        a.href = `#/vms/${encodeURIComponent(name)}/${a.dataset.tab}`;
}

async function runAction(action) {
    const path = `${vmPath(name)}/state`;
    const who = name;
    switch (action) {
    case 'force-stop':
        return act('PUT', path, {action: 'stop', force: true});
    case 'clone': {
        const a = await ask(`Clone ${who}`, 'A new VM with the same definition and copies of its disks.',
                            [{name: 'name', label: 'Name of the clone', value: `${who}-clone`, required: true},
                             {name: 'linked', label: 'Linked (qcow2 overlays over shared bases)', type: 'checkbox'}],
                            'Clone');
        if (!a)
            return null;
        await act('POST', `${vmPath(who)}/clones`, {name: a.name, linked: a.linked});
        notify(`${who} cloned to ${a.name}`, 'info');
        await refreshVms();
        location.hash = `#/vms/${encodeURIComponent(a.name)}`;
        return null;
    }
    case 'delete': {
        const a = await ask(`Delete ${who}?`, 'Its definition, logs and saved state go.',
                            [{name: 'purge', label: 'Also delete its disk volumes that no other VM uses', type: 'checkbox'}],
                            'Delete');
        if (!a)
            return null;
        await api('DELETE', `${vmPath(who)}${a.purge ? '?purge=1' : ''}`);
        notify(`${who} deleted`, 'info');
        await refreshVms();
        location.hash = '#/vms';
        return null;
    }
    default:
        return act('PUT', path, {action});
    }
}

async function onAction(action) {
    busy = true;
    renderHeader();
    try {
        const op = await runAction(action);
        if (op && op.result && op.result.forced)
            notify(`${name}: the guest did not power off in time and was stopped by force`, 'info');
    } finally {
        busy = false;
        await refreshVms().catch(() => {});
        renderHeader();
    }
}

// ---- snapshots ----

async function loadSnapshots() {
    const body = $('#snapshot-table tbody');
    const msg = $('#snapshot-message');
    const v = vm();
    if (!v || !LIVE.includes(v.state)) {
        body.replaceChildren();
        msg.textContent = `${name} is ${v ? v.state : 'unknown'}: snapshots are taken and used while it runs.`;
        return;
    }
    let list;
    try {
        list = await get(`${vmPath(name)}/snapshots`);
    } catch (err) {
        body.replaceChildren();
        msg.textContent = err.message;
        return;
    }
    msg.textContent = list.snapshots.length ? '' : 'No snapshots yet.';
    body.replaceChildren(...list.snapshots.map(s => h('tr', {'data-snapshot': s.name},
        h('td', {}, s.name),
        h('td', {}, s['date-sec'] ? new Date(s['date-sec'] * 1000).toLocaleString() : '–'),
        h('td', {class: 'num'}, bytes(s['disk-bytes'])),
        h('td', {},
          h('button', {type: 'button', class: 'small', 'data-op': 'revert',
                       onclick: () => snapshotOp('revert', s.name)}, 'Revert'), ' ',
          h('button', {type: 'button', class: 'small danger', 'data-op': 'delete',
                       onclick: () => snapshotOp('delete', s.name)}, 'Delete')))));
}

async function snapshotOp(op, snap) {
    const who = name;
    const yes = await ask(op === 'revert' ? `Revert ${who} to ${snap}?` : `Delete snapshot ${snap}?`,
                          op === 'revert' ? 'Its memory and disks go back to the snapshot; what happened since is lost.'
                                          : 'The snapshot of the memory and the disks goes.',
                          [], op === 'revert' ? 'Revert' : 'Delete');
    if (!yes)
        return;
    await guarded(async () => {
        const base = `${vmPath(who)}/snapshots/${encodeURIComponent(snap)}`;
        if (op === 'revert')
            await act('POST', `${base}/revert`);
        else
            await act('DELETE', base);
        notify(op === 'revert' ? `${who} reverted to ${snap}` : `snapshot ${snap} deleted`, 'info');
    });
    await loadSnapshots();
}

async function takeSnapshot(form) {
    const input = $('#snapshot-name');
    const snap = input.value.trim();
    const button = $('button', form);
    button.disabled = true;
    try {
        await act('POST', `${vmPath(name)}/snapshots`, {name: snap});
        input.value = '';
        notify(`${name}: snapshot ${snap} taken`, 'info');
    } finally {
        button.disabled = false;
        await loadSnapshots();
    }
}

// ---- charts ----

function makeCharts() {
    const rate = v => `${bytes(v)}/s`;
    return {
        cpu: new LineChart($('#chart-vm-cpu'), [{label: 'CPU'}], {format: v => `${v.toFixed(0)}%`}),
        mem: new LineChart($('#chart-vm-mem'), [{label: 'RSS'}], {format: bytes}),
        disk: new LineChart($('#chart-vm-disk'), [{label: 'read'}, {label: 'write'}], {format: rate}),
        net: new LineChart($('#chart-vm-net'), [{label: 'rx'}, {label: 'tx'}], {format: rate}),
    };
}

function renderCharts(s) {
    if (tab !== 'charts')
        return;
    charts ||= makeCharts();
    const of = (p, f) => (p.vms[name] ? f(p.vms[name]) : [null]);
    charts.cpu.draw(s.points.map(p => ({t: p.t, values: of(p, m => [m.cpuPct])})));
    charts.mem.draw(s.points.map(p => ({t: p.t, values: of(p, m => [m.rss])})));
    charts.disk.draw(s.points.map(p => ({t: p.t, values: of(p, m => [m.diskRead, m.diskWrite])})));
    charts.net.draw(s.points.map(p => ({t: p.t, values: of(p, m => [m.netRx, m.netTx])})));
}

// ---- tabs and consoles ----

// xterm.js and noVNC (1 MB of the page's 1.1) load when a console tab is first opened.
let consolesLoading = null;

function loadConsoles() {
    consolesLoading ||= Promise.all([import('./serial.js'), import('./screen.js')]).then(([s, g]) => {
        serial = new s.SerialConsole($('#serial-term'), $('#serial-status'));
        screen = new g.ScreenConsole($('#screen'), $('#screen-status'));
    }, err => {
        consolesLoading = null;
        throw new Error(`the consoles' code did not load: ${err.message}`);
    });
    return consolesLoading;
}

function syncConsoles() {
    if ((tab === 'serial' || tab === 'screen') && !serial) {
        guarded(async () => {
            await loadConsoles();
            syncConsoles();
            if (tab === 'serial')
                serial.refit();
        });
        return;
    }
    const v = vm();
    const state = v ? v.state : 'unknown';
    if (tab === 'serial') {
        if (LIVE.includes(state))
            serial.open(name);
        else
            serial.idle(name, state);
    } else if (serial) {
        serial.close();
    }
    if (tab === 'screen') {
        if (!hasDisplay(v))
            screen.idle(name, 'this VM has no display (make one with the display on)');
        else if (LIVE.includes(state))
            screen.open(name);
        else
            screen.idle(name, `${state}: start it to see its screen`);
    } else if (screen) {
        screen.close();
    }
}

function selectTab(t) {
    tab = TABS.includes(t) ? t : 'summary';
    for (const a of $$('#vm-tabs a'))
        a.classList.toggle('active', a.dataset.tab === tab);
    for (const d of $$('#view-vm .tab'))
        d.classList.toggle('active', d.dataset.tab === tab);
    syncConsoles();
    if (tab === 'serial' && serial)
        serial.refit();
    if (tab === 'summary')
        guarded(renderSummary);
    if (tab === 'snapshots')
        guarded(loadSnapshots);
    if (tab === 'charts')
        renderCharts(sampler);
}

function onVms() {
    renderHeader();
    const v = vm();
    const state = v ? v.state : null;
    if (state !== lastState) {
        lastState = state;
        syncConsoles();
        if (tab === 'summary')
            guarded(renderSummary);
        if (tab === 'snapshots')
            guarded(loadSnapshots);
    }
}

function wire() {
    for (const b of $$('#vm-actions button'))
        b.addEventListener('click', () => guarded(() => onAction(b.dataset.action)));
    $('#snapshot-form').addEventListener('submit', e => {
        e.preventDefault();
        guarded(() => takeSnapshot(e.target));
    });
    $('#screen-fullscreen').addEventListener('click', () => screen && screen.fullscreen());
    $('#screen-cad').addEventListener('click', () => guarded(() => screen && screen.ctrlAltDel()));
    $('#paste-form').addEventListener('submit', e => {
        e.preventDefault();
        guarded(() => {
            if (!screen)
                throw new Error('the graphical console is not open');
            const skipped = screen.type($('#paste-text').value);
            $('#paste-text').value = '';
            if (skipped.length)
                notify(`not typed (no key for them on the VM's keyboard): ${skipped.join(' ')}`);
        });
    });
    // for tests and debugging: what the serial console shows
    window.hostelSerialText = () => (serial ? serial.text() : '');
}

export async function show(params) {
    if (!wired) {
        wire();
        wired = true;
    }
    if (params.vm !== name) {
        if (serial)
            serial.close();
        if (screen)
            screen.close();
        name = params.vm;
        lastState = null;
        charts = null;
    }
    if (!vm())
        await refreshVms();
    lastState = vm() ? vm().state : null;
    if (!unsubs.length)
        unsubs = [onVmsChanged(onVms), sampler.subscribe(renderCharts)];
    renderHeader();
    selectTab(params.tab);
}

export function hide() {
    for (const u of unsubs)
        u();
    unsubs = [];
    if (serial)
        serial.close();
    if (screen)
        screen.close();
}

export function onEvent(ev) {
    // a snapshot taken or deleted elsewhere shows up here
    if (name && tab === 'snapshots' && ev.type === 'operation' && ev.metadata &&
        ev.metadata.status !== 'running' && (ev.resource || '').includes(`/vms/${name}`))
        guarded(loadSnapshots);
}
