// Storage pools and their volumes (docs/api.md "Storage pools and volumes").

import {act, api, get} from './api.js';
import {$, ask, bytes, guarded, h, notify} from './dom.js';

const MiB = 1024 * 1024;
let wired = false;
const enc = encodeURIComponent;

function poolBox(pool, volumes) {
    const used = pool.capacity ? (pool.capacity - pool.available) / pool.capacity : 0;
    const fill = h('span');
    fill.style.width = `${Math.round(used * 100)}%`;
    return h('div', {class: 'panel', 'data-pool': pool.name},
        h('div', {class: 'row'},
          h('h2', {}, `Pool ${pool.name}`),
          h('span', {class: `state ${pool.status === 'available' ? 'running' : 'failed'}`}, pool.status),
          h('span', {class: 'spacer'}),
          pool.name === 'default' ? null
              : h('button', {type: 'button', class: 'small danger', onclick: () => deletePool(pool.name)}, 'Forget pool')),
        h('p', {class: 'hint'}, `${pool.path} — ${bytes(pool.available)} free of ${bytes(pool.capacity)}, ` +
                                `volumes take ${bytes(pool.allocation)}` + (pool.message ? ` — ${pool.message}` : '')),
        h('div', {class: 'bar'}, fill),
        volumes.length === 0 ? h('p', {class: 'hint'}, 'No volumes.') :
        h('table', {class: 'list'},
          h('thead', {}, h('tr', {}, ['Volume', 'Format', 'Size', 'On disk', 'Backing', 'Used by', ''].map(t => h('th', {}, t)))),
          h('tbody', {}, volumes.map(v => h('tr', {'data-volume': v.name},
            h('td', {}, v.name), h('td', {}, v.format), h('td', {class: 'num'}, bytes(v.size)),
            h('td', {class: 'num'}, bytes(v.allocation)), h('td', {}, v.backing || v.backing_file || '—'),
            h('td', {}, v.used_by.join(', ') || '—'),
            h('td', {},
              h('button', {type: 'button', class: 'small secondary', onclick: () => resize(pool.name, v)}, 'Resize'), ' ',
              h('button', {type: 'button', class: 'small secondary', onclick: () => cloneVolume(pool.name, v)}, 'Clone'), ' ',
              h('button', {type: 'button', class: 'small danger', onclick: () => deleteVolume(pool.name, v)}, 'Delete')))))));
}

async function render() {
    const pools = (await get('/1.0/storage-pools')).pools;
    const lists = await Promise.all(pools.map(p =>
        get(`/1.0/storage-pools/${enc(p.name)}/volumes`).catch(() => ({volumes: []}))));
    $('#pools').replaceChildren(...pools.map((p, i) => poolBox(p, lists[i].volumes)));
    $('#volume-form').elements.pool.replaceChildren(...pools.map(p => h('option', {value: p.name}, p.name)));
}

async function resize(pool, v) {
    const a = await ask(`Resize ${pool}/${v.name}`, `Now ${bytes(v.size)}. Growing is always possible; only a raw volume shrinks.`,
                        [{name: 'size', label: 'New size (MiB)', type: 'number', value: Math.ceil(v.size / MiB), required: true},
                         {name: 'shrink', label: 'Allow shrinking (the data past the new end is lost)', type: 'checkbox'}],
                        'Resize');
    if (!a)
        return;
    await guarded(() => api('PATCH', `/1.0/storage-pools/${enc(pool)}/volumes/${enc(v.name)}`,
                            {size: Number(a.size) * MiB, ...(a.shrink ? {shrink: true} : {})}));
    await guarded(render);
}

async function cloneVolume(pool, v) {
    const a = await ask(`Clone ${pool}/${v.name}`, '',
                        [{name: 'name', label: 'New volume', value: `${v.name}-copy`, required: true},
                         {name: 'linked', label: 'Linked (a qcow2 overlay over this one)', type: 'checkbox'}], 'Clone');
    if (!a)
        return;
    await guarded(async () => {
        await act('POST', `/1.0/storage-pools/${enc(pool)}/volumes`, {name: a.name, source: v.name, linked: a.linked});
        notify(`${pool}/${v.name} cloned to ${a.name}`, 'info');
    });
    await guarded(render);
}

async function deleteVolume(pool, v) {
    if (!(await ask(`Delete ${pool}/${v.name}?`, 'Its file and the data in it go.', [], 'Delete')))
        return;
    await guarded(() => api('DELETE', `/1.0/storage-pools/${enc(pool)}/volumes/${enc(v.name)}`));
    await guarded(render);
}

async function deletePool(pool) {
    if (!(await ask(`Forget pool ${pool}?`, 'The definition goes; the directory and its files stay.', [], 'Forget')))
        return;
    await guarded(() => api('DELETE', `/1.0/storage-pools/${enc(pool)}`));
    await guarded(render);
}

function wire() {
    const poolForm = $('#pool-form'), volForm = $('#volume-form');
    $('#pool-new').addEventListener('click', () => {
        poolForm.hidden = !poolForm.hidden;
    });
    $('#volume-new').addEventListener('click', () => {
        volForm.hidden = !volForm.hidden;
    });
    poolForm.addEventListener('submit', e => {
        e.preventDefault();
        const f = poolForm.elements;
        guarded(async () => {
            await api('POST', '/1.0/storage-pools', {name: f.name.value.trim(), path: f.path.value.trim()});
            poolForm.reset();
            poolForm.hidden = true;
            await render();
        });
    });
    volForm.addEventListener('submit', e => {
        e.preventDefault();
        const f = volForm.elements;
        guarded(async () => {
            await api('POST', `/1.0/storage-pools/${enc(f.pool.value)}/volumes`,
                      {name: f.name.value.trim(), size: Number(f.size.value) * MiB, format: f.format.value});
            volForm.reset();
            volForm.hidden = true;
            await render();
        });
    });
}

export async function show() {
    if (!wired) {
        wire();
        wired = true;
    }
    await render();
}

export function hide() {}

export function onEvent(ev) {
    if (ev.type === 'lifecycle' && ev.metadata && /volume|pool/.test(ev.metadata.action || '') &&
        !$('#view-storage').hidden)
        guarded(render);
}
