// Derives tests/fixtures/sdk/expected.json from the recorded bodies:
//
//   node expected.mjs
//
// For each fixture set (one journey of one SDK) it decodes the bodies in the order they
// arrived (index.json), gunzips gzip, decodes `data=<base64>` forms, takes every event of an
// array or batch envelope, and replays the events through a small model of PostHog's person
// rules (docs/behaviour.md §3–§6, §10, §12). It writes the persons PostHog would produce, the
// ids left personless, and the groups. The model is deliberately small; it covers what the
// recorded journeys exercise:
//
// - project: the envelope's api_key/token, else the event's token/api_key, else
//   properties.token, else the request's `Authorization: Bearer <token>` (posthog-node's
//   capture v1, whose bodies carry no token at all).
// - distinct id: the event's distinct_id, else $distinct_id, else properties.distinct_id
//   (posthog-js sends it only inside properties).
// - personless (§10): `$process_person_profile: false` (capture v1: options.process_person_profile)
//   → $identify/$create_alias/$merge_dangerously/$groupidentify are dropped; any other
//   event leaves an id with no person marked personless and changes nothing.
// - $identify with the key $anon_distinct_id merges $anon_distinct_id into distinct_id;
//   $create_alias/$merge_dangerously with a truthy alias merge alias into distinct_id
//   (§3). Merge cases (§5): neither has a person → one new person with both ids; one has →
//   the other id joins it; both on different persons → merged into the distinct_id's person,
//   unless the source person is identified ($merge_dangerously skips that guard). Every
//   executed merge marks the person identified; a self merge or an illegal id (§4.1) does not.
//   $identify without $anon_distinct_id is a plain event: is_identified stays false.
// - property ops: top-level $set/$set_once are merged into properties.$set/$set_once (top
//   level wins); $set_once fills absent keys, $set overwrites, $unset removes; a merge keeps
//   source properties overlaid by target properties (§6). $groupidentify changes no person
//   property but still gets or creates the person of its distinct_id, and upserts the group
//   with $group_set (§12).
// - properties_subset holds only keys that do not start with `$` and whose value is not
//   null: the journey's own properties (email, first_seen, plan, ...), not the
//   browser/campaign keys posthog-js adds or the $initial_* keys ingestion lifts.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeBody, eventsOf } from './decode.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DIR = path.resolve(HERE, '../../tests/fixtures/sdk');

const CI_ILLEGAL = ['anonymous', 'guest', 'distinctid', 'distinct_id', 'id', 'not_authenticated', 'email', 'undefined', 'true', 'false'];
const CS_ILLEGAL = ['[object Object]', 'NaN', 'None', 'none', 'null', '0', 'undefined'];
const quoted = (l) => l.flatMap((x) => [x, `'${x}'`, `"${x}"`]);
const CI = new Set(quoted(CI_ILLEGAL));
const CS = new Set(quoted(CS_ILLEGAL));
function unmergeable(id) {
  return CI.has(id.toLowerCase()) || CS.has(id) || id.trim() === '' || id.includes('\u0000') || [...id].length > 400;
}

const IDENTITY_EVENTS = new Set(['$identify', '$create_alias', '$merge_dangerously', '$groupidentify']);

class Project {
  constructor(team) {
    this.team = team;
    this.owner = new Map(); // distinct id -> person
    this.personless = new Set();
    this.groups = new Map(); // "type\u0000key" -> {type, key, properties}
    this.order = []; // persons in creation order
  }
  create(ids) {
    const p = { ids: [], is_identified: false, properties: {} };
    for (const id of ids) this.attach(p, id);
    this.order.push(p);
    return p;
  }
  attach(p, id) {
    p.ids.push(id);
    this.owner.set(id, p);
    this.personless.delete(id);
  }
  getOrCreate(id) {
    return this.owner.get(id) ?? this.create([id]);
  }
  merge(source, target, dangerously) {
    if (source === target) return this.getOrCreate(target);
    if (unmergeable(target) || unmergeable(source)) return this.getOrCreate(target);
    const s = this.owner.get(source);
    const t = this.owner.get(target);
    let p;
    if (!s && !t) p = this.create([target, source]);
    else if (s && !t) (p = s), this.attach(s, target);
    else if (!s && t) (p = t), this.attach(t, source);
    else if (s === t) p = t;
    else if (s.is_identified && !dangerously) p = t; // cannot_merge_already_identified
    else {
      for (const id of s.ids) this.attach(t, id);
      t.properties = { ...s.properties, ...t.properties };
      this.order = this.order.filter((x) => x !== s);
      p = t;
    }
    p.is_identified = true;
    return p;
  }
}

