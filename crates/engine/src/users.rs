//! The registered users: who may sign in, and which email addresses are
//! taken.
//!
//! Read on every authenticated request, so the map is sharded: readers on
//! different threads rarely touch the same lock, and hold it only to clone
//! an `Arc`. Sign-ups are rare next to bookings; one lock serializes them,
//! which is what keeps an email address to one account.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard, RwLock};

use crate::events::User;
use crate::ids::UserId;

const SHARDS: usize = 16;

pub(crate) struct Users {
    shards: Vec<RwLock<HashMap<UserId, Arc<User>>>>,
    sign_up: Mutex<SignUp>,
}

/// What a sign-up must check and change, under one lock.
pub(crate) struct SignUp {
    /// Addresses in lower case: an address registers once, whatever its case.
    emails: HashMap<String, UserId>,
    next_id: u32,
}

impl SignUp {
    pub(crate) fn is_taken(&self, email: &str) -> bool {
        self.emails.contains_key(&email.to_lowercase())
    }

    pub(crate) fn next_id(&self) -> UserId {
        UserId(self.next_id)
    }
}

impl Users {
    pub(crate) fn new(known: Vec<User>) -> Users {
        let shards = (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect();
        let sign_up = Mutex::new(SignUp { emails: HashMap::new(), next_id: 1 });
        let users = Users { shards, sign_up };
        {
            let mut sign_up = users.sign_up.lock();
            for user in known {
                users.insert(&mut sign_up, user);
            }
        }
        users
    }

    pub(crate) fn lock_sign_up(&self) -> MutexGuard<'_, SignUp> {
        self.sign_up.lock()
    }

    fn shard(&self, id: UserId) -> &RwLock<HashMap<UserId, Arc<User>>> {
        &self.shards[id.0 as usize % SHARDS]
    }

    pub(crate) fn get(&self, id: UserId) -> Option<Arc<User>> {
        self.shard(id).read().get(&id).cloned()
    }

    pub(crate) fn insert(&self, sign_up: &mut SignUp, user: User) {
        sign_up.emails.insert(user.email.to_lowercase(), user.id);
        sign_up.next_id = sign_up.next_id.max(user.id.0 + 1);
        self.shard(user.id).write().insert(user.id, Arc::new(user));
    }

    /// Every user, by id, for a checkpoint.
    pub(crate) fn all(&self) -> Vec<Arc<User>> {
        let mut users: Vec<Arc<User>> = Vec::new();
        for shard in &self.shards {
            users.extend(shard.read().values().cloned());
        }
        users.sort_unstable_by_key(|user| user.id);
        users
    }
}
