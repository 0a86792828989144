//! tower-sessions' store over the embedded store's session records.
//!
//! A signed-in session whose user was removed by another process (`trolley user
//! remove`, which only rewrites the users file) is ended when it is next loaded.

use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store,
};

use super::fields::record_user;
use crate::store::memory::{MemoryStore, SessionRecord};

#[derive(Debug, Clone)]
pub(super) struct MemorySessions {
    store: Arc<MemoryStore>,
}

impl MemorySessions {
    pub(super) fn new(store: Arc<MemoryStore>) -> Self {
        MemorySessions { store }
    }
}

fn stored(record: &Record) -> session_store::Result<SessionRecord> {
    Ok(SessionRecord {
        data: serde_json::to_string(record)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?,
        expires: record.expiry_date,
    })
}

fn backend_error(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        while !self
            .store
            .create_session_record(&record.id.to_string(), stored(record)?)
        {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.store
            .update_session_record(&record.id.to_string(), stored(record)?);
        Ok(())
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let id = session_id.to_string();
        let Some(stored) = self.store.session_record(&id) else {
            return Ok(None);
        };
        let record: Record = serde_json::from_str(&stored.data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        // Notices removals made by another process; they end the user's sessions.
        if let Some(user) = record_user(&record)
            && !self.store.user_exists(user).map_err(backend_error)?
        {
            self.store.delete_session_record(&id);
            return Ok(None);
        }
        Ok(Some(record))
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        self.store.delete_session_record(&session_id.to_string());
        Ok(())
    }
}
