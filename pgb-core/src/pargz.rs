//! Parallel gzip: the single-threaded deflate of `pg_dump | gzip` is what
//! makes nightly windows long. The stream is cut into 1 MiB chunks that
//! worker threads compress independently, each into a complete gzip member;
//! the members are written in order. A file of concatenated members is a
//! standard gzip file (RFC 1952): `gunzip`, `gzip -t`, `zcat` and pgb's own
//! reader read it as one stream. Compared with one member, each chunk loses
//! the previous chunk's 32 KiB window, which costs well under 1% in size at
//! this chunk size. Memory is bounded: at most `2 x workers` chunks are in
//! flight. Dropping the writer without `finish` closes the job channel,
//! which stops the workers.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::write::GzEncoder;

/// Input bytes per gzip member.
pub const CHUNK: usize = 1024 * 1024;

type Job = (u64, Vec<u8>);
type Done = (u64, io::Result<Vec<u8>>);

/// A gzip writer that compresses on `workers` threads.
pub struct ParallelGzip<W: Write> {
    inner: W,
    chunk: Vec<u8>,
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    next_job: u64,
    next_write: u64,
    ready: BTreeMap<u64, Vec<u8>>,
    in_flight: usize,
    max_in_flight: usize,
}

impl<W: Write> std::fmt::Debug for ParallelGzip<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelGzip")
            .field("workers", &self.workers.len())
            .finish()
    }
}

fn compress(level: flate2::Compression, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 2), level);
    encoder.write_all(data)?;
    encoder.finish()
}

impl<W: Write> ParallelGzip<W> {
    pub fn new(inner: W, level: u32, workers: usize) -> ParallelGzip<W> {
        let workers = workers.max(1);
        let level = flate2::Compression::new(level);
        let (job_tx, job_rx) = sync_channel::<Job>(workers);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx): (Sender<Done>, Receiver<Done>) = channel();
        let handles = (0..workers)
            .map(|_| {
                let jobs = Arc::clone(&job_rx);
                let done = done_tx.clone();
                std::thread::spawn(move || loop {
                    let job = jobs
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok((seq, data)) = job else { break };
                    if done.send((seq, compress(level, &data))).is_err() {
                        break;
                    }
                })
            })
            .collect();
        ParallelGzip {
            inner,
            chunk: Vec::with_capacity(CHUNK),
            jobs: Some(job_tx),
            done: done_rx,
            workers: handles,
            next_job: 0,
            next_write: 0,
            ready: BTreeMap::new(),
            in_flight: 0,
            max_in_flight: 2 * workers,
        }
    }

    fn submit(&mut self) -> io::Result<()> {
        let data = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("parallel gzip already finished"))?;
        jobs.send((self.next_job, data))
            .map_err(|_| io::Error::other("parallel gzip workers stopped"))?;
        self.next_job += 1;
        self.in_flight += 1;
        while self.in_flight >= self.max_in_flight {
            self.collect_one()?;
        }
        Ok(())
    }

    /// Receives one compressed member and writes whatever is now in order.
    fn collect_one(&mut self) -> io::Result<()> {
        let (seq, member) = self
            .done
            .recv()
            .map_err(|_| io::Error::other("parallel gzip workers stopped"))?;
        self.in_flight -= 1;
        self.ready.insert(seq, member?);
        while let Some(member) = self.ready.remove(&self.next_write) {
            self.inner.write_all(&member)?;
            self.next_write += 1;
        }
        Ok(())
    }

    /// Compresses what is left, writes every member in order and returns
    /// the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.chunk.is_empty() || self.next_job == 0 {
            // An empty input still makes a valid (empty) gzip file.
            self.submit()?;
        }
        while self.in_flight > 0 {
            self.collect_one()?;
        }
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.chunk.len();
        let n = room.min(buf.len());
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == CHUNK {
            self.submit()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn output_is_gzip_that_any_reader_decodes_in_order() {
        let data: Vec<u8> = (0..(3 * CHUNK + 12345))
            .map(|i| (i % 251) as u8 ^ (i / 7919) as u8)
            .collect();
        let mut writer = ParallelGzip::new(Vec::new(), 6, 3);
        for piece in data.chunks(100_003) {
            writer.write_all(piece).unwrap();
        }
        let gz = writer.finish().unwrap();
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(gz.as_slice())
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);

        let empty = ParallelGzip::new(Vec::new(), 6, 2).finish().unwrap();
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(empty.as_slice())
            .read_to_end(&mut out)
            .unwrap();
        assert!(out.is_empty() && !empty.is_empty());
    }

    #[test]
    fn gunzip_reads_the_concatenated_members() {
        let data = "COPY t FROM stdin;\n".repeat(200_000);
        let mut writer = ParallelGzip::new(Vec::new(), 6, 2);
        writer.write_all(data.as_bytes()).unwrap();
        let gz = writer.finish().unwrap();
        let mut child = std::process::Command::new("gzip")
            .args(["-dc"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || stdin.write_all(&gz).unwrap());
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, data.as_bytes());
    }
}