function ops(ev) {
  const props = ev.properties ?? {};
  const set = { ...(props.$set ?? {}), ...(ev.$set ?? {}) };
  const setOnce = { ...(props.$set_once ?? {}), ...(ev.$set_once ?? {}) };
  const unset = props.$unset ?? ev.$unset ?? [];
  return { set, setOnce, unset: Array.isArray(unset) ? unset : Object.keys(unset) };
}

function apply(p, { set, setOnce, unset }) {
  for (const [k, v] of Object.entries(setOnce)) if (!(k in p.properties)) p.properties[k] = v;
  for (const [k, v] of Object.entries(set)) p.properties[k] = v;
  for (const k of unset) delete p.properties[k];
}

function processPerson(ev) {
  const v = ev.properties?.$process_person_profile ?? ev.options?.process_person_profile;
  return v !== false;
}

function replay(requests) {
  const projects = new Map();
  const project = (team) => {
    if (!projects.has(team)) projects.set(team, new Project(team));
    return projects.get(team);
  };
  let events = 0;
  for (const { file, meta } of requests) {
    const doc = decodeBody(fs.readFileSync(path.join(DIR, file)));
    const bearer = (meta.authorization ?? '').replace(/^Bearer\s+/i, '') || undefined;
    for (const { ev, token, distinct_id } of eventsOf(doc)) {
      events += 1;
      const team = token ?? bearer;
      if (!team) throw new Error(`${file}: an event without a project`);
      const pr = project(team);
      const id = String(distinct_id);
      const props = ev.properties ?? {};
      if (!processPerson(ev)) {
        if (IDENTITY_EVENTS.has(ev.event)) continue; // dropped (§10)
        if (!pr.owner.has(id)) pr.personless.add(id);
        continue;
      }
      let p;
      if (ev.event === '$identify' && '$anon_distinct_id' in props) {
        p = pr.merge(String(props.$anon_distinct_id), id, false);
      } else if ((ev.event === '$create_alias' || ev.event === '$merge_dangerously') && props.alias) {
        p = pr.merge(String(props.alias), id, ev.event === '$merge_dangerously');
      } else {
        p = pr.getOrCreate(id);
      }
      if (ev.event === '$groupidentify') {
        if (props.$group_type && props.$group_key) {
          const key = `${props.$group_type}\u0000${props.$group_key}`;
          const g = pr.groups.get(key) ?? { type: props.$group_type, key: String(props.$group_key), properties: {} };
          Object.assign(g.properties, props.$group_set ?? {});
          pr.groups.set(key, g);
        }
        continue; // person properties never change through $groupidentify
      }
      apply(p, ops(ev));
    }
  }
  return { projects: [...projects.values()], events };
}

const subset = (props) =>
  Object.fromEntries(Object.entries(props).filter(([k, v]) => !k.startsWith('$') && v !== null));

function main() {
  const index = JSON.parse(fs.readFileSync(path.join(DIR, 'index.json'), 'utf8'));
  const sets = {};
  const CAPTURE = ['/e/', '/i/v0/e/', '/batch/', '/capture/', '/track/', '/engage/', '/i/v1/analytics/events'];
  const names = [...new Set(index.requests.filter((r) => r.file).map((r) => r.journey))];
  for (const setName of names) {
    const requests = index.requests
      .filter((r) => r.file && r.journey === setName)
      .map((r) => ({ file: r.file, meta: JSON.parse(fs.readFileSync(path.join(DIR, r.file.replace(/\.[a-z]+$/, '.meta.json')), 'utf8')) }))
      .filter((r) => CAPTURE.includes(r.meta.path));
    const { projects, events } = replay(requests);
    sets[setName] = {
      files: requests.map((r) => r.file),
      events,
      persons: projects.flatMap((pr) =>
        pr.order.map((p) => ({
          team: pr.team,
          distinct_ids: p.ids,
          is_identified: p.is_identified,
          properties_subset: subset(p.properties),
        })),
      ),
      personless_distinct_ids: projects.flatMap((pr) => [...pr.personless].map((id) => ({ team: pr.team, distinct_id: id }))),
      groups: projects.flatMap((pr) =>
        [...pr.groups.values()].map((g) => ({ team: pr.team, group_type: g.type, group_key: g.key, properties: g.properties })),
      ),
    };
  }
  const out = {
    generated_by: 'tools/sdk-fixtures/expected.mjs (rules in its header and in tools/sdk-fixtures/README.md)',
    recorded_with: index.recorded_with,
    tokens: index.tokens,
    note: 'distinct_ids are in the order they joined the person; properties_subset lists only non-$ keys with non-null values',
    sets,
  };
  fs.writeFileSync(path.join(DIR, 'expected.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(`expected.json: ${Object.keys(sets).length} sets`);
}

main();
