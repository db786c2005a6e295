// The web console's entry point: the login, the navigation between views, the events stream
// and the metrics sampler that the views share.

import './cspstyle.js';
import {api, get, setCsrf, whenUnauthorized, ApiError} from './api.js';
import {$, $$, clearErrors, guarded, showError} from './dom.js';
import {EventStream} from './events.js';
import {sampler} from './metrics.js';
import {refreshSoon, refreshVms, resetStore} from './store.js';
import * as overview from './overview.js';
import * as vmList from './vms.js';
import * as vmView from './vm.js';
import * as storage from './storage.js';
import * as networks from './networks.js';

const views = {overview, vms: vmList, vm: vmView, storage, networks};
let current = null;
let events = null;
let inApp = false;

// #token=... in the address: the link `hostel web-login` printed.
function tokenFromFragment() {
    const m = /^#token=([^&]+)/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : null;
}

function showLogin(message, bad = false) {
    leaveApp();
    clearErrors();
    $('#login').hidden = false;
    const msg = $('#login-message');
    msg.textContent = message || '';
    msg.classList.toggle('bad', bad);
    $('#login-token').focus();
}

async function login(token) {
    try {
        const s = await api('POST', '/1.0/web/login', {token}, {quiet401: true});
        setCsrf(s.csrf_token);
        $('#login-token').value = '';
        enterApp();
    } catch (err) {
        const why = err instanceof ApiError && err.status === 401
            ? 'That token is not valid (unknown, used already, or expired): ask for a new one with `hostel web-login`.'
            : `The login failed: ${err.message}`;
        showLogin(why, true);
    }
}

function enterApp() {
    $('#login').hidden = true;
    $('#nav').hidden = false;
    $('#logout').hidden = false;
    $('#live').hidden = false;
    inApp = true;
    events = new EventStream({
        onEvent: ev => {
            refreshSoon();
            for (const v of Object.values(views))
                if (v.onEvent)
                    v.onEvent(ev);
        },
        onStatus: up => {
            $('#live').classList.toggle('down', !up);
            $('#live').textContent = up ? 'live' : 'reconnecting…';
            if (!up)
                checkSession();
        },
        onGap: () => refreshSoon(),
    });
    events.start();
    sampler.start();
    guarded(refreshVms);
    if (!location.hash || location.hash === '#')
        history.replaceState(null, '', '#/overview');
    route();
}

function leaveApp() {
    if (current)
        current.view.hide();
    current = null;
    inApp = false;
    if (events)
        events.stop();
    events = null;
    sampler.stop();
    resetStore();
    setCsrf(null);
    for (const s of $$('.view'))
        s.hidden = true;
    $('#nav').hidden = true;
    $('#logout').hidden = true;
    $('#live').hidden = true;
}

// The stream went down: is it the session (then the login page) or the daemon?
async function checkSession() {
    try {
        await get('/1.0/web/session', {quiet401: true});
    } catch (err) {
        if (err.status === 401 && inApp && !(await certificateTrusted()))
            showLogin('Your session ended (it expired, or the daemon restarted): log in again.');
    }
}

// A browser with a trusted client certificate (or behind a local proxy on the unix socket)
// needs no session: the API serves it as it is.
async function certificateTrusted() {
    try {
        const r = await get('/1.0', {quiet401: true});
        return r.auth === 'trusted' || r.auth === 'unix';
    } catch (_) {
        return false;
    }
}

function parseRoute() {
    const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    if (parts[0] === 'vms' && parts[1])
        return {name: 'vm', params: {vm: parts[1], tab: parts[2] || 'summary'}};
    return {name: views[parts[0]] ? parts[0] : 'overview', params: {}};
}

function route() {
    if (!inApp)
        return;
    const {name, params} = parseRoute();
    const view = views[name];
    if (current && current.view !== view) {
        current.view.hide();
        $(`#view-${current.name}`).hidden = true;
    }
    const nav = name === 'vm' ? 'vms' : name;
    for (const a of $$('#nav a'))
        a.classList.toggle('active', a.dataset.view === nav);
    $(`#view-${name}`).hidden = false;
    current = {name, view};
    guarded(() => view.show(params));
}

async function boot() {
    whenUnauthorized(() => {
        if (inApp)
            checkSession();
    });
    $('#login-form').addEventListener('submit', e => {
        e.preventDefault();
        login($('#login-token').value.trim());
    });
    $('#logout').addEventListener('click', async () => {
        try {
            await api('POST', '/1.0/web/logout', {});
        } catch (err) {
            showError(err);
        }
        showLogin('You are logged out.');
    });
    window.addEventListener('hashchange', () => {
        if (tokenFromFragment())
            return boot2();
        route();
    });
    await boot2();
}

async function boot2() {
    const token = tokenFromFragment();
    if (token) {
        // never leave the token in the address bar or the history
        history.replaceState(null, '', location.pathname + location.search + '#/overview');
        return login(token);
    }
    try {
        const s = await get('/1.0/web/session', {quiet401: true});
        setCsrf(s.csrf_token);
        enterApp();
    } catch (err) {
        if (err.status === 401 && (await certificateTrusted()))
            return enterApp();
        showLogin(err.status === 401 ? '' : `The daemon does not answer: ${err.message}`,
                  err.status !== 401);
    }
}

boot();
