//! The dispatcher's scheduling state: one FIFO of job seqs per (connector, resource), and which
//! queues may run now. Pure data, no I/O, so ordering rules are tested on their own.
//!
//! A queue is in exactly one place at a time: *idle* (empty), *ready* (its head may run now),
//! *waiting* (its head is due later), or *in flight* (its head is running). Every operation is
//! O(log n) or better, so a backlog of many jobs costs nothing per event.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use crate::store::outbox::JobKey;

/// See the module docs.
#[derive(Debug, Default)]
pub struct Queues {
    /// The highest seq loaded from the outbox.
    cursor: u64,
    /// Each key's pending jobs, oldest first: (seq, due ms).
    jobs: HashMap<JobKey, VecDeque<(u64, u64)>>,
    /// Keys whose head may run now.
    ready: VecDeque<JobKey>,
    /// Keys whose head is due later, by (due ms, seq).
    waiting: BTreeSet<(u64, u64, JobKey)>,
    /// Keys whose head is running.
    running: HashSet<JobKey>,
}

impl Queues {
    /// The highest seq loaded so far.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// How many attempts are running.
    pub fn in_flight(&self) -> usize {
        self.running.len()
    }

    /// Adds a job loaded from the outbox (in seq order).
    pub fn add(&mut self, key: JobKey, seq: u64, due: u64, now: u64) {
        self.cursor = self.cursor.max(seq);
        let queue = self.jobs.entry(key.clone()).or_default();
        queue.push_back((seq, due));
        if queue.len() == 1 && !self.running.contains(&key) {
            self.schedule(key, seq, due, now);
        }
    }

    fn schedule(&mut self, key: JobKey, seq: u64, due: u64, now: u64) {
        if due <= now {
            self.ready.push_back(key);
        } else {
            self.waiting.insert((due, seq, key));
        }
    }

    /// Moves the keys whose head has become due to the ready list.
    pub fn promote_due(&mut self, now: u64) {
        while let Some(first) = self.waiting.first() {
            if first.0 > now {
                break;
            }
            if let Some((_, _, key)) = self.waiting.pop_first() {
                self.ready.push_back(key);
            }
        }
    }

    /// When the earliest waiting head is due.
    pub fn next_due(&self) -> Option<u64> {
        self.waiting.first().map(|(due, _, _)| *due)
    }

    /// Takes a ready key and marks it running; answers the seq of its head job.
    pub fn next_ready(&mut self) -> Option<(JobKey, u64)> {
        while let Some(key) = self.ready.pop_front() {
            if let Some(&(seq, _)) = self.jobs.get(&key).and_then(VecDeque::front) {
                self.running.insert(key.clone());
                return Some((key, seq));
            }
        }
        None
    }

    /// Takes `key`, just handed out by [`next_ready`](Self::next_ready), off the schedule
    /// without an attempt: its jobs stay, and [`unpark`](Self::unpark) puts it back.
    pub fn park(&mut self, key: &JobKey) {
        self.running.remove(key);
    }

    /// Puts a parked key back on the ready list.
    pub fn unpark(&mut self, key: JobKey) {
        if self.jobs.contains_key(&key) && !self.running.contains(&key) {
            self.ready.push_back(key);
        }
    }

    /// The seqs queued behind the running head of `key`, at most `max`, oldest first (what an
    /// attempt may coalesce with the head).
    pub fn followers(&self, key: &JobKey, max: usize) -> Vec<u64> {
        self.jobs
            .get(key)
            .map(|q| q.iter().skip(1).take(max).map(|&(seq, _)| seq).collect())
            .unwrap_or_default()
    }

    /// Records that the running head of `key` finished: it stays, due at `retry_at`, or it is
    /// done and the next job of the key is scheduled.
    pub fn finish(&mut self, key: &JobKey, retry_at: Option<u64>, now: u64) {
        self.finish_with(key, retry_at, 0, now);
    }

    /// As [`finish`](Self::finish), where `also` jobs behind the head were delivered with it
    /// (coalesced) when it is done.
    pub fn finish_with(&mut self, key: &JobKey, retry_at: Option<u64>, also: usize, now: u64) {
        self.running.remove(key);
        let Some(queue) = self.jobs.get_mut(key) else {
            return;
        };
        match retry_at {
            Some(due) => {
                if let Some(head) = queue.front_mut() {
                    head.1 = due;
                }
            }
            None => {
                for _ in 0..=also {
                    queue.pop_front();
                }
            }
        }
        match queue.front().copied() {
            Some((seq, due)) => self.schedule(key.clone(), seq, due, now),
            None => {
                self.jobs.remove(key);
            }
        }
    }

    /// How many jobs are queued (running ones included).
    pub fn len(&self) -> usize {
        self.jobs.values().map(VecDeque::len).sum()
    }

    /// Whether no job is queued.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> JobKey {
        JobKey {
            connector: "c".into(),
            resource_type: "User".into(),
            resource_id: id.into(),
        }
    }

    #[test]
    fn one_job_per_key_runs_at_a_time_in_seq_order() {
        let mut q = Queues::default();
        q.add(key("a"), 1, 0, 10);
        q.add(key("a"), 2, 0, 10);
        q.add(key("b"), 3, 0, 10);
        assert_eq!(q.next_ready(), Some((key("a"), 1)));
        assert_eq!(q.next_ready(), Some((key("b"), 3)));
        assert_eq!(q.next_ready(), None, "a's second job waits for its first");
        q.finish(&key("a"), None, 10);
        assert_eq!(q.next_ready(), Some((key("a"), 2)));
        assert_eq!(q.cursor(), 3);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn a_retry_keeps_the_head_and_waits_until_due() {
        let mut q = Queues::default();
        q.add(key("a"), 1, 0, 10);
        q.add(key("a"), 2, 0, 10);
        assert_eq!(q.next_ready(), Some((key("a"), 1)));
        q.finish(&key("a"), Some(50), 10);
        assert_eq!(q.next_ready(), None);
        assert_eq!(q.next_due(), Some(50));
        q.promote_due(49);
        assert_eq!(q.next_ready(), None);
        q.promote_due(50);
        assert_eq!(
            q.next_ready(),
            Some((key("a"), 1)),
            "the same job again, before seq 2"
        );
        q.finish(&key("a"), None, 60);
        assert_eq!(
            q.next_ready(),
            Some((key("a"), 2)),
            "the delivered head leaves; seq 2 runs next"
        );
        q.finish(&key("a"), None, 60);
        assert_eq!(q.next_ready(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn a_job_loaded_while_its_key_runs_waits_for_it() {
        let mut q = Queues::default();
        q.add(key("a"), 1, 0, 10);
        assert_eq!(q.next_ready(), Some((key("a"), 1)));
        q.add(key("a"), 2, 0, 10);
        assert_eq!(q.next_ready(), None);
        q.finish(&key("a"), None, 10);
        assert_eq!(q.next_ready(), Some((key("a"), 2)));
    }
}
