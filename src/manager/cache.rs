//! `message_cache`: reassembly of calls to the manager larger than a client's chunk size
//! (256 KiB by default), uploaded as numbered chunks and then processed as one frame.
//!
//! Every limit here exists because the uploader is a peer: the number of open uploads and the
//! bytes held per client are capped, and abandoned uploads are dropped after a while.

use crate::hashing::HashMap;
use std::time::Duration;

use super::ManagerError;
use crate::registry::ClientAddr;
use crate::time::Timestamp;

/// Open uploads one client may have at once.
pub(crate) const MAX_UPLOADS_PER_CLIENT: usize = 16;
/// Bytes one client may hold in unfinished uploads.
pub(crate) const MAX_BYTES_PER_CLIENT: usize = 64 * 1024 * 1024;
/// Chunks one upload may have.
const MAX_CHUNKS: u64 = 4096;
/// An upload not processed within this time is dropped.
pub(crate) const UPLOAD_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
struct Upload {
    /// Chunk `i` at slot `i`; `None` for chunks not uploaded (yet). At most [`MAX_CHUNKS`]
    /// slots, so a plain vector does (a map type would cost kilobytes of wasm for nothing).
    chunks: Vec<Option<Vec<u8>>>,
    next_append: u64,
    bytes: usize,
    created: Timestamp,
}

/// Unfinished uploads, per client and key.
#[derive(Debug)]
pub(crate) struct MessageCaches {
    uploads: HashMap<ClientAddr, HashMap<String, Upload>>,
    /// Bytes held by every upload together, and the most they may hold.
    total: usize,
    max_total: usize,
}

impl Default for MessageCaches {
    fn default() -> Self {
        Self::new(crate::config::Limits::default().uploads_total_bytes)
    }
}

fn missing(key: &str) -> ManagerError {
    ManagerError::NotFound(format!("message with key {key} does not exist"))
}

impl MessageCaches {
    /// No uploads; all of them together may hold `max_total` bytes.
    pub(crate) fn new(max_total: usize) -> Self {
        Self {
            uploads: HashMap::default(),
            total: 0,
            max_total,
        }
    }

    /// Bytes held by every upload together.
    #[cfg(test)]
    pub(crate) fn total_bytes(&self) -> usize {
        self.total
    }

    /// Start an upload (replacing one with the same key).
    pub(crate) fn create(
        &mut self,
        owner: &ClientAddr,
        key: &str,
        now: Timestamp,
    ) -> Result<(), ManagerError> {
        let uploads = self.uploads.entry(owner.clone()).or_default();
        if !uploads.contains_key(key) && uploads.len() >= MAX_UPLOADS_PER_CLIENT {
            return Err(ManagerError::InvalidArgument(format!(
                "too many open message uploads (limit {MAX_UPLOADS_PER_CLIENT})"
            )));
        }
        let replaced = uploads.insert(
            key.to_owned(),
            Upload {
                created: now,
                ..Upload::default()
            },
        );
        self.total -= replaced.map_or(0, |u| u.bytes);
        Ok(())
    }

    /// Store chunk `index` (or the next one, for `append`).
    pub(crate) fn set(
        &mut self,
        owner: &ClientAddr,
        key: &str,
        index: Option<u64>,
        data: Vec<u8>,
    ) -> Result<(), ManagerError> {
        let held: usize = self.bytes_held(owner);
        let (total, max_total) = (self.total, self.max_total);
        let upload = self
            .uploads
            .get_mut(owner)
            .and_then(|u| u.get_mut(key))
            .ok_or_else(|| missing(key))?;
        let index = index.unwrap_or(upload.next_append);
        if index >= MAX_CHUNKS {
            return Err(ManagerError::InvalidArgument(format!(
                "chunk index {index} too large (limit {MAX_CHUNKS})"
            )));
        }
        // In range: index < MAX_CHUNKS.
        let slot = index as usize;
        let replaced = upload
            .chunks
            .get(slot)
            .and_then(Option::as_ref)
            .map_or(0, Vec::len);
        if held - replaced + data.len() > MAX_BYTES_PER_CLIENT {
            return Err(ManagerError::InvalidArgument(format!(
                "message uploads exceed {MAX_BYTES_PER_CLIENT} bytes"
            )));
        }
        // Per client is not enough: any number of clients may upload at once.
        if total - replaced + data.len() > max_total {
            return Err(ManagerError::InvalidArgument(format!(
                "the server holds {max_total} bytes of unfinished message uploads, its limit: \
                 try again later"
            )));
        }
        upload.bytes = upload.bytes - replaced + data.len();
        upload.next_append = upload.next_append.max(index + 1);
        if upload.chunks.len() <= slot {
            upload.chunks.resize_with(slot + 1, || None);
        }
        let len = data.len();
        upload.chunks[slot] = Some(data);
        self.total = total - replaced + len;
        Ok(())
    }

