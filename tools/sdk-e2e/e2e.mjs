// Drives the real posthog-js (in jsdom) and posthog-node against a running idgraph-server.
//
//   npm ci --ignore-scripts && node e2e.mjs http://127.0.0.1:8000
//
// Every journey uses its own project token, so journeys run side by side without meeting.
// When every SDK has flushed and every request has been answered, prints one JSON object on
// stdout: for each journey its token, its mode and the distinct ids it used (posthog-js's
// anonymous ids are random UUIDv7s, read from the SDK), and every request that did not get
// a 200. server/tests/sdk_e2e.rs starts the server, runs this script and asserts the persons
// through GET /persons/{distinct_id}?token=...; nothing is asserted here.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JSDOM } from 'jsdom';
import { PostHog } from 'posthog-node';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVER = process.argv[2];
if (!SERVER) {
  console.error('usage: node e2e.mjs SERVER_URL');
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const failures = [];

// ---------------------------------------------------------------------------------------------
// posthog-js in jsdom

const JS_BUNDLE = fs.readFileSync(path.join(HERE, 'node_modules/posthog-js/dist/array.no-external.js'), 'utf8');
const FLUSH_MS = 300; // posthog-js's request queue interval
const QUIET_MS = 1500; // well beyond the queue interval, even on a busy machine: nothing more is on its way

// A fresh browser (cookies, localStorage) whose XMLHttpRequests are counted, so that a
// journey can wait until everything posthog-js sent has been answered.
function newBrowser(journey) {
  const dom = new JSDOM('<!doctype html><html><head><title>Shop</title></head><body><h1>Shop</h1></body></html>', {
    url: 'https://shop.example.com/',
    referrer: 'https://www.search.example/',
    runScripts: 'outside-only',
    pretendToBeVisual: true,
  });
  const traffic = { inFlight: 0, last: Date.now(), sent: 0 };
  const XHR = dom.window.XMLHttpRequest;
  const open = XHR.prototype.open;
  const send = XHR.prototype.send;
  XHR.prototype.open = function (method, url, ...rest) {
    this._e2e = { method, url: String(url) };
    return open.call(this, method, url, ...rest);
  };
  XHR.prototype.send = function (...args) {
    traffic.inFlight += 1;
    traffic.sent += 1;
    traffic.last = Date.now();
    if (process.env.E2E_DEBUG) console.error(journey, this._e2e.method, this._e2e.url, args[0]?.length ?? args[0]?.size);
    this.addEventListener('loadend', () => {
      traffic.inFlight -= 1;
      traffic.last = Date.now();
      if (this.status !== 200) {
        failures.push({ journey, sdk: 'posthog-js', ...this._e2e, status: this.status, body: this.responseText });
      }
    });
    return send.apply(this, args);
  };
  dom.window.eval(JS_BUNDLE); // defines window.posthog, as the snippet's array.js does
  return { dom, traffic };
}

// Waits until nothing is in flight and nothing has been sent or answered for QUIET_MS,
// counted from the call at the earliest: what posthog-js queued just before is sent at the
// queue's next interval.
async function settle(traffic) {
  const start = Date.now();
  for (;;) {
    await sleep(100);
    const quietSince = Math.max(start, traffic.last);
    if (traffic.inFlight === 0 && Date.now() - quietSince >= QUIET_MS) return;
  }
}

function jsConfig(mode, extra = {}) {
  return {
    api_host: SERVER,
    person_profiles: mode,
    autocapture: false,
    capture_pageview: true,
    capture_pageleave: false,
    disable_session_recording: true,
    disable_surveys: true,
    disable_product_tours: true,
    disable_conversations: true,
    capture_performance: false,
    capture_dead_clicks: false,
    capture_exceptions: false,
    capture_heatmaps: false,
    advanced_disable_feature_flags: true,
    request_queue_config: { flush_interval_ms: FLUSH_MS },
    ...extra,
  };
}

function navigate(dom, ph, pathname, title) {
  dom.window.history.pushState({}, '', pathname);
  dom.window.document.title = title;
  ph.capture('$pageview');
}

// Each journey returns the ids the test asserts on.
const JS_JOURNEYS = {
  // Anonymous pageviews only: personless in identified_only, a person in always.
  anonymous: async (ph, dom, settleAll) => {
    await settleAll();
    navigate(dom, ph, '/products', 'Products');
    await settleAll();
    return { anon: ph.get_distinct_id() };
  },
  // Pageviews, identify with $set and $set_once, then both again: $set overwrites,
  // $set_once keeps the first value.
  identify: async (ph, dom, settleAll) => {
    await settleAll();
    navigate(dom, ph, '/products', 'Products');
    await settleAll();
    const anon = ph.get_distinct_id();
    ph.identify('user_1', { email: 'user_1@example.com' }, { first_seen: '2026-01-01' });
    ph.capture('purchase', { amount: 42 });
    await settleAll();
    ph.setPersonProperties({ email: 'user_1@new.example.com' }, { first_seen: '2030-01-01' });
    await settleAll();
    return { anon, user: ph.get_distinct_id() };
  },
  // alias while anonymous: $create_alias {alias, distinct_id: the anonymous id}.
  alias: async (ph, dom, settleAll) => {
    await settleAll();
    const anon = ph.get_distinct_id();
    ph.alias('alias_1');
    ph.capture('signed_up');
    await settleAll();
    return { anon, alias: 'alias_1' };
  },
  // identify user_1, reset(), a second user identifies on the same device.
  reset: async (ph, dom, settleAll) => {
    await settleAll();
    const anon1 = ph.get_distinct_id();
    ph.identify('user_1', { email: 'user_1@example.com' });
    ph.capture('first_user_event');
    ph.reset();
    const anon2 = ph.get_distinct_id();
    navigate(dom, ph, '/login', 'Login');
    await settleAll();
    ph.identify('user_2', { email: 'user_2@example.com' });
    ph.capture('second_user_event');
    await settleAll();
    return { anon1, user1: 'user_1', anon2, user2: 'user_2' };
  },
  // group with properties, then an event that carries $groups.
  group: async (ph, dom, settleAll) => {
    await settleAll();
    ph.group('company', 'acme', { name: 'Acme' });
    ph.capture('report_viewed');
    await settleAll();
    return { anon: ph.get_distinct_id() };
  },
  // setPersonProperties while anonymous, twice.
  'set-person-properties': async (ph, dom, settleAll) => {
    await settleAll();
    ph.setPersonProperties({ plan: 'pro' }, { signup_source: 'ads' });
    ph.capture('settings_saved');
    await settleAll();
    ph.setPersonProperties({ plan: 'team' }, { signup_source: 'email' });
    await settleAll();
    return { anon: ph.get_distinct_id() };
  },
};

async function runJsJourney(name, mode, fn, { suffix = '', extra = {} } = {}) {
  const journey = `posthog-js-${name}-${mode.replace('_', '-')}${suffix}`;
  const token = `phc_e2e_${journey.replaceAll('-', '_')}`;
  const { dom, traffic } = newBrowser(journey);
  const ph = dom.window.posthog;
  ph.init(token, jsConfig(mode, extra));
  await sleep(200); // the automatic $pageview of the first page goes out
  const ids = await fn(ph, dom, () => settle(traffic));
  await settle(traffic);
  dom.window.close();
  return [journey, { sdk: 'posthog-js', token, mode, ids, requests: traffic.sent }];
}

// ---------------------------------------------------------------------------------------------
// posthog-node

// capture, identify with $anon_distinct_id, alias, groupIdentify, a capture without
// distinctId (personless), and a second project where the same user id is a new person.
async function runNodeJourney(journey, options) {
  const tokenA = `phc_e2e_${journey.replaceAll('-', '_')}_a`;
  const tokenB = `phc_e2e_${journey.replaceAll('-', '_')}_b`;
  const make = (token) => {
    const client = new PostHog(token, {
      host: SERVER,
      flushAt: 100, // never reached: batches are cut by the explicit flush() calls
      flushInterval: 60000,
      fetchRetryCount: 0,
      ...options,
    });
    client.on('error', (error) => failures.push({ journey, sdk: 'posthog-node', error: String(error) }));
    return client;
  };
  const a = make(tokenA);
  const b = make(tokenB);
  a.capture({ distinctId: 'node_anon_1', event: 'page_viewed', properties: { path: '/pricing' } });
  a.capture({ distinctId: 'node_legacy_1', event: 'legacy_login' });
  await a.flush();
  a.identify({
    distinctId: 'node_user_1',
    properties: {
      $set: { email: 'node_user_1@example.com' },
      $set_once: { first_seen: '2026-01-01' },
      $anon_distinct_id: 'node_anon_1',
    },
  });
  a.alias({ distinctId: 'node_user_1', alias: 'node_legacy_1' });
  a.groupIdentify({ groupType: 'company', groupKey: 'acme', properties: { name: 'Acme' } });
  a.capture({ distinctId: 'node_user_1', event: 'report_viewed', groups: { company: 'acme' } });
  a.capture({ event: 'cron_ran' }); // no distinctId: the SDK makes a personless one
  await a.flush();
  a.identify({ distinctId: 'node_user_1', properties: { $set_once: { first_seen: '2030-01-01' } } });
  await a.flush();
  b.identify({ distinctId: 'node_user_1', properties: { plan: 'free' } }); // no $anon_distinct_id
  b.capture({ distinctId: 'node_user_1', event: 'seen_in_b' });
  await b.flush();
  await a.shutdown();
  await b.shutdown();
  return [
    journey,
    {
      sdk: 'posthog-node',
      token: tokenA,
      token_b: tokenB,
      ids: { anon: 'node_anon_1', legacy: 'node_legacy_1', user: 'node_user_1', group: '$company_acme' },
    },
  ];
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const runs = [];
  for (const mode of ['identified_only', 'always']) {
    for (const [name, fn] of Object.entries(JS_JOURNEYS)) runs.push(runJsJourney(name, mode, fn));
  }
  runs.push(
    runJsJourney('identify', 'identified_only', JS_JOURNEYS.identify, {
      suffix: '-no-compression',
      extra: { disable_compression: true },
    }),
  );
  runs.push(runNodeJourney('posthog-node-gzip', {}));
  runs.push(runNodeJourney('posthog-node-no-compression', { disableCompression: true }));
  const journeys = Object.fromEntries(await Promise.all(runs));
  const read = (name) =>
    JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', name, 'package.json'), 'utf8')).version;
  const versions = { 'posthog-js': read('posthog-js'), 'posthog-node': read('posthog-node'), jsdom: read('jsdom') };
  process.stdout.write(JSON.stringify({ versions, journeys, failures }) + '\n');
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
