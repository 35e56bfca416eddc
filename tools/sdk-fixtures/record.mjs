// Records what the real posthog-js (in jsdom) and posthog-node send to PostHog capture.
//
//   npm ci && node record.mjs
//
// Starts a fake PostHog on 127.0.0.1 (a random free port), drives each SDK through the
// journeys below, and writes every request body exactly as received (raw bytes: gzip stays
// gzip, form bodies stay form bodies) to tests/fixtures/sdk/<sdk>-<journey>-<n>.<ext>, with a
// sidecar <sdk>-<journey>-<n>.meta.json (method, path, query, headers that matter, SDK name
// and version). Requests without a body (posthog-js's GET of its remote config, CORS
// preflights) are listed in tests/fixtures/sdk/index.json only. The server stops when done.
//
// Journeys run one after another, and each waits until its SDK has sent everything, so every
// request that arrives belongs to the journey that is running.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { JSDOM } from 'jsdom';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.resolve(HERE, '../../tests/fixtures/sdk');

// Two projects, so tests can check that the same distinct id in two projects stays apart.
export const TOKEN_A = 'phc_idgraph_fixture_project_a';
export const TOKEN_B = 'phc_idgraph_fixture_project_b';

const pkgVersion = (name) =>
  JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', name, 'package.json'), 'utf8')).version;
const JS_VERSION = pkgVersion('posthog-js');
const NODE_VERSION = pkgVersion('posthog-node');
const JSDOM_VERSION = pkgVersion('jsdom');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The fake PostHog

const CAPTURE_PATHS = new Set(['/e/', '/i/v0/e/', '/batch/', '/capture/', '/track/', '/engage/']);

let current = null; // { sdk, version, journey, n, remoteConfig }
const index = [];
let unexpected = [];

