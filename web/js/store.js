// What the page knows of the daemon's VMs, kept current by the events stream; views subscribe.

import {get} from './api.js';

const vms = new Map();   // name -> the VM object (docs/api.md "The VM object")
let broken = [];
const listeners = new Set();
let pending = null;
let loaded = false;

export const allVms = () => Array.from(vms.values());
export const vmByName = name => vms.get(name);
export const brokenVms = () => broken;
export const isLoaded = () => loaded;

export function onVmsChanged(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
}

export async function refreshVms() {
    const r = await get('/1.0/vms?recursion=1');
    vms.clear();
    for (const vm of r.vms)
        vms.set(vm.name, vm);
    broken = r.broken || [];
    loaded = true;
    for (const fn of listeners)
        fn();
}

// Reads the list again soon (several events in a burst cost one request).
export function refreshSoon() {
    if (pending)
        return;
    pending = setTimeout(() => {
        pending = null;
        refreshVms().catch(err => console.warn('refresh', err));
    }, 200);
}

export function resetStore() {
    vms.clear();
    broken = [];
    loaded = false;
}
