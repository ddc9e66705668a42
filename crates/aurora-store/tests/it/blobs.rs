//! The blob store on local disk and, when `AURORA_TEST_S3_ENDPOINT` and `AURORA_TEST_S3_BUCKET`
//! point at an S3-compatible server (CI runs SeaweedFS), on S3.

use aurora_core::knowledge::{BlobError, BlobStore};
use aurora_store::{BlobsBackend, BlobsConfig, ObjectBlobStore};

async fn round_trip(store: &dyn BlobStore) {
    let key = format!("documents/{}/abc", uuid::Uuid::new_v4());
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    store.put(&key, body.clone()).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), body);
    // Overwriting with the same content (a re-upload) is fine.
    store.put(&key, body.clone()).await.unwrap();
    store.delete(&key).await.unwrap();
    assert!(matches!(store.get(&key).await, Err(BlobError::NotFound(_))));
    // Deleting what is gone succeeds.
    store.delete(&key).await.unwrap();
}

#[tokio::test]
async fn local_blobs_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectBlobStore::open(&BlobsConfig::default(), dir.path()).unwrap();
    assert_eq!(store.backend(), "local");
    round_trip(&store).await;
}

#[tokio::test]
async fn s3_blobs_round_trip() {
    let (Ok(endpoint), Ok(bucket)) = (
        std::env::var("AURORA_TEST_S3_ENDPOINT"),
        std::env::var("AURORA_TEST_S3_BUCKET"),
    ) else {
        eprintln!("AURORA_TEST_S3_ENDPOINT / AURORA_TEST_S3_BUCKET not set: S3 blob test skipped");
        return;
    };
    let config = BlobsConfig {
        backend: BlobsBackend::S3,
        bucket: Some(bucket),
        endpoint: Some(endpoint),
        access_key_id: Some("aurora".into()),
        secret_access_key: Some("aurora-secret".to_owned().into()),
        ..BlobsConfig::default()
    };
    let store = ObjectBlobStore::open(&config, std::path::Path::new("/nonexistent")).unwrap();
    assert_eq!(store.backend(), "s3");
    round_trip(&store).await;
}

#[test]
fn s3_without_a_bucket_is_a_configuration_error() {
    let config = BlobsConfig {
        backend: BlobsBackend::S3,
        ..BlobsConfig::default()
    };
    let err = ObjectBlobStore::open(&config, std::path::Path::new("/tmp")).unwrap_err();
    assert!(err.to_string().contains("bucket"), "{err}");
}
