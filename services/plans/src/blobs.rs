//! Evidence file content, addressed by SHA-256: a local directory now, behind [`BlobStore`] so
//! an S3-compatible store can follow.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// Where file content is kept. `put` must have made the content durable when it returns: the
/// report naming it is committed only afterwards, so nothing a caller is told was saved is lost.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores content and returns its hex SHA-256; storing the same content twice is a no-op.
    async fn put(&self, content: &[u8]) -> std::io::Result<String>;
    /// The content stored under a hex SHA-256, if any.
    async fn get(&self, sha256: &str) -> std::io::Result<Option<Vec<u8>>>;
}

/// The hex SHA-256 of content.
pub fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// Whether text is a hex SHA-256.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Files under `root/ab/abcdef…`, written to a temporary file, synced, then renamed into place.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where a digest's file is; callers check that it is one, so no name escapes the root.
    fn path(&self, sha256: &str) -> PathBuf {
        self.root.join(&sha256[..2]).join(sha256)
    }
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, content: &[u8]) -> std::io::Result<String> {
        let sha256 = sha256_hex(content);
        let path = self.path(&sha256);
        if tokio::fs::try_exists(&path).await? {
            return Ok(sha256);
        }
        let directory = self.root.join(&sha256[..2]);
        tokio::fs::create_dir_all(&directory).await?;
        let temporary = directory.join(format!(".{}.tmp", uuid::Uuid::now_v7().simple()));
        let mut file = tokio::fs::File::create(&temporary).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, content).await?;
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(&temporary, &path).await?;
        // The rename is durable only once the directory is.
        tokio::fs::File::open(&directory).await?.sync_all().await?;
        Ok(sha256)
    }

    async fn get(&self, sha256: &str) -> std::io::Result<Option<Vec<u8>>> {
        if !is_sha256_hex(sha256) {
            return Ok(None);
        }
        match tokio::fs::read(self.path(sha256)).await {
            Ok(content) => Ok(Some(content)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn content_is_stored_once_by_its_digest() {
        let directory = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::new(directory.path());
        let first = store.put(b"%PDF-1.4 evidence").await.unwrap();
        let second = store.put(b"%PDF-1.4 evidence").await.unwrap();
        assert_eq!(first, second);
        assert_eq!(first, sha256_hex(b"%PDF-1.4 evidence"));
        assert_eq!(
            store.get(&first).await.unwrap().unwrap(),
            b"%PDF-1.4 evidence"
        );
        assert_eq!(store.get(&"0".repeat(64)).await.unwrap(), None);
        // Not a digest: never a path outside the store.
        assert_eq!(store.get("../../etc/passwd").await.unwrap(), None);
        let files = std::fs::read_dir(directory.path().join(&first[..2]))
            .unwrap()
            .count();
        assert_eq!(files, 1, "no temporary file left behind");
    }
}
