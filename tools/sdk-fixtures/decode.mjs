// Decodes a recorded request body to the JSON document capture would read.
// gzip (first bytes 1f 8b) is gunzipped; a form body `data=<urlencoded base64>` is decoded.
import fs from 'node:fs';
import zlib from 'node:zlib';

export function decodeBody(buf) {
  let bytes = buf;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = zlib.gunzipSync(bytes);
  let text = bytes.toString('utf8');
  if (text.startsWith('data=')) {
    const form = new URLSearchParams(text);
    const data = form.get('data');
    // base64 of the UTF-8 JSON text (posthog-js's _base64Encode)
    text = /^[\[{]/.test(data) ? data : Buffer.from(data, 'base64').toString('utf8');
  }
  return JSON.parse(text);
}

// The events of a decoded document, with the token each one belongs to.
export function eventsOf(doc) {
  const list = Array.isArray(doc) ? doc : Array.isArray(doc.batch) ? doc.batch : [doc];
  const envToken = Array.isArray(doc) ? undefined : (doc.api_key ?? doc.token);
  return list.map((ev) => ({
    ev,
    token: envToken ?? ev.token ?? ev.api_key ?? ev.properties?.token,
    distinct_id: ev.distinct_id ?? ev.$distinct_id ?? ev.properties?.distinct_id,
  }));
}

export function readBody(file) {
  return decodeBody(fs.readFileSync(file));
}
