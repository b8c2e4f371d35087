//! One endpoint's queue of envelopes, on local disk so that it survives a
//! restart: a folder with one file per envelope, named by a sequence number
//! (`00000000000000000042.json`), written to a temporary name, synced and
//! renamed into place, so a file either is whole or is not there. Delivery
//! takes the lowest number first and removes the file once the endpoint
//! took it. Bounded: beyond `max` files, new envelopes are refused (the
//! caller counts and logs them); nothing here ever waits for the endpoint.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

struct State {
    /// Sequence numbers on disk, oldest first.
    seqs: VecDeque<u64>,
    next: u64,
}

pub struct Queue {
    dir: PathBuf,
    max: usize,
    state: Mutex<State>,
    /// Woken on each push.
    pub(super) ready: tokio::sync::Notify,
}

fn file_name(seq: u64) -> String {
    format!("{seq:020}.json")
}

impl Queue {
    /// Opens (or makes) the folder and picks up what a previous run left;
    /// half-written temporary files are removed.
    pub fn open(dir: &Path, max: usize) -> io::Result<Queue> {
        fs::create_dir_all(dir)?;
        let mut seqs = Vec::new();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".tmp-") {
                let _ = fs::remove_file(dir.join(&*name));
            } else if let Some(seq) = name.strip_suffix(".json").and_then(|n| n.parse().ok()) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let next = seqs.last().map_or(0, |s| s + 1);
        Ok(Queue {
            dir: dir.to_path_buf(),
            max,
            state: Mutex::new(State {
                seqs: seqs.into(),
                next,
            }),
            ready: tokio::sync::Notify::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn len(&self) -> usize {
        self.state.lock().expect("queue poisoned").seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends an envelope; Ok(false) when the queue is full. Blocking I/O:
    /// called from the notifier's writer thread, never a request's task.
    pub fn push(&self, body: &[u8]) -> io::Result<bool> {
        let seq = {
            let mut s = self.state.lock().expect("queue poisoned");
            if s.seqs.len() >= self.max {
                return Ok(false);
            }
            let seq = s.next;
            s.next += 1;
            seq
        };
        let tmp = self.dir.join(format!(".tmp-{seq}"));
        let done = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(body)?;
            f.sync_data()?;
            fs::rename(&tmp, self.dir.join(file_name(seq)))
        })();
        if let Err(e) = done {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.state
            .lock()
            .expect("queue poisoned")
            .seqs
            .push_back(seq);
        self.ready.notify_one();
        Ok(true)
    }

    /// The oldest envelope's number and file.
    pub fn front(&self) -> Option<(u64, PathBuf)> {
        let s = self.state.lock().expect("queue poisoned");
        s.seqs
            .front()
            .map(|&seq| (seq, self.dir.join(file_name(seq))))
    }

    /// Removes the oldest envelope, `seq`, once delivered.
    pub fn pop(&self, seq: u64) -> io::Result<()> {
        match fs::remove_file(self.dir.join(file_name(seq))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut s = self.state.lock().expect("queue poisoned");
        if s.seqs.front() == Some(&seq) {
            s.seqs.pop_front();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_bound_and_contents_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path(), 3).unwrap();
        for i in 0..3 {
            assert!(q.push(format!("e{i}").as_bytes()).unwrap());
        }
        assert!(!q.push(b"e3").unwrap(), "a full queue refuses");
        let (seq, path) = q.front().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"e0");
        q.pop(seq).unwrap();
        fs::write(dir.path().join(".tmp-99"), b"half").unwrap();
        drop(q);
        let q = Queue::open(dir.path(), 3).unwrap();
        assert_eq!(q.len(), 2);
        assert!(!dir.path().join(".tmp-99").exists());
        assert!(q.push(b"e4").unwrap());
        let mut seen = Vec::new();
        while let Some((seq, path)) = q.front() {
            seen.push(fs::read_to_string(&path).unwrap());
            q.pop(seq).unwrap();
        }
        assert_eq!(seen, ["e1", "e2", "e4"]);
        assert!(q.is_empty());
    }
}
