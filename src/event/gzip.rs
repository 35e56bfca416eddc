//! Gzip, recognised by its magic bytes and never by a file name or a header: capture
//! decompresses a body that starts with them whatever its `Content-Encoding` says, and a
//! saved `.jsonl.gz` is as often named `.jsonl`.

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

use crate::error::RequestError;

/// The first two bytes of every gzip member (RFC 1952, ID1 and ID2).
const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `bytes` start as gzip does.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// The decompressed body, every member of it (a concatenation of gzip files is one gzip
/// stream), refused once it passes `limit` bytes so that a small body cannot fill memory.
pub(crate) fn decompress(body: &[u8], limit: usize) -> Result<Vec<u8>, RequestError> {
    let mut out = Vec::new();
    let room = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    MultiGzDecoder::new(body)
        .take(room)
        .read_to_end(&mut out)
        .map_err(|e| RequestError::Gzip(e.to_string()))?;
    if out.len() > limit {
        return Err(RequestError::TooLarge { limit });
    }
    Ok(out)
}

/// A stream of input, decompressed as it is read when it starts with gzip's magic bytes,
/// read as it is otherwise. Nothing is held beyond the buffers, so a gzip file of any size
/// streams.
///
/// ```
/// use std::io::{BufRead, Write};
///
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// gz.write_all(b"line 1\nline 2\n")?;
/// let compressed = gz.finish()?;
/// for bytes in [&compressed[..], &b"line 1\nline 2\n"[..]] {
///     let input = idgraph::Input::new(bytes)?;
///     let lines: Vec<String> = input.lines().collect::<Result<_, _>>()?;
///     assert_eq!(lines, ["line 1", "line 2"]);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Input<R> {
    inner: Inner<R>,
}

enum Inner<R> {
    Plain(Prefixed<R>),
    Gzip(BufReader<MultiGzDecoder<Prefixed<R>>>),
}

impl<R: BufRead> Input<R> {
    /// Reads the first bytes of `reader` to tell gzip from the rest; they are read again
    /// as part of the input.
    ///
    /// # Errors
    ///
    /// When `reader` fails.
    pub fn new(mut reader: R) -> io::Result<Input<R>> {
        let mut head = [0; 2];
        let mut len = 0;
        while len < head.len() {
            match reader.read(&mut head[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let prefixed = Prefixed {
            head,
            pos: 0,
            len,
            inner: reader,
        };
        let inner = if is_gzip(&head[..len]) {
            Inner::Gzip(BufReader::with_capacity(
                1 << 16,
                MultiGzDecoder::new(prefixed),
            ))
        } else {
            Inner::Plain(prefixed)
        };
        Ok(Input { inner })
    }

    /// Whether the input is gzip, decompressed as it is read.
    #[must_use]
    pub fn is_gzip(&self) -> bool {
        matches!(self.inner, Inner::Gzip(_))
    }
}

impl<R: BufRead> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(plain) => plain.read(buf),
            Inner::Gzip(gzip) => gzip.read(buf),
        }
    }
}

impl<R: BufRead> BufRead for Input<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match &mut self.inner {
            Inner::Plain(plain) => plain.fill_buf(),
            Inner::Gzip(gzip) => gzip.fill_buf(),
        }
    }

    fn consume(&mut self, amount: usize) {
        match &mut self.inner {
            Inner::Plain(plain) => plain.consume(amount),
            Inner::Gzip(gzip) => gzip.consume(amount),
        }
    }
}

/// `inner` with the bytes already taken from it to look at put back in front.
struct Prefixed<R> {
    head: [u8; 2],
    pos: usize,
    len: usize,
    inner: R,
}

impl<R: BufRead> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Prefixed<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos < self.len {
            Ok(&self.head[self.pos..self.len])
        } else {
            self.inner.fill_buf()
        }
    }

    fn consume(&mut self, amount: usize) {
        let from_head = amount.min(self.len - self.pos);
        self.pos += from_head;
        self.inner.consume(amount - from_head);
    }
}
