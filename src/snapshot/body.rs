//! A whole body through bincode: encoding it into a writer while measuring and
//! checksumming it, and decoding it from memory or from a stream, checksumming on the way.

use bincode::Decode;
use bincode::de::read::Reader;
use bincode::enc::write::Writer;
use bincode::error::{DecodeError, EncodeError};

use super::context::DecodeContext;
use super::schema::Body;
use super::wire::config;

/// A writer that keeps only the length and checksum of what passes through it.
pub(super) struct Measure {
    pub(super) len: u64,
    pub(super) crc: crc32fast::Hasher,
}

impl Writer for Measure {
    fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.len += bytes.len() as u64;
        self.crc.update(bytes);
        Ok(())
    }
}

/// The length and checksum of the encoded body.
pub(super) fn measure(body: &Body<'_>) -> Result<(u64, crc32fast::Hasher), EncodeError> {
    let mut measure = Measure {
        len: 0,
        crc: crc32fast::Hasher::new(),
    };
    bincode::encode_into_writer(body, &mut measure, config())?;
    Ok((measure.len, measure.crc))
}

/// A writer that passes everything on and keeps its length and checksum.
struct Tee<'w, W: std::io::Write> {
    writer: &'w mut W,
    measure: Measure,
}

impl<W: std::io::Write> Writer for Tee<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.writer
            .write_all(bytes)
            .map_err(|inner| EncodeError::Io {
                inner,
                index: usize::try_from(self.measure.len).unwrap_or(usize::MAX),
            })?;
        self.measure.write(bytes)
    }
}

/// Encodes the body into `writer` and returns its length and checksum, in one pass.
pub(super) fn write_measured<W: std::io::Write>(
    body: &Body<'_>,
    writer: &mut W,
) -> Result<(u64, crc32fast::Hasher), std::io::Error> {
    let mut tee = Tee {
        writer,
        measure: Measure {
            len: 0,
            crc: crc32fast::Hasher::new(),
        },
    };
    bincode::encode_into_writer(body, &mut tee, config()).map_err(io_error)?;
    Ok((tee.measure.len, tee.measure.crc))
}

fn io_error(error: EncodeError) -> std::io::Error {
    match error {
        EncodeError::Io { inner, .. } => inner,
        other => std::io::Error::other(other),
    }
}

/// Encodes the body into `writer`.
pub(super) fn write<W: std::io::Write>(
    body: &Body<'_>,
    writer: &mut W,
) -> Result<(), std::io::Error> {
    bincode::encode_into_std_write(body, writer, config())
        .map(drop)
        .map_err(io_error)
}

/// A reader over a body held in memory, which may checksum the bytes it has handed out a
/// block at a time just behind the decoder, while they are still in cache: one pass over
/// the body instead of a checksum pass and a decoding pass.
struct Slice<'a> {
    body: &'a [u8],
    at: usize,
    sum: Option<Sum>,
}

/// The checksum of a body's first `upto` bytes.
struct Sum {
    upto: usize,
    crc: crc32fast::Hasher,
}

impl Slice<'_> {
    fn advance(&mut self, n: usize) {
        self.at += n;
        if let Some(sum) = &mut self.sum
            && self.at - sum.upto >= 1 << 16
        {
            sum.crc.update(&self.body[sum.upto..self.at]);
            sum.upto = self.at;
        }
    }
}

impl Reader for Slice<'_> {
    fn read(&mut self, bytes: &mut [u8]) -> Result<(), DecodeError> {
        let rest = &self.body[self.at..];
        let Some(now) = rest.get(..bytes.len()) else {
            return Err(DecodeError::UnexpectedEnd {
                additional: bytes.len() - rest.len(),
            });
        };
        bytes.copy_from_slice(now);
        self.advance(bytes.len());
        Ok(())
    }

    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.body[self.at..].get(..n)
    }

    fn consume(&mut self, n: usize) {
        self.advance(n.min(self.body.len() - self.at));
    }
}

/// Decodes a body that must fill `bytes` exactly. The caller checks the body's checksum
/// before it trusts the result.
#[cfg(test)]
pub(super) fn read(bytes: &[u8]) -> Result<Body<'static>, ReadError> {
    read_with(bytes, DecodeContext::new(bytes.len()), false).0
}

/// Decodes a body that must fill `bytes` exactly, in `context`, and when `checksum` is set
/// takes the checksum of all of `bytes` on the way. The caller checks the checksum before
/// it trusts the body.
pub(super) fn read_with(
    bytes: &[u8],
    context: DecodeContext,
    checksum: bool,
) -> (Result<Body<'static>, ReadError>, Option<crc32fast::Hasher>) {
    let sum = checksum.then(|| Sum {
        upto: 0,
        crc: crc32fast::Hasher::new(),
    });
    let mut reader = Slice {
        body: bytes,
        at: 0,
        sum,
    };
    let mut decoder = bincode::de::DecoderImpl::new(&mut reader, config(), context);
    let body = Body::decode(&mut decoder).map_err(ReadError::Codec);
    let body = match body {
        Ok(_) if reader.at < bytes.len() => Err(ReadError::Trailing(bytes.len() - reader.at)),
        other => other,
    };
    let crc = reader.sum.map(|mut sum| {
        sum.crc.update(&bytes[sum.upto..]);
        sum.crc
    });
    (body, crc)
}

/// A reader that counts and checksums what passes through it.
struct Tally<R> {
    inner: R,
    read: u64,
    crc: crc32fast::Hasher,
}

impl<R: std::io::Read> std::io::Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// What a stream held besides the body: how many bytes it gave of the `len` asked for, and
/// their checksum.
pub(super) struct StreamEnd {
    pub(super) read: u64,
    pub(super) crc: crc32fast::Hasher,
}

/// Decodes a body straight from a stream of `len` bytes, without holding the bytes, and
/// reads the stream to the end of the body whatever happens, so that the caller can tell a
/// damaged body (checksum) from a short one (length) before it trusts the decoding.
pub(super) fn read_stream<R: std::io::Read>(
    reader: R,
    len: u64,
    context: DecodeContext,
) -> Result<(Result<Body<'static>, ReadError>, StreamEnd), std::io::Error> {
    use std::io::BufRead;
    let tally = Tally {
        inner: reader.take(len),
        read: 0,
        crc: crc32fast::Hasher::new(),
    };
    let mut buffered = std::io::BufReader::with_capacity(1 << 16, tally);
    let mut decoder = bincode::de::DecoderImpl::new(&mut buffered, config(), context);
    let body = Body::decode(&mut decoder).map_err(ReadError::Codec);
    let mut trailing = 0;
    loop {
        let n = buffered.fill_buf()?.len();
        if n == 0 {
            break;
        }
        BufRead::consume(&mut buffered, n);
        trailing += n;
    }
    let body = match body {
        Ok(_) if trailing > 0 => Err(ReadError::Trailing(trailing)),
        other => other,
    };
    let tally = buffered.into_inner();
    Ok((
        body,
        StreamEnd {
            read: tally.read,
            crc: tally.crc,
        },
    ))
}

/// Why a body that passed its checksum does not decode.
#[derive(Debug)]
pub(super) enum ReadError {
    Codec(DecodeError),
    Trailing(usize),
}