    /// Finish an upload: the chunks concatenated in index order; they must be contiguous from 0.
    pub(crate) fn take(&mut self, owner: &ClientAddr, key: &str) -> Result<Vec<u8>, ManagerError> {
        let upload = self
            .uploads
            .get_mut(owner)
            .and_then(|u| u.remove(key))
            .ok_or_else(|| missing(key))?;
        self.total -= upload.bytes;
        if upload.chunks.iter().any(Option::is_none) {
            return Err(ManagerError::InvalidArgument(format!(
                "message {key} has missing chunks"
            )));
        }
        let mut out = Vec::with_capacity(upload.bytes);
        for chunk in upload.chunks.into_iter().flatten() {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Drop an upload.
    pub(crate) fn remove(&mut self, owner: &ClientAddr, key: &str) -> Result<(), ManagerError> {
        let upload = self
            .uploads
            .get_mut(owner)
            .and_then(|u| u.remove(key))
            .ok_or_else(|| missing(key))?;
        self.total -= upload.bytes;
        Ok(())
    }

    /// True when no upload is open.
    pub(crate) fn is_empty(&self) -> bool {
        self.uploads.values().all(HashMap::is_empty)
    }

    /// Drop everything a departed client left.
    pub(crate) fn forget(&mut self, owner: &ClientAddr) {
        if let Some(uploads) = self.uploads.remove(owner) {
            self.total -= uploads.values().map(|u| u.bytes).sum::<usize>();
        }
    }

    /// Drop uploads older than [`UPLOAD_TTL`]; true if any upload remains.
    pub(crate) fn expire(&mut self, now: Timestamp) -> bool {
        let mut dropped = 0;
        for uploads in self.uploads.values_mut() {
            uploads.retain(|_, u| {
                let keep = u.created + UPLOAD_TTL > now;
                if !keep {
                    dropped += u.bytes;
                }
                keep
            });
        }
        self.total -= dropped;
        self.uploads.retain(|_, u| !u.is_empty());
        !self.uploads.is_empty()
    }

    fn bytes_held(&self, owner: &ClientAddr) -> usize {
        self.uploads
            .get(owner)
            .map_or(0, |u| u.values().map(|x| x.bytes).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_uploads_together_stay_within_the_server_budget() {
        let mut caches = MessageCaches::new(1000);
        let (a, b) = (ClientAddr::new("ws", "a"), ClientAddr::new("ws", "b"));
        caches.create(&a, "k", Timestamp(0)).unwrap();
        caches.create(&b, "k", Timestamp(0)).unwrap();
        caches.set(&a, "k", Some(0), vec![0; 600]).unwrap();
        let refused = caches.set(&b, "k", Some(0), vec![0; 600]).unwrap_err();
        assert!(refused.to_string().contains("try again later"), "{refused}");
        // What a departed client held is free again; so is what expires.
        caches.forget(&a);
        assert_eq!(caches.total_bytes(), 0);
        caches.set(&b, "k", Some(0), vec![0; 600]).unwrap();
        assert!(!caches.expire(Timestamp(0) + UPLOAD_TTL));
        assert_eq!(caches.total_bytes(), 0);
    }

    #[test]
    fn chunks_reassemble_in_index_order() {
        let mut caches = MessageCaches::default();
        let me = ClientAddr::new("ws", "c");
        caches.create(&me, "k", Timestamp(0)).unwrap();
        caches.set(&me, "k", Some(1), b"world".to_vec()).unwrap();
        caches.set(&me, "k", Some(0), b"hello ".to_vec()).unwrap();
        assert_eq!(caches.take(&me, "k").unwrap(), b"hello world");
        assert!(caches.take(&me, "k").is_err());
    }

    #[test]
    fn a_chunk_set_twice_is_replaced_and_append_follows_the_highest() {
        let mut caches = MessageCaches::default();
        let me = ClientAddr::new("ws", "c");
        caches.create(&me, "k", Timestamp(0)).unwrap();
        caches.set(&me, "k", Some(1), b"xx".to_vec()).unwrap();
        caches.set(&me, "k", Some(0), b"a".to_vec()).unwrap();
        caches.set(&me, "k", Some(1), b"b".to_vec()).unwrap();
        caches.set(&me, "k", None, b"c".to_vec()).unwrap();
        assert_eq!(caches.bytes_held(&me), 3);
        assert_eq!(caches.take(&me, "k").unwrap(), b"abc");
        caches.create(&me, "empty", Timestamp(0)).unwrap();
        assert_eq!(caches.take(&me, "empty").unwrap(), b"");
    }

    #[test]
    fn gaps_and_foreign_keys_are_refused() {
        let mut caches = MessageCaches::default();
        let me = ClientAddr::new("ws", "c");
        let other = ClientAddr::new("ws", "d");
        caches.create(&me, "k", Timestamp(0)).unwrap();
        assert!(caches.set(&other, "k", Some(0), vec![1]).is_err());
        caches.set(&me, "k", Some(2), vec![1]).unwrap();
        assert!(caches.take(&me, "k").is_err());
    }

    #[test]
    fn byte_and_upload_limits_hold() {
        let mut caches = MessageCaches::default();
        let me = ClientAddr::new("ws", "c");
        for i in 0..MAX_UPLOADS_PER_CLIENT {
            caches.create(&me, &i.to_string(), Timestamp(0)).unwrap();
        }
        assert!(caches.create(&me, "one-more", Timestamp(0)).is_err());
        let big = vec![0u8; MAX_BYTES_PER_CLIENT / 2 + 1];
        caches.set(&me, "0", None, big.clone()).unwrap();
        assert!(caches.set(&me, "1", None, big).is_err());
        assert!(caches.expire(Timestamp(0)));
        assert!(!caches.expire(Timestamp(0) + UPLOAD_TTL));
    }
}
