//! The one pass over a backup's bytes. Writing: raw dump bytes go through a
//! compressor and a hashing counter into the partial file, so the checksum is
//! of exactly the bytes stored and nothing is re-read. Reading: the stored
//! file is hashed and counted as it is read and decompressed, so verify runs
//! every check of a level in one read.
//!
//! Compression sits behind [`Encoder`] so that the dump pipeline can feed it
//! blocks from a reader thread, and a parallel block compressor can replace
//! it without touching hashing or publishing.

use std::io::{self, BufRead, BufReader, Read, Write};

use sha2::{Digest, Sha256};

use crate::record::Compression;

/// Size and SHA-256 of a byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDigest {
    pub bytes: u64,
    pub sha256: String,
}

/// Lower-case hex of a digest, as `sha256sum` prints it.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Counts and hashes everything written through it.
#[derive(Debug)]
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Option<Sha256>,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Some(Sha256::new()),
            bytes: 0,
        }
    }

    /// Counts without hashing, for a layer whose digest is not wanted
    /// (the plaintext of an unencrypted backup is the stored file).
    pub fn counting_only(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: None,
            bytes: 0,
        }
    }

    pub fn count(&self) -> u64 {
        self.bytes
    }

    pub fn finish(self) -> (W, StreamDigest) {
        let digest = StreamDigest {
            bytes: self.bytes,
            sha256: self
                .hasher
                .map(|h| to_hex(&h.finalize()))
                .unwrap_or_default(),
        };
        (self.inner, digest)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts and hashes everything read through it.
#[derive(Debug)]
pub struct HashingReader<R: Read> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    pub fn count(&self) -> u64 {
        self.bytes
    }

    /// Reads whatever the consumer left unread (so the digest covers the whole
    /// file) and returns how many such bytes there were with the digest.
    pub fn finish(mut self) -> io::Result<(u64, StreamDigest)> {
        let leftover = io::copy(&mut self, &mut io::sink())?;
        Ok((
            leftover,
            StreamDigest {
                bytes: self.bytes,
                sha256: to_hex(&self.hasher.finalize()),
            },
        ))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Counts bytes read through it, for decompressed sizes and progress.
#[derive(Debug)]
pub struct CountingReader<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> CountingReader<R> {
    pub fn new(inner: R) -> Self {
        CountingReader { inner, bytes: 0 }
    }

    pub fn count(&self) -> u64 {
        self.bytes
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The default compression levels: gzip 6 as gzip(1) uses, zstd 3 as zstd(1).
pub fn default_level(compression: Compression) -> Option<i32> {
    match compression {
        Compression::Gzip => Some(6),
        Compression::Zstd => Some(3),
        Compression::None | Compression::PgDump => None,
    }
}

/// Checks a user-given level against what the compressor accepts.
pub fn check_level(compression: Compression, level: i32) -> Result<(), String> {
    let range = match compression {
        Compression::Gzip => 0..=9,
        Compression::Zstd => 1..=19,
        Compression::PgDump => 0..=9,
        Compression::None => {
            return Err("--level makes no sense with --compress none".to_string());
        }
    };
    if range.contains(&level) {
        Ok(())
    } else {
        Err(format!(
            "--level {level} is out of range for {} ({}..={})",
            compression.as_str(),
            range.start(),
            range.end()
        ))
    }
}

/// A compressing writer over `W`.
pub enum Encoder<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    ParallelGzip(crate::pargz::ParallelGzip<W>),
    Zstd(zstd::Encoder<'static, W>),
    Plain(W),
}

impl<W: Write> std::fmt::Debug for Encoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Encoder::Gzip(_) => "gzip",
            Encoder::ParallelGzip(_) => "gzip (parallel)",
            Encoder::Zstd(_) => "zstd",
            Encoder::Plain(_) => "none",
        };
        f.debug_tuple("Encoder").field(&name).finish()
    }
}

impl<W: Write> Encoder<W> {
    /// `workers` is how many threads the compressor may use besides the
    /// calling one; 0 compresses on the calling thread. gzip with workers
    /// writes concatenated members compressed in parallel (see `pargz`).
    pub fn new(
        compression: Compression,
        level: Option<i32>,
        workers: u32,
        inner: W,
    ) -> io::Result<Self> {
        let level = level.or(default_level(compression));
        Ok(match compression {
            Compression::Gzip => {
                let level = u32::try_from(level.unwrap_or(6)).unwrap_or(6);
                if workers > 0 {
                    Encoder::ParallelGzip(crate::pargz::ParallelGzip::new(
                        inner,
                        level,
                        workers as usize,
                    ))
                } else {
                    Encoder::Gzip(flate2::write::GzEncoder::new(
                        inner,
                        flate2::Compression::new(level),
                    ))
                }
            }
            Compression::Zstd => {
                let mut encoder = zstd::Encoder::new(inner, level.unwrap_or(3))?;
                if workers > 0 {
                    encoder.multithread(workers)?;
                    // zstd's default job of several windows per worker
                    // took peak RSS to 80 MiB; 1 MiB jobs keep it low at no
                    // measurable cost in size.
                    encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))?;
                }
                Encoder::Zstd(encoder)
            }
            Compression::None | Compression::PgDump => Encoder::Plain(inner),
        })
    }

    /// Writes the compressor's trailer and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::ParallelGzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::Plain(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::ParallelGzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Plain(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::ParallelGzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::Plain(w) => w.flush(),
        }
    }
}

/// A decompressing reader over `R` for the stored compression. gzip accepts
/// several concatenated members, as gunzip does (parallel compressors write
/// them).
pub fn decoder<'a, R: BufRead + 'a>(
    compression: Compression,
    inner: R,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(inner)),
        Compression::Zstd => Box::new(zstd::Decoder::with_buffer(inner)?),
        Compression::None | Compression::PgDump => Box::new(inner),
    })
}

/// Input per zstd worker job.
const ZSTD_JOB_SIZE: u32 = 1024 * 1024;

/// Size of the blocks the dump pipeline moves between threads.
pub const BLOCK_SIZE: usize = 256 * 1024;

/// Buffered reader with the block size used everywhere.
pub fn buffered<R: Read>(inner: R) -> BufReader<R> {
    BufReader::with_capacity(BLOCK_SIZE, inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(compression: Compression) {
        round_trip_with_workers(compression, 0);
    }

    fn round_trip_with_workers(compression: Compression, workers: u32) {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut enc =
            Encoder::new(compression, None, workers, HashingWriter::new(Vec::new())).unwrap();
        enc.write_all(&data).unwrap();
        let (stored, digest) = enc.finish().unwrap().finish();
        assert_eq!(digest.bytes, stored.len() as u64);

        let mut hashing = HashingReader::new(stored.as_slice());
        let mut out = Vec::new();
        decoder(compression, buffered(&mut hashing))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        let (leftover, read_digest) = hashing.finish().unwrap();
        assert_eq!(leftover, 0);
        assert_eq!(read_digest, digest);
    }

    #[test]
    fn every_compression_round_trips_with_matching_digests() {
        round_trip(Compression::Gzip);
        round_trip_with_workers(Compression::Gzip, 2);
        round_trip(Compression::Zstd);
        round_trip(Compression::None);
    }

    #[test]
    fn digest_matches_sha256sum_of_known_input() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (_, d) = w.finish();
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn levels_are_checked() {
        assert!(check_level(Compression::Gzip, 9).is_ok());
        assert!(check_level(Compression::Gzip, 10).is_err());
        assert!(check_level(Compression::Zstd, 0).is_err());
        assert!(check_level(Compression::None, 1).is_err());
    }
}
