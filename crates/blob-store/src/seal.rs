//! Sealing chunks: encrypt each plaintext chunk and write it at its place in the data file.
//!
//! A blob of one chunk is sealed on the caller's thread. From the second chunk on, sealing moves
//! to worker threads (up to [`MAX_WORKERS`], leaving one core to the caller) while the caller
//! keeps hashing: chunks are independent under STREAM (the nonce carries the index) and each
//! one's offset is known, so workers write with positional writes and need no reordering. The
//! job queue is bounded, so memory stays at `2 × workers + 2` chunks per writer (the queue,
//! one per worker, the caller's full chunk waiting for room and the one it fills next).
//!
//! Why threads: SHA-256 (≈2 GB/s on one core with SHA-NI) must see every byte in order, while
//! sealing (`ring`'s AES-256-GCM, ≈10 GB/s with VAES) and writing need not; moving them off the
//! caller's thread leaves hashing as the limit. Every [`WRITEBACK_CHUNKS`] chunks the window
//! before is handed to the disk ([`start_writeback`]), so the disk writes while the caller
//! hashes instead of all of it waiting for the final fsync.

use crate::cipher::Cipher;
use crate::error::{Error, Result};
use crate::format::{chunk_nonce, CHUNK_SIZE, HEADER_LEN, MAX_CHUNKS, PREFIX_LEN, TAG_LEN};
use crate::fsio::{io_err, start_writeback};
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

/// Sealed chunks per writeback window (8 MiB of plaintext): each time a window fills, the one
/// before it (long written: at most `2 × workers + 2` chunks are in flight) is handed to the
/// disk, so writing overlaps hashing instead of all waiting for the final fsync.
const WRITEBACK_CHUNKS: u64 = 128;

/// Most worker threads one writer uses: one seals and writes faster than the caller hashes;
/// a second helps only when writes are slow.
pub(crate) const MAX_WORKERS: usize = 2;

/// What the caller and the workers share.
struct Shared {
    file: File,
    path: PathBuf,
    cipher: Cipher,
    header: [u8; HEADER_LEN],
    stream_prefix: [u8; PREFIX_LEN],
    /// The first failure of any worker, until the caller takes it.
    error: Mutex<Option<Error>>,
    /// Set after a failure or when the writer is dropped unfinished: workers skip what is queued.
    stop: AtomicBool,
    /// Chunk buffers written out and ready for reuse (saves an allocation and its page faults
    /// per chunk).
    spare: Mutex<Vec<Vec<u8>>>,
}

struct Job {
    index: u64,
    last: bool,
    chunk: Vec<u8>,
}

struct Workers {
    jobs: SyncSender<Job>,
    handles: Vec<JoinHandle<()>>,
}

pub(crate) struct ChunkSealer {
    shared: Arc<Shared>,
    next_index: u64,
    workers: Option<Workers>,
}

impl ChunkSealer {
    /// Writes the header at the start of `file` and returns a sealer for its chunks.
    pub fn new(file: File, path: PathBuf, cipher: Cipher, header: [u8; HEADER_LEN], stream_prefix: [u8; PREFIX_LEN]) -> Result<Self> {
        write_at(&file, &header, 0).map_err(io_err("write", &path))?;
        let shared = Shared {
            file,
            path,
            cipher,
            header,
            stream_prefix,
            error: Mutex::new(None),
            stop: AtomicBool::new(false),
            spare: Mutex::new(Vec::new()),
        };
        Ok(ChunkSealer { shared: Arc::new(shared), next_index: 0, workers: None })
    }

    /// An empty buffer with room for a chunk and its tag, reused when one is spare.
    pub fn buffer(&self) -> Vec<u8> {
        let spare = self.shared.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        spare.unwrap_or_else(|| Vec::with_capacity(CHUNK_SIZE + TAG_LEN))
    }

