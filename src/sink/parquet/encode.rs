//! Column chunks encoded on worker threads. A full row group's columns are handed to a pool
//! (a thread per core); each column is encoded and compressed into a buffer of its own, and
//! the file's writer appends the buffers in column order
//! (`SerializedRowGroupWriter::append_column`). A file is byte for byte what one thread
//! would write, whatever the thread count, while the thread that parses rows goes on.

use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use parquet::column::writer::{get_column_writer, ColumnCloseResult};
use parquet::file::properties::WriterPropertiesPtr;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use super::columns::Column;

/// One column chunk encoded: the column's buffers (emptied, for reuse) and the chunk's bytes
/// with its metadata, or why it could not be encoded.
pub struct Encoded {
    pub column: Column,
    pub chunk: parquet::errors::Result<(Bytes, ColumnCloseResult)>,
}

struct Job {
    column: Column,
    descr: ColumnDescPtr,
    props: WriterPropertiesPtr,
    done: mpsc::Sender<Encoded>,
}

/// The encoding threads; dropping the pool lets them finish their jobs and joins them.
pub struct Pool {
    jobs: Option<mpsc::Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// A pool of `threads` threads (at least one).
    pub fn new(threads: usize) -> Pool {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let workers = (0..threads.max(1))
            .map(|i| {
                let rx = Arc::clone(&rx);
                std::thread::Builder::new()
                    .name(format!("parquet-{i}"))
                    .spawn(move || work(&rx))
                    .expect("a thread starts")
            })
            .collect();
        Pool { jobs: Some(tx), workers }
    }

    /// Queues `column` for encoding as described by `descr` and `props`; its result
    /// arrives on the returned receiver.
    pub fn submit(&self, column: Column, descr: ColumnDescPtr, props: WriterPropertiesPtr) -> mpsc::Receiver<Encoded> {
        let (done, result) = mpsc::channel();
        let job = Job { column, descr, props, done };
        self.jobs
            .as_ref()
            .expect("open until dropped")
            .send(job)
            .expect("the encoder threads live as long as the pool");
        result
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A worker: encodes jobs until the pool is dropped.
fn work(jobs: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = jobs.lock().expect("no poisoned lock").recv();
        let Ok(Job { mut column, descr, props, done }) = job else { return };
        let chunk = encode(&mut column, descr, props);
        // The file may have failed and gone meanwhile; its result is then of no use.
        let _ = done.send(Encoded { column, chunk });
    }
}

/// Encodes one column chunk into a buffer of its own.
fn encode(
    column: &mut Column,
    descr: ColumnDescPtr,
    props: WriterPropertiesPtr,
) -> parquet::errors::Result<(Bytes, ColumnCloseResult)> {
    let mut sink = TrackedWrite::new(Vec::new());
    let close = {
        let pages = SerializedPageWriter::new(&mut sink);
        let mut writer = get_column_writer(descr, props, Box::new(pages));
        column.write(&mut writer)?;
        writer.close()?
    };
    Ok((Bytes::from(sink.into_inner()?), close))
}
