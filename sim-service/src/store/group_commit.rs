//! Group commit: the history rows of concurrent confirmations written in one
//! transaction, each caller answered only once its row is committed.
//!
//! A SQLite commit costs the same for one row as for fifty (the WAL frame
//! write and the lock traffic dominate), and the store has one connection, so
//! one transaction per confirmation made the connection's lock the queue that
//! every request waited in. Here the first caller to find no commit in
//! progress becomes the leader: it takes every row waiting, commits them
//! together and hands each caller its own result; callers that arrived during
//! the commit wait for the next leader among them. No thread of its own, no
//! timer: a lone request commits at once, a crowd shares commits.
//!
//! Durability is the store's (WAL, `synchronous = NORMAL`): once a caller has
//! its id, the row is in the write-ahead log and survives a crash of the
//! process, SIGKILL included.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::StoreResult;

/// Rows waiting for a commit, and the results of the last commits.
struct Queue<T, R> {
    next_ticket: u64,
    waiting: Vec<(u64, T)>,
    done: HashMap<u64, StoreResult<R>>,
    committing: bool,
}

pub(super) struct GroupCommit<T, R> {
    queue: Mutex<Queue<T, R>>,
    committed: Condvar,
}

impl<T, R> Default for GroupCommit<T, R> {
    fn default() -> Self {
        GroupCommit {
            queue: Mutex::new(Queue {
                next_ticket: 0,
                waiting: Vec::new(),
                done: HashMap::new(),
                committing: false,
            }),
            committed: Condvar::new(),
        }
    }
}

impl<T, R> GroupCommit<T, R> {
    fn lock(&self) -> MutexGuard<'_, Queue<T, R>> {
        // The queue is only changed whole under the lock, so a panicking
        // holder leaves it consistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits `row` with whatever else is waiting; `commit` writes a batch
    /// and gives one result per row, in order. Returns once `row`'s
    /// transaction has committed (or failed).
    pub(super) fn submit(
        &self,
        row: T,
        commit: impl Fn(Vec<T>) -> Vec<StoreResult<R>>,
    ) -> StoreResult<R> {
        let mut queue = self.lock();
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.waiting.push((ticket, row));
        loop {
            if let Some(result) = queue.done.remove(&ticket) {
                return result;
            }
            if queue.committing {
                queue = self
                    .committed
                    .wait(queue)
                    .unwrap_or_else(|e| e.into_inner());
                continue;
            }
            queue.committing = true;
            let (tickets, rows): (Vec<u64>, Vec<T>) =
                std::mem::take(&mut queue.waiting).into_iter().unzip();
            drop(queue);
            let results = commit(rows);
            queue = self.lock();
            queue.committing = false;
            queue.done.extend(tickets.into_iter().zip(results));
            self.committed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_caller_gets_its_own_result_and_callers_that_wait_share_a_commit() {
        const CALLERS: usize = 32;
        let group = Arc::new(GroupCommit::<usize, usize>::default());
        let commits = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..CALLERS)
            .map(|n| {
                let (group, commits) = (group.clone(), commits.clone());
                std::thread::spawn(move || {
                    group.submit(n, |rows| {
                        // The first commit holds on until every other caller
                        // is waiting: they must all go in the second.
                        if commits.fetch_add(1, Ordering::SeqCst) == 0 {
                            while group.lock().waiting.len() < CALLERS - rows.len() {
                                std::thread::yield_now();
                            }
                        }
                        rows.into_iter().map(|r| Ok(r * 10)).collect()
                    })
                })
            })
            .collect();
        for (n, t) in threads.into_iter().enumerate() {
            assert_eq!(t.join().unwrap().unwrap(), n * 10);
        }
        assert_eq!(commits.load(Ordering::SeqCst), 2);
        let queue = group.lock();
        assert!(queue.done.is_empty() && queue.waiting.is_empty());
    }
}