    /// Seals `chunk` (plaintext, ideally from [`ChunkSealer::buffer`]) as the next chunk.
    pub fn seal(&mut self, chunk: Vec<u8>, last: bool) -> Result<()> {
        if self.next_index >= MAX_CHUNKS {
            return Err(Error::TooLarge { max_bytes: MAX_CHUNKS * CHUNK_SIZE as u64 });
        }
        let job = Job { index: self.next_index, last, chunk };
        self.next_index += 1;
        if self.workers.is_none() && (last || worker_count() == 0) {
            return self.shared.seal(job);
        }
        let workers = self.workers.get_or_insert_with(|| Workers::start(&self.shared));
        if workers.jobs.send(job).is_err() {
            // Every worker is gone: only after a failure they recorded.
            return Err(self.shared.take_error().unwrap_or_else(|| self.shared.stopped()));
        }
        match self.shared.take_error() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Waits for every chunk to be written, then fsyncs the file.
    pub fn finish(mut self) -> Result<()> {
        if let Some(workers) = self.workers.take() {
            if !workers.join() {
                return Err(Error::WriterFailed { reason: "a sealing worker panicked".into() });
            }
        }
        if let Some(err) = self.shared.take_error() {
            return Err(err);
        }
        self.shared.file.sync_all().map_err(io_err("fsync", &self.shared.path))
    }
}

impl Drop for ChunkSealer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(workers) = self.workers.take() {
            workers.join();
        }
    }
}

impl Workers {
    fn start(shared: &Arc<Shared>) -> Self {
        let count = worker_count();
        let (jobs, queue) = sync_channel::<Job>(count);
        let queue = Arc::new(Mutex::new(queue));
        let handles = (0..count)
            .map(|_| {
                let (shared, queue) = (shared.clone(), queue.clone());
                std::thread::spawn(move || work(&shared, &queue))
            })
            .collect();
        Workers { jobs, handles }
    }

    /// Closes the queue and waits for the workers; `false` if one panicked (none should).
    fn join(self) -> bool {
        drop(self.jobs);
        let mut all_ok = true;
        for handle in self.handles {
            all_ok &= handle.join().is_ok(); // join every worker, even after a panic
        }
        all_ok
    }
}

fn work(shared: &Shared, queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(job) = job else { return };
        if shared.stop.load(Ordering::Relaxed) {
            continue;
        }
        if let Err(err) = shared.seal(job) {
            shared.stop.store(true, Ordering::Relaxed);
            shared.error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(err);
        }
    }
}

impl Shared {
    fn seal(&self, mut job: Job) -> Result<()> {
        let nonce = chunk_nonce(&self.stream_prefix, job.index as u32, job.last);
        let tag = self.cipher.seal(&nonce, &self.header, &mut job.chunk);
        job.chunk.extend_from_slice(&tag);
        let offset = HEADER_LEN as u64 + job.index * (CHUNK_SIZE + TAG_LEN) as u64;
        write_at(&self.file, &job.chunk, offset).map_err(io_err("write", &self.path))?;
        if (job.index + 1).is_multiple_of(WRITEBACK_CHUNKS) && job.index + 1 >= 2 * WRITEBACK_CHUNKS {
            let window = WRITEBACK_CHUNKS * (CHUNK_SIZE + TAG_LEN) as u64;
            start_writeback(&self.file, offset + (CHUNK_SIZE + TAG_LEN) as u64 - 2 * window, window);
        }
        job.chunk.clear();
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < 2 * MAX_WORKERS + 2 {
            spare.push(job.chunk);
        }
        Ok(())
    }

    fn take_error(&self) -> Option<Error> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn stopped(&self) -> Error {
        Error::WriterFailed { reason: format!("sealing workers stopped while writing {}", self.path.display()) }
    }
}

/// Worker threads per writer: the machine's parallelism (asked once) less the caller's core, at
/// most [`MAX_WORKERS`]; with none (one core), everything is sealed on the caller's thread.
fn worker_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| (std::thread::available_parallelism().map_or(1, |n| n.get()) - 1).min(MAX_WORKERS))
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
fn write_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, buf, offset)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}
