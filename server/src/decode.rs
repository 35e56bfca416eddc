//! The HTTP forms of a capture payload, unwrapped down to the body the library reads
//! (`idgraph::CaptureReader::read` takes JSON or gzip): the `data=` form field or query
//! parameter, base64 (`compression=base64`, or a payload that is base64 through and
//! through), and `/engage/`'s nameless event. Gzip needs nothing here: the library tells
//! it by its magic bytes, which is also how capture reads it whatever the hint says.

use std::io::Read;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use flate2::read::GzDecoder;

/// How the client says the payload is encoded: `compression=` in the query or the form,
/// else `Content-Encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// No hint, or one that changes nothing here (`gzip`, `gzip-js`: told by magic bytes).
    None,
    /// `base64`, `b64`.
    Base64,
    /// `lz64`, `lz-string`: not supported (posthog-js stopped sending it).
    LzString,
}

impl Hint {
    fn parse(value: &str) -> Hint {
        match value.to_ascii_lowercase().as_str() {
            "base64" | "b64" => Hint::Base64,
            "lz64" | "lz-string" => Hint::LzString,
            _ => Hint::None,
        }
    }
}

/// What the request carried besides its body.
pub struct Request<'a> {
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The `Content-Encoding` header.
    pub content_encoding: Option<&'a str>,
}

/// Why a payload could not be unwrapped; the client's fault (400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// No body and no `data` parameter.
    Empty,
    /// `compression=base64` on text that is not base64.
    Base64,
    /// A compression capture no longer takes.
    Unsupported(&'static str),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty payload"),
            DecodeError::Base64 => f.write_str("data is not valid base64"),
            DecodeError::Unsupported(what) => write!(f, "unsupported compression {what}"),
        }
    }
}

/// Base64 as clients write it: padded or not.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The payload the library reads: the `data` field of a form body or of the query (query
/// first, as capture takes it), else the body; base64-decoded when the hint says so or
/// when it is base64 through and through.
///
/// # Errors
///
/// [`DecodeError`] for an empty payload, bad base64 under a base64 hint, or lz-string.
pub fn payload(request: &Request<'_>, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut hint = request
        .content_encoding
        .map_or(Hint::None, |encoding| Hint::parse(encoding.trim()));
    let mut data: Option<String> = None;
    let mut query_hint = None;
    if let Some(query) = request.query {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "data" if !value.is_empty() => data = Some(value.into_owned()),
                "compression" => query_hint = Some(Hint::parse(&value)),
                _ => {}
            }
        }
    }
    let is_form = request.content_type.is_some_and(|t| {
        t.trim_start()
            .starts_with("application/x-www-form-urlencoded")
    });
    let mut form_hint = None;
    if data.is_none() && is_form && !body.is_empty() {
        // A JSON body sent with curl's default content type is not a form: it has no
        // `data` field, and is read as the body it is.
        for (key, value) in form_urlencoded::parse(body) {
            match &*key {
                "data" => data = Some(value.into_owned()),
                "compression" => form_hint = Some(Hint::parse(&value)),
                _ => {}
            }
        }
    }
    if let Some(found) = form_hint.or(query_hint) {
        hint = found;
    }
    let raw: Vec<u8> = match data {
        // Form decoding turned base64's `+` into spaces.
        Some(text) => text.replace(' ', "+").into_bytes(),
        None if body.is_empty() => return Err(DecodeError::Empty),
        None => body.to_vec(),
    };
    match hint {
        Hint::LzString => Err(DecodeError::Unsupported("lz64")),
        Hint::Base64 => BASE64
            .decode(raw.trim_ascii())
            .map_err(|_| DecodeError::Base64),
        Hint::None if looks_like_base64(&raw) => Ok(BASE64.decode(raw.trim_ascii()).unwrap_or(raw)),
        Hint::None => Ok(raw),
    }
}

/// Whether a payload with no hint is base64 through and through (capture decodes those
/// too): only base64's alphabet, and not what JSON or gzip start with.
fn looks_like_base64(raw: &[u8]) -> bool {
    let text = raw.trim_ascii();
    !text.is_empty()
        && !matches!(text.first(), Some(b'{' | b'['))
        && text
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// `/engage/`: a single event object without a name is an `$identify`, as capture makes
/// it (`RawRequest::Engage`). `body` is what the library read (gzip or not), `limit` its
/// maximum size once decompressed. `None` when the body is not a single object that lacks
/// `event`; otherwise the same object with `"event": "$identify"`.
pub fn engage(body: &[u8], limit: usize) -> Option<Vec<u8>> {
    let text = if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let mut decoder = GzDecoder::new(body).take(u64::try_from(limit).ok()?.saturating_add(1));
        decoder.read_to_end(&mut out).ok()?;
        if out.len() > limit {
            return None;
        }
        out
    } else {
        body.to_vec()
    };
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&text).ok()?;
    if object.get("event").is_some_and(|name| !name.is_null()) {
        return None;
    }
    object.insert("event".into(), "$identify".into());
    serde_json::to_vec(&object).ok()
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
