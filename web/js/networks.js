// The networks (docs/api.md "Networks"): listed, and deleted when no VM uses them.

import {api, get} from './api.js';
import {$, ask, guarded, h} from './dom.js';

async function render() {
    const nets = (await get('/1.0/networks')).networks;
    $('#network-table tbody').replaceChildren(...nets.map(n => h('tr', {'data-network': n.name},
        h('td', {}, n.name),
        h('td', {}, n.kind + (n.nat ? ` (${n.nat.mode})` : '')),
        h('td', {}, n.subnet || '—'),
        h('td', {}, h('span', {class: `state ${n.state === 'running' ? 'running' : n.state === 'failed' ? 'failed' : ''}`}, n.state),
          n.message ? ` ${n.message}` : ''),
        h('td', {class: 'num'}, n.port_count),
        h('td', {}, (n.used_by || []).join(', ') || '—'),
        h('td', {}, h('button', {type: 'button', class: 'small danger', disabled: (n.used_by || []).length > 0,
                                 onclick: () => remove(n.name)}, 'Delete')))));
    if (!nets.length)
        $('#network-table tbody').replaceChildren(h('tr', {}, h('td', {colspan: 7, class: 'hint'}, 'No networks.')));
}

async function remove(name) {
    if (!(await ask(`Delete network ${name}?`, 'Its switch stops and its definition goes.', [], 'Delete')))
        return;
    await guarded(() => api('DELETE', `/1.0/networks/${encodeURIComponent(name)}`));
    await guarded(render);
}

export async function show() {
    await render();
}

export function hide() {}