function isGzip(buf) {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

function extFor(body, contentType) {
  if (isGzip(body)) return 'gz';
  const text = body.toString('utf8');
  if ((contentType || '').includes('x-www-form-urlencoded') || text.startsWith('data=')) return 'form';
  try {
    JSON.parse(text);
    return 'json';
  } catch {
    return 'bin';
  }
}

// The JSON inside a body, for the v1 response only (the recorded bytes are never changed).
function decodeForResponse(body) {
  try {
    const raw = isGzip(body) ? zlib.gunzipSync(body) : body;
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return null;
  }
}

function answer(req, pathname, body) {
  if (CAPTURE_PATHS.has(pathname)) return { status: 200, json: { status: 1 } };
  if (pathname === '/flags/' || pathname === '/flags' || pathname === '/decide/' || pathname === '/decide') {
    return {
      status: 200,
      json: {
        flags: {},
        featureFlags: {},
        featureFlagPayloads: {},
        errorsWhileComputingFlags: false,
        requestId: '00000000-0000-0000-0000-000000000000',
        supportedCompression: ['gzip', 'gzip-js'],
      },
    };
  }
  // posthog-js's remote config (GET /array/<token>/config). Real PostHog announces gzip here;
  // posthog-js keeps gzip only while the config names it.
  if (pathname.startsWith('/array/') && pathname.endsWith('/config')) {
    return {
      status: 200,
      json: current?.remoteConfig ?? {
        supportedCompression: ['gzip', 'gzip-js'],
        hasFeatureFlags: false,
        autocapture_opt_out: true,
        sessionRecording: false,
        heatmaps: false,
        surveys: false,
      },
    };
  }
  // posthog-node's capture v1 (POSTHOG_CAPTURE_MODE=v1): one result per event uuid.
  if (pathname === '/i/v1/analytics/events') {
    const doc = decodeForResponse(body);
    const results = {};
    for (const ev of doc?.batch ?? []) if (ev?.uuid) results[ev.uuid] = { result: 'ok' };
    return { status: 200, json: { results } };
  }
  return { status: 200, json: {} };
}

function startServer() {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url, 'http://127.0.0.1');
      // CORS as PostHog answers it: posthog-js runs on another origin.
      res.setHeader('Access-Control-Allow-Origin', req.headers.origin || '*');
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
      if (req.headers['access-control-request-headers']) {
        res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers']);
      }
      const entry = {
        journey: current ? `${current.sdk}-${current.journey}` : null,
        method: req.method,
        path: url.pathname,
        query: url.search.replace(/^\?/, ''),
        body_bytes: body.length,
      };
      if (req.method === 'OPTIONS') {
        res.writeHead(204);
        res.end();
        index.push({ ...entry, file: null, note: 'CORS preflight' });
        return;
      }
      const reply = answer(req, url.pathname, body);
      if (!current) unexpected.push(entry);
      if (body.length > 0 && current) {
        current.n += 1;
        const base = `${current.sdk}-${current.journey}-${current.n}`;
        const ext = extFor(body, req.headers['content-type']);
        fs.writeFileSync(path.join(OUT, `${base}.${ext}`), body);
        const meta = {
          sdk: current.sdk,
          sdk_version: current.version,
          journey: current.journey,
          n: current.n,
          method: req.method,
          path: url.pathname,
          query: url.search.replace(/^\?/, ''),
          content_type: req.headers['content-type'] ?? null,
          content_encoding: req.headers['content-encoding'] ?? null,
          user_agent: req.headers['user-agent'] ?? null,
          authorization: req.headers['authorization'] ?? null,
          headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host')),
          body_file: `${base}.${ext}`,
          body_bytes: body.length,
          gzip: isGzip(body),
          response: reply,
        };
        fs.writeFileSync(path.join(OUT, `${base}.meta.json`), JSON.stringify(meta, null, 2) + '\n');
        entry.file = `${base}.${ext}`;
      } else {
        entry.file = null;
      }
      index.push(entry);
      res.setHeader('Content-Type', 'application/json');
      res.writeHead(reply.status);
      res.end(JSON.stringify(reply.json));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// Waits until no request has arrived for `quietMs`.
async function settle(quietMs = 1200) {
  let seen = index.length;
  let quietSince = Date.now();
  for (;;) {
    await sleep(100);
    if (index.length !== seen) {
      seen = index.length;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) {
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// posthog-js in jsdom

const JS_BUNDLE = fs.readFileSync(path.join(HERE, 'node_modules/posthog-js/dist/array.no-external.js'), 'utf8');
const FLUSH_MS = 300; // posthog-js's request queue interval; each phase waits longer than this

function newBrowser(pageUrl = 'https://shop.example.com/') {
  const dom = new JSDOM('<!doctype html><html><head><title>Shop</title></head><body><h1>Shop</h1></body></html>', {
    url: pageUrl,
    referrer: 'https://www.search.example/',
    runScripts: 'outside-only',
    pretendToBeVisual: true,
  });
  dom.window.eval(JS_BUNDLE); // defines window.posthog, as the snippet's array.js does
  return dom;
}

function jsConfig(port, mode, extra = {}) {
  return {
    api_host: `http://127.0.0.1:${port}`,
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

async function navigate(dom, ph, pathname, title) {
  dom.window.history.pushState({}, '', pathname);
  dom.window.document.title = title;
  ph.capture('$pageview');
}

// Each posthog-js journey: fn(ph, dom) with awaits between phases.
const JS_JOURNEYS = {
  // (a) anonymous pageviews, then identify with $set and $set_once.
  identify: async (ph, dom) => {
    await sleep(200); // the automatic $pageview of the first page goes out
    await navigate(dom, ph, '/products', 'Products');
    await settle();
    ph.identify('user_1', { email: 'user_1@example.com' }, { first_seen: '2026-01-01' });
    ph.capture('purchase', { amount: 42 });
    await settle();
  },
  // (b) anonymous, then alias: $create_alias {alias, distinct_id: current id}.
  alias: async (ph, dom) => {
    await sleep(200);
    await settle();
    ph.alias('alias_1');
    ph.capture('signed_up');
    await settle();
  },
  // (c) identify user_1, reset(), second user identifies on the same device.
  reset: async (ph, dom) => {
    await sleep(200);
    await settle();
    ph.identify('user_1', { email: 'user_1@example.com' });
    ph.capture('first_user_event'); // queued: goes out in one batch with the next $pageview
    ph.reset();
    await navigate(dom, ph, '/login', 'Login');
    await settle();
    ph.identify('user_2', { email: 'user_2@example.com' });
    ph.capture('second_user_event');
    await settle();
  },
  // (d) group with properties, then events that carry $groups.
  group: async (ph, dom) => {
    await sleep(200);
    await settle();
    ph.group('company', 'acme', { name: 'Acme' });
    ph.capture('report_viewed');
    await settle();
  },
  // (e) setPersonProperties while anonymous.
  'set-person-properties': async (ph, dom) => {
    await sleep(200);
    await settle();
    ph.setPersonProperties({ plan: 'pro' }, { signup_source: 'ads' });
    ph.capture('settings_saved');
    await settle();
  },
};

async function runJsJourney(port, name, mode, fn, { suffix = '', extra = {}, remoteConfig } = {}) {
  const journey = `${name}-${mode.replace('_', '-')}${suffix}`;
  current = { sdk: 'posthog-js', version: JS_VERSION, journey, n: 0, remoteConfig };
  const dom = newBrowser();
  const ph = dom.window.posthog;
  if (ph.version !== JS_VERSION) throw new Error(`posthog-js bundle ${ph.version} != package ${JS_VERSION}`);
  ph.init(TOKEN_A, jsConfig(port, mode, extra));
  await fn(ph, dom);
  await settle();
  dom.window.close();
  current = null;
  return journey;
}

// Two projects on one page: the primary instance (project A) and a named one (project B),
// both identifying the same user id.
async function runJsTwoProjects(port, mode) {
  const journey = `two-projects-${mode.replace('_', '-')}`;
  current = { sdk: 'posthog-js', version: JS_VERSION, journey, n: 0 };
  const dom = newBrowser();
  const a = dom.window.posthog;
  a.init(TOKEN_A, jsConfig(port, mode));
  const b = a.init(TOKEN_B, jsConfig(port, mode), 'project_b');
  await sleep(200);
  await settle();
  a.identify('user_1', { email: 'user_1@example.com' });
  b.identify('user_1', { email: 'user_1@example.com' });
  a.capture('seen_in_a');
  b.capture('seen_in_b');
  await settle();
  dom.window.close();
  current = null;
  return journey;
}

// ---------------------------------------------------------------------------------------------
// posthog-node

async function runNodeJourney(port, journey, options, fn, env = {}) {
  current = { sdk: 'posthog-node', version: NODE_VERSION, journey, n: 0 };
  const saved = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const { PostHog } = await import('posthog-node');
  const make = (token) =>
    new PostHog(token, {
      host: `http://127.0.0.1:${port}`,
      flushAt: 100, // never reached: batches are cut by the explicit flush() calls
      flushInterval: 60000, // never reached either
      fetchRetryCount: 0,
      ...options,
    });
  try {
    await fn(make);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  await settle(500);
  current = null;
  return journey;
}

// The node journey: capture, identify (with $anon_distinct_id), alias, groupIdentify,
// events with groups, a capture without distinctId (personless), and project B.
async function nodeJourney(make) {
  const a = make(TOKEN_A);
  const b = make(TOKEN_B);
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
  b.identify({ distinctId: 'node_user_1', properties: { plan: 'free' } }); // no $anon_distinct_id
  b.capture({ distinctId: 'node_user_1', event: 'seen_in_b' });
  await b.flush();
  await a.shutdown();
  await b.shutdown();
}

// ---------------------------------------------------------------------------------------------

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  for (const f of fs.readdirSync(OUT)) {
    if (/^posthog-(js|node)-/.test(f) || f === 'index.json') fs.unlinkSync(path.join(OUT, f));
  }
  const server = await startServer();
  const port = server.address().port;
  const journeys = [];
  try {
    for (const mode of ['identified_only', 'always']) {
      for (const [name, fn] of Object.entries(JS_JOURNEYS)) {
        journeys.push(await runJsJourney(port, name, mode, fn));
      }
    }
    journeys.push(await runJsTwoProjects(port, 'identified_only'));
    // Transport variants of journey (a), identified_only only:
    // compression turned off by the page (plain JSON bodies),
    journeys.push(
      await runJsJourney(port, 'identify', 'identified_only', JS_JOURNEYS.identify, {
        suffix: '-no-compression',
        extra: { disable_compression: true },
      }),
    );
    // and a server whose remote config only offers base64 (form bodies data=<base64>).
    journeys.push(
      await runJsJourney(port, 'identify', 'identified_only', JS_JOURNEYS.identify, {
        suffix: '-base64',
        remoteConfig: { supportedCompression: ['base64'], hasFeatureFlags: false },
      }),
    );

    journeys.push(await runNodeJourney(port, 'gzip', {}, nodeJourney));
    journeys.push(await runNodeJourney(port, 'no-compression', { disableCompression: true }, nodeJourney));
    // posthog-node's capture v1 (opt-in through an environment variable in this version).
    journeys.push(
      await runNodeJourney(port, 'capture-v1', {}, nodeJourney, { POSTHOG_CAPTURE_MODE: 'v1' }),
    );
  } finally {
    await new Promise((r) => server.close(r));
  }
  fs.writeFileSync(
    path.join(OUT, 'index.json'),
    JSON.stringify(
      {
        recorded_with: { 'posthog-js': JS_VERSION, 'posthog-node': NODE_VERSION, jsdom: JSDOM_VERSION, node: process.version },
        tokens: { project_a: TOKEN_A, project_b: TOKEN_B },
        journeys,
        requests: index,
      },
      null,
      2,
    ) + '\n',
  );
  if (unexpected.length) console.error('requests outside any journey:', unexpected);
  const files = fs.readdirSync(OUT).filter((f) => /^posthog-/.test(f));
  console.log(`recorded ${index.filter((e) => e.file).length} bodies (${files.length} files) in ${path.relative(process.cwd(), OUT)}`);
}

await main();
