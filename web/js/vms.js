// The VM list (live state from the events stream) and the create-VM form.

import {act, api, get, vmPath} from './api.js';
import {$, $$, bytes, guarded, h, notify, percent} from './dom.js';
import {sampler} from './metrics.js';
import {allVms, brokenVms, onVmsChanged, refreshVms} from './store.js';

const MiB = 1024 * 1024;
let unsubs = [];
let wired = false;

export function stateBadge(state) {
    return h('span', {class: `state ${state}`, 'data-state': state}, state);
}

function vmRow(vm, point) {
    const m = point && point.vms[vm.name];
    const running = ['running', 'paused'].includes(vm.state);
    const link = `#/vms/${encodeURIComponent(vm.name)}`;
    return h('tr', {'data-vm': vm.name},
             h('td', {}, h('a', {href: link}, vm.name)),
             h('td', {}, stateBadge(vm.state)),
             h('td', {class: 'num'}, vm.config.harts),
             h('td', {class: 'num'}, bytes(vm.config['ram-size'])),
             h('td', {class: 'num'}, (vm.config.disks || []).length),
             h('td', {class: 'num'}, running && m ? percent(m.cpuPct) : '–'),
             h('td', {class: 'num'}, running && m ? bytes(m.rss) : '–'),
             h('td', {},
               running ? h('a', {href: `${link}/serial`}, 'console') : null));
}

function renderList() {
    const vms = allVms();
    const point = sampler.latest();
    $('#vm-table tbody').replaceChildren(...vms.map(vm => vmRow(vm, point)));
    $('#vm-empty').hidden = vms.length > 0;
    const broken = brokenVms();
    $('#vm-broken').replaceChildren(...broken.map(b =>
        h('p', {class: 'message bad'}, `A broken definition: ${b.file}: ${b.message}`)));
}

// ---- the create form ----

async function fillChoices(form) {
    const [pools, nets] = await Promise.all([get('/1.0/storage-pools'), get('/1.0/networks')]);
    const poolSel = form.elements.pool;
    poolSel.replaceChildren(...pools.pools.map(p => h('option', {value: p.name}, p.name)));
    const volSel = form.elements.volume;
    const lists = await Promise.all(pools.pools.map(p =>
        get(`/1.0/storage-pools/${encodeURIComponent(p.name)}/volumes`).catch(() => ({volumes: []}))));
    volSel.replaceChildren();
    pools.pools.forEach((p, i) => {
        for (const v of lists[i].volumes)
            volSel.append(h('option', {value: `${p.name}/${v.name}`},
                            `${p.name}/${v.name} (${v.format}, ${bytes(v.size)}` +
                            `${v.used_by.length ? ', used by ' + v.used_by.join(' ') : ''})`));
    });
    const netSel = form.elements.network;
    for (const o of $$('option[data-net]', netSel))
        o.remove();
    for (const n of nets.networks)
        netSel.append(h('option', {value: `net:${n.name}`, 'data-net': n.name},
                        `network ${n.name} (${n.kind})`));
}

function showDiskFields(form) {
    const which = form.elements.disk.value;
    for (const l of $$('[data-disk]', form))
        l.hidden = l.dataset.disk !== which;
}

// The VM's definition from the form; makes the new volume first when asked for one.
async function definitionOf(form) {
    const f = form.elements;
    const name = f.name.value.trim();
    const config = {harts: Number(f.harts.value), 'ram-size': Number(f.memory.value) * MiB};
    config.display = f.display.checked ? {width: 1024, height: 768} : null;
    if (f.network.value === 'none')
        config.nics = [];
    else if (f.network.value.startsWith('net:'))
        config.nics = [{kind: 'network', network: f.network.value.slice(4)}];
    if (f.kernel.value.trim()) {
        config.boot = {kernel: f.kernel.value.trim()};
        if (f.initrd.value.trim())
            config.boot.initrd = f.initrd.value.trim();
        if (f.cmdline.value.trim())
            config.boot.cmdline = f.cmdline.value.trim();
    } else if (f.initrd.value.trim() || f.cmdline.value.trim()) {
        throw new Error('an initrd or a command line needs a kernel (leave all three empty for the default guest)');
    }
    let made = null;
    if (f.disk.value === 'new') {
        const pool = f.pool.value;
        const vol = `${name}-disk0`;
        await api('POST', `/1.0/storage-pools/${encodeURIComponent(pool)}/volumes`,
                  {name: vol, size: Number(f.disk_size.value) * MiB, format: 'qcow2'});
        made = {pool, vol};
        config.disks = [{volume: `${pool}/${vol}`, 'read-only': false}];
    } else if (f.disk.value === 'existing') {
        if (!f.volume.value)
            throw new Error('there is no volume to choose: make one under Storage first');
        config.disks = [{volume: f.volume.value, 'read-only': false}];
    }
    return {body: {name, config}, made};
}

async function create(form) {
    const button = $('button[type=submit]', form);
    button.disabled = true;
    let made = null;
    const start = form.elements.start.checked;
    try {
        const def = await definitionOf(form);
        made = def.made;
        await api('POST', '/1.0/vms', def.body);
        made = null;
        const name = def.body.name;
        form.hidden = true;
        form.reset();
        await refreshVms();
        notify(`VM ${name} created`, 'info');
        location.hash = `#/vms/${encodeURIComponent(name)}`;
        if (start)
            await act('PUT', `${vmPath(name)}/state`, {action: 'start'});
    } finally {
        button.disabled = false;
        if (made) // the VM was refused: do not leave its new volume behind
            api('DELETE', `/1.0/storage-pools/${encodeURIComponent(made.pool)}/volumes/` +
                `${encodeURIComponent(made.vol)}`).catch(() => {});
    }
}

function wire() {
    const form = $('#create-form');
    $('#vm-new').addEventListener('click', () => guarded(async () => {
        form.hidden = false;
        showDiskFields(form);
        await fillChoices(form);
        form.elements.name.focus();
    }));
    $('#create-cancel').addEventListener('click', () => {
        form.hidden = true;
    });
    form.elements.disk.addEventListener('change', () => showDiskFields(form));
    form.addEventListener('submit', e => {
        e.preventDefault();
        guarded(() => create(form));
    });
}

export async function show() {
    if (!wired) {
        wire();
        wired = true;
    }
    unsubs = [onVmsChanged(renderList), sampler.subscribe(renderList)];
    renderList();
}

export function hide() {
    for (const u of unsubs)
        u();
    unsubs = [];
}
