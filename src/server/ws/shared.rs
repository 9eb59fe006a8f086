//! Shared subscriptions: identical subscriptions on one instance run once.
//!
//! A storefront's subscribers mostly ask the same thing (`stockChanged(productId: "1")` on
//! every open product page). Run per subscriber, one event would be resolved and serialized
//! once per socket — at 10,000 subscribers that is 10,000 executions of the same selection,
//! and each subscription would hold its own execution state. Instead, subscriptions with the
//! same sharing key (`Engine::sharing_key`: document, operation, variables, forwarded
//! headers, credential identity, `connection_init` payload) join one *group*: one
//! task runs the execution, serializes each result once, and hands the text to every
//! member's outbox, where only the message envelope (`id`, `type`) is per subscriber.
//!
//! A member leaves when its client completes the operation or disconnects; the last one out
//! stops the execution (and with it the upstream subscription). When the execution ends
//! (its stream is over, or it failed validation) every member gets the ending messages, as a
//! lone subscription would. A subscriber that joins a running group receives the events
//! published after it joined, exactly as a fresh subscription would.
//!
//! Sharing follows `server.sharing`; with it off every subscription runs alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::ws::Utf8Bytes;

use super::{Ops, Outbox, Protocol};

/// The groups of one server: sharing key → running group.
#[derive(Default)]
pub(crate) struct SharedSubscriptions {
    groups: Mutex<HashMap<String, Arc<Group>>>,
    next_member: AtomicU64,
}

/// One shared execution and the subscriptions that receive its results.
pub(crate) struct Group {
    key: String,
    members: Mutex<Members>,
    /// The execution task, set when the group is created (under the groups lock, so before
    /// any member can leave).
    task: OnceLock<tokio::task::AbortHandle>,
}

#[derive(Default)]
struct Members {
    list: HashMap<u64, Member>,
    /// The group ended or was abandoned: nobody may join it any more.
    closed: bool,
}

/// One subscription in a group: where its messages go and how it is registered on its
/// connection.
pub(crate) struct Member {
    pub id: Arc<str>,
    pub protocol: Protocol,
    pub outbox: Arc<Outbox>,
    pub ops: Ops,
    pub generation: u64,
}

/// A subscription's place in a group; dropping it leaves the group.
pub(crate) struct Membership {
    shared: Arc<SharedSubscriptions>,
    group: Arc<Group>,
    member: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.shared.leave(&self.group, self.member);
    }
}

/// What a group's execution needs, given by the subscriber that starts it.
pub(crate) type Start = Box<dyn FnOnce(Arc<Group>) -> tokio::task::JoinHandle<()> + Send>;

impl SharedSubscriptions {
    /// Joins the group for `key`, starting it (with `start`) when there is none. Returns the
    /// membership, which the connection keeps while the subscription runs.
    pub fn join(self: &Arc<Self>, key: String, member: Member, start: Start) -> Membership {
        let member_id = self.next_member.fetch_add(1, Ordering::Relaxed);
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(group) = groups.get(&key) {
            let mut members = group.lock();
            if !members.closed {
                members.list.insert(member_id, member);
                drop(members);
                return Membership {
                    shared: self.clone(),
                    group: group.clone(),
                    member: member_id,
                };
            }
        }
        let group = Arc::new(Group {
            key: key.clone(),
            members: Mutex::new(Members::default()),
            task: OnceLock::new(),
        });
        group.lock().list.insert(member_id, member);
        let task = start(group.clone());
        let _ = group.task.set(task.abort_handle());
        groups.insert(key, group.clone());
        Membership {
            shared: self.clone(),
            group,
            member: member_id,
        }
    }

    fn leave(&self, group: &Arc<Group>, member: u64) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let mut members = group.lock();
        members.list.remove(&member);
        if members.list.is_empty() && !members.closed {
            members.closed = true;
            if let Some(task) = group.task.get() {
                task.abort();
            }
            if groups
                .get(&group.key)
                .is_some_and(|g| Arc::ptr_eq(g, group))
            {
                groups.remove(&group.key);
            }
        }
    }

    /// Ends a group whose execution is over: nobody can join it any more; returns its
    /// members, who are still registered on their connections.
    pub fn end(&self, group: &Arc<Group>) -> Vec<Member> {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        if groups
            .get(&group.key)
            .is_some_and(|g| Arc::ptr_eq(g, group))
        {
            groups.remove(&group.key);
        }
        let mut members = group.lock();
        members.closed = true;
        members.list.drain().map(|(_, m)| m).collect()
    }

    /// Running groups (for tests and metrics).
    pub fn groups(&self) -> usize {
        self.groups.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Group {
    fn lock(&self) -> std::sync::MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands one serialized result (the `payload` JSON) to every member. The message is
    /// built once per protocol and operation id (clients that number their operations send
    /// the same ids) and shared, reference-counted, by every outbox it goes to.
    pub fn deliver(&self, payload: &str) {
        let members = self.lock();
        let mut built: HashMap<(Protocol, &str), Utf8Bytes> = HashMap::new();
        for m in members.list.values() {
            let text = built
                .entry((m.protocol, &*m.id))
                .or_insert_with(|| m.protocol.result(&m.id, payload).into())
                .clone();
            m.outbox.push_result(&m.id, text);
        }
    }
}
