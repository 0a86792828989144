//! Session records in memory, as opaque text with an expiry, with the Redis
//! store's semantics: a write only updates a live record (like `SET XX`), so a
//! request still in flight when its session is deleted (logout, login rotation)
//! cannot bring it back. The session layer's adapter is `sessions::memory`.

use time::OffsetDateTime;

use super::{MemoryStore, SessionRecord};

impl SessionRecord {
    fn is_live(&self) -> bool {
        self.expires > OffsetDateTime::now_utc()
    }
}

impl MemoryStore {
    /// Stores a new record; false when the id is taken (the caller picks another).
    pub(crate) fn create_session_record(&self, id: &str, record: SessionRecord) -> bool {
        let mut records = self.memory.sessions();
        records.retain(|_, r| r.is_live());
        if records.contains_key(id) {
            return false;
        }
        records.insert(id.to_string(), record);
        true
    }

    /// Replaces a live record; a deleted or expired one stays gone.
    pub(crate) fn update_session_record(&self, id: &str, record: SessionRecord) {
        if let Some(existing) = self.memory.sessions().get_mut(id)
            && existing.is_live()
        {
            *existing = record;
        }
    }

    /// A live record.
    pub(crate) fn session_record(&self, id: &str) -> Option<SessionRecord> {
        self.memory
            .sessions()
            .get(id)
            .filter(|r| r.is_live())
            .cloned()
    }

    pub(crate) fn delete_session_record(&self, id: &str) {
        self.memory.sessions().remove(id);
    }
}
